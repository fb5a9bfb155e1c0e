/**
 * Each service's running tasks are bounded by its concurrency here, not by unacknowledged
 * deliveries (a task is acknowledged when it starts). A delivery that finds every slot taken waits
 * a bounded time for one, then is handed back to the queue.
 */
export interface Slots {
  /** True once a slot is held; false after `waitMs` without one, or when closing. */
  acquire(service: string): Promise<boolean>;
  release(service: string): void;
  /** Refuses every waiting and later acquire. */
  close(): void;
}

export function createSlots(capacity: Map<string, number>, waitMs: number): Slots {
  const free = new Map(capacity);
  const waiting = new Map<string, Array<(granted: boolean) => void>>();
  let closed = false;

  return {
    acquire(service) {
      if (closed) return Promise.resolve(false);
      const available = free.get(service) ?? 0;
      if (available > 0) {
        free.set(service, available - 1);
        return Promise.resolve(true);
      }
      return new Promise<boolean>((resolve) => {
        const queue = waiting.get(service) ?? [];
        waiting.set(service, queue);
        const grant = (granted: boolean): void => {
          clearTimeout(timer);
          resolve(granted);
        };
        const timer = setTimeout(() => {
          queue.splice(queue.indexOf(grant), 1);
          resolve(false);
        }, waitMs);
        queue.push(grant);
      });
    },
    release(service) {
      const next = waiting.get(service)?.shift();
      // The slot passes straight to a waiting delivery, if any.
      if (next && !closed) next(true);
      else free.set(service, (free.get(service) ?? 0) + 1);
    },
    close() {
      closed = true;
      for (const queue of waiting.values()) for (const grant of queue.splice(0)) grant(false);
    },
  };
}
