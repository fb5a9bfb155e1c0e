/**
 * Replies handed back to the queue because the database was away, by task. Until a task's
 * handed-back reply has been applied (or set aside), any other reply of that task goes back too,
 * however late it arrives: a result must never overtake its script or its start. Replies that
 * arrive while the handed-back one is still being tried already wait behind it (`inOrder` in
 * recorder.ts); this covers those that arrive after it has gone back to the queue.
 *
 * Per process: with several recorders the handed-back reply may come back to another one, so an
 * entry is forgotten once its reply has not been handed back again for `forgetAfterMs`.
 */
export interface HeldBack {
  /** True when a reply of the task other than the handed-back one must go back to the queue. */
  blocks(taskId: string, key: () => string): boolean;
  /** The reply with this key went back to the queue: the task's other replies wait for it. */
  handedBack(taskId: string, key: string): void;
  /** A reply of the task was applied or set aside; when it is the handed-back one, the task is free. */
  settled(taskId: string, key: () => string): void;
}

const MAX_ENTRIES = 10_000;

export function createHeldBack(options: { forgetAfterMs: number; now?: () => number }): HeldBack {
  const now = options.now ?? Date.now;
  const entries = new Map<string, { key: string; at: number }>();

  function current(taskId: string): { key: string; at: number } | undefined {
    const entry = entries.get(taskId);
    if (entry && now() - entry.at > options.forgetAfterMs) {
      entries.delete(taskId);
      return undefined;
    }
    return entry;
  }

  return {
    blocks(taskId, key) {
      const entry = current(taskId);
      return entry !== undefined && entry.key !== key();
    },
    handedBack(taskId, key) {
      entries.delete(taskId);
      // Bounded: the oldest entries go first (a Map keeps insertion order).
      if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
      entries.set(taskId, { key, at: now() });
    },
    settled(taskId, key) {
      const entry = entries.get(taskId);
      if (entry && entry.key === key()) entries.delete(taskId);
    },
  };
}
