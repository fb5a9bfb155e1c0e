/**
 * The janitor: ends queued tasks whose deadline has passed as `expired` (every second by
 * default, so watchers hear it promptly), removes tasks (and, by cascade, their files) once
 * completion + ttl has passed, drops result-cache entries past their lifetime (serving stops at
 * the lifetime anyway: this keeps the table small), and trims events older than the retention. It works in small
 * batches so that no statement holds locks for long; one janitor removes tasks at a time across
 * all recorders (an advisory lock, taken in the store).
 */
import type { Logger } from 'pino';
import { createEventPublisher } from '../broker/index.ts';
import type { Broker } from '../broker/index.ts';
import { encodeControl } from '../core/index.ts';
import type { Store } from '../store/index.ts';

export interface JanitorOptions {
  store: Store;
  broker: Broker;
  logger: Logger;
  /** Base for the results href of Patavi's `<id>.end` messages. */
  publicUrl?: string;
  /** How often expired tasks and old events are removed (default 60 s). */
  intervalMs?: number;
  /** How often queue deadlines are checked (default 1 s). */
  expiryIntervalMs?: number;
  /** How long events are kept (default 7 days). */
  eventRetentionSeconds?: number;
  batchSize?: number;
}

export interface Janitor {
  /** Removes every task past its ttl, cache entry past its lifetime and event past the retention; returns the tasks removed. */
  sweep(): Promise<number>;
  /** Ends every queued task past its deadline; returns how many. */
  expire(): Promise<number>;
  stop(): Promise<void>;
}

export function startJanitor(options: JanitorOptions): Janitor {
  const { store, broker } = options;
  const log = options.logger.child({ part: 'janitor' });
  const batchSize = options.batchSize ?? 1000;
  const retention = options.eventRetentionSeconds ?? 7 * 24 * 3600;
  const publisher = createEventPublisher(store, broker, log, options.publicUrl !== undefined ? { publicUrl: options.publicUrl } : {});
  let sweeping: Promise<number> | undefined;
  let expiring: Promise<number> | undefined;

  const pause = (): Promise<void> => new Promise((resolve) => setImmediate(resolve)); // let other work in between batches

  async function untilDone(step: () => Promise<number>): Promise<number> {
    let total = 0;
    for (;;) {
      const done = await step();
      total += done;
      if (done < batchSize) return total;
      await pause();
    }
  }

  async function sweepAll(): Promise<number> {
    const removed = await untilDone(() => store.deleteExpired(batchSize));
    const uncached = await untilDone(() => store.trimCache(batchSize));
    const trimmed = await untilDone(() => store.trimEvents(retention, batchSize));
    if (removed > 0 || uncached > 0 || trimmed > 0) log.info({ removed, cacheEntries: uncached, trimmedEvents: trimmed }, 'removed expired tasks, cache entries and old events');
    return removed;
  }

  async function expireAll(): Promise<number> {
    return untilDone(async () => {
      const events = await store.expireQueued(batchSize);
      if (events.length === 0) return 0;
      publisher.written(events);
      // Workers skip these by their deadline header already; the cancel also reaches any that started one just now.
      await broker.broadcast('control', encodeControl({ type: 'cancel', taskIds: events.map((e) => e.taskId) })).catch(
        (err: Error) => log.warn({ err: err.message }, 'could not tell the workers of expired tasks'),
      );
      log.info({ expired: events.length }, 'tasks expired in the queue');
      return events.length;
    });
  }

  const sweep = (): Promise<number> => (sweeping ??= sweepAll().finally(() => { sweeping = undefined; }));
  const expire = (): Promise<number> => (expiring ??= expireAll().finally(() => { expiring = undefined; }));

  const timers = [
    setInterval(() => { sweep().catch((err: Error) => log.warn({ err: err.message }, 'janitor sweep failed; will retry')); }, options.intervalMs ?? 60_000),
    setInterval(() => { expire().catch((err: Error) => log.warn({ err: err.message }, 'expiry check failed; will retry')); }, options.expiryIntervalMs ?? 1000),
  ];
  timers.forEach((t) => t.unref());

  return {
    sweep,
    expire,
    async stop() {
      timers.forEach((t) => clearInterval(t));
      await Promise.allSettled([sweeping, expiring]);
      await publisher.close();
    },
  };
}
