/**
 * One broker feed per server process for every client watching a task: the first watcher of a
 * task binds `<id>.*`, the last one to leave unbinds it, and messages fan out in memory.
 * Binding completes before `watch` resolves, so a caller that checks the task's state afterwards
 * cannot miss an event published in between (Patavi's subscribe-then-check rule).
 */
import type { StatusFeed } from '../broker/index.ts';
import { taskBindingKey } from '../core/index.ts';

export type WatchListener = (kind: 'status' | 'end', body: Buffer) => void;

export interface TaskWatchHub {
  /** Resolves once events of the task will reach `listener`; returns the function that stops them. */
  watch(taskId: string, listener: WatchListener): Promise<() => void>;
  /** Number of tasks with at least one watcher. */
  readonly watchedTasks: number;
}

interface Watched { listeners: Set<WatchListener>; chain: Promise<void>; bound: boolean }

export function createTaskWatchHub(openFeed: (onMessage: (routingKey: string, body: Buffer) => void) => Promise<StatusFeed>): {
  hub: TaskWatchHub;
  start(): Promise<void>;
  close(): Promise<void>;
} {
  const watched = new Map<string, Watched>();
  let feed: StatusFeed | undefined;

  function onMessage(routingKey: string, body: Buffer): void {
    const dot = routingKey.indexOf('.');
    const taskId = routingKey.slice(0, dot);
    const kind = routingKey.slice(dot + 1);
    if (kind !== 'status' && kind !== 'end') return;
    const entry = watched.get(taskId);
    if (!entry) return;
    for (const listener of [...entry.listeners]) {
      try {
        listener(kind, body);
      } catch {
        // One broken listener must not keep the message from the others.
      }
    }
  }

  // Binds and unbinds of one task run in order, so a quick leave-and-return never ends unbound.
  function sync(taskId: string, entry: Watched): Promise<void> {
    entry.chain = entry.chain.then(async () => {
      const want = entry.listeners.size > 0;
      if (want === entry.bound || !feed) return;
      if (want) await feed.bind(taskBindingKey(taskId));
      else await feed.unbind(taskBindingKey(taskId));
      entry.bound = want;
      if (!want && entry.listeners.size === 0 && watched.get(taskId) === entry) watched.delete(taskId);
    });
    return entry.chain;
  }

  const hub: TaskWatchHub = {
    async watch(taskId, listener) {
      let entry = watched.get(taskId);
      if (!entry) watched.set(taskId, (entry = { listeners: new Set(), chain: Promise.resolve(), bound: false }));
      entry.listeners.add(listener);
      const current = entry;
      try {
        await sync(taskId, current);
      } catch (err) {
        current.listeners.delete(listener);
        current.chain = Promise.resolve();
        throw err;
      }
      return () => {
        if (current.listeners.delete(listener)) sync(taskId, current).catch(() => undefined);
      };
    },
    get watchedTasks() {
      return watched.size;
    },
  };

  return {
    hub,
    async start() {
      feed = await openFeed(onMessage);
    },
    async close() {
      await feed?.close();
    },
  };
}
