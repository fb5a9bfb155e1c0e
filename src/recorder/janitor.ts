/**
 * The janitor removes tasks (and, by cascade, their files) once completion + ttl has passed.
 * It deletes in small batches so that no statement holds locks for long, and one janitor sweeps
 * at a time across all recorders (an advisory lock, taken in the store).
 */
import type { Logger } from 'pino';
import type { Store } from '../store/index.ts';

export interface JanitorOptions { store: Store; logger: Logger; intervalMs?: number; batchSize?: number }

export interface Janitor {
  /** Sweeps until no expired task is left; returns how many were removed. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

export function startJanitor(options: JanitorOptions): Janitor {
  const { store } = options;
  const log = options.logger.child({ part: 'janitor' });
  const batchSize = options.batchSize ?? 1000;
  let sweeping: Promise<number> | undefined;

  async function sweepAll(): Promise<number> {
    let total = 0;
    for (;;) {
      const removed = await store.deleteExpired(batchSize);
      total += removed;
      if (removed < batchSize) break;
      await new Promise((resolve) => setImmediate(resolve)); // let other work in between batches
    }
    if (total > 0) log.info({ removed: total }, 'removed expired tasks');
    return total;
  }

  const sweep = (): Promise<number> => (sweeping ??= sweepAll().finally(() => { sweeping = undefined; }));

  const timer = setInterval(() => {
    sweep().catch((err: Error) => log.warn({ err: err.message }, 'janitor sweep failed; will retry'));
  }, options.intervalMs ?? 60_000);
  timer.unref();

  return {
    sweep,
    async stop() {
      clearInterval(timer);
      await sweeping?.catch(() => undefined);
    },
  };
}
