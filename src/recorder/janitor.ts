/**
 * The janitor:
 * - ends queued tasks whose deadline has passed as `expired` (every second by default, so
 *   watchers hear it promptly);
 * - queues again the running tasks of workers that are lost, or fails them `worker_lost` once
 *   their attempts are used up (Errand's workers acknowledge a task when it starts, so the broker
 *   cannot hand them on: docs/architecture.md, "Long tasks");
 * - removes tasks (and, by cascade, their files) once completion + ttl has passed, drops
 *   result-cache entries past their lifetime (serving stops then anyway: this keeps the table
 *   small), and trims events older than the retention.
 * - delivers completion callbacks (issue 14; callbacks.ts), when they are configured.
 * It works in small batches so that no statement holds locks for long; one janitor removes tasks
 * at a time across all recorders (an advisory lock, taken in the store).
 */
import type { Logger } from 'pino';
import { createEventPublisher, requeueTask } from '../broker/index.ts';
import type { Broker, EventPublisher } from '../broker/index.ts';
import { encodeControl } from '../core/index.ts';
import type { LivenessRules } from '../core/index.ts';
import type { Callbacks, Recovery, Retention, TaskReads } from '../store/index.ts';
import { startCallbackDelivery } from './callbacks.ts';
import type { CallbackDelivery, CallbackSettings } from './callbacks.ts';
import { startWorkerWatch } from './worker-watch.ts';
import type { WorkerWatch } from './worker-watch.ts';

export interface JanitorOptions {
  store: Retention & Recovery & Callbacks & Pick<TaskReads, 'getTask'>;
  broker: Broker;
  logger: Logger;
  /** Base for the results href of Patavi's `<id>.end` messages. */
  publicUrl?: string;
  /** The process's event pipeline, shared with the recorder and server in the same process; else the janitor's own. */
  publisher?: EventPublisher;
  /** How often expired tasks and old events are removed (default 60 s). */
  intervalMs?: number;
  /** How often queue deadlines are checked (default 1 s). */
  expiryIntervalMs?: number;
  /** How long events are kept (default 7 days). */
  eventRetentionSeconds?: number;
  batchSize?: number;
  /** Attempts a task gets before a lost worker fails it `worker_lost` (default 3). */
  maxAttempts?: number;
  /** How often running tasks are checked for lost workers (default 5 s). */
  lostCheckIntervalMs?: number;
  /** When a worker counts as lost (core/liveness.ts); defaults suit workers announcing every 5 s. */
  liveness?: Partial<LivenessRules>;
  /** Completion callbacks to deliver (issue 14); unset: none are (and servers refuse them). Needs `publicUrl`. */
  callbacks?: CallbackSettings;
  /** Told of each running task of a lost worker it queued again or failed (the lost-workers metric, issue 14). */
  observer?: JanitorObserver;
}

export interface JanitorObserver { workerLost(service: string, outcome: 'requeued' | 'failed'): void }

export interface Janitor {
  /** The callback deliverer, when callbacks are configured. */
  readonly callbacks?: CallbackDelivery;
  /** Removes every task past its ttl, cache entry past its lifetime and event past the retention; returns the tasks removed. */
  sweep(): Promise<number>;
  /** Ends every queued task past its deadline; returns how many. */
  expire(): Promise<number>;
  /** Queues again (or fails) every running task whose worker is lost; returns how many. */
  recoverLost(): Promise<number>;
  stop(): Promise<void>;
}

export function startJanitor(options: JanitorOptions): Janitor {
  const { store, broker } = options;
  const log = options.logger.child({ part: 'janitor' });
  const batchSize = options.batchSize ?? 1000;
  const retention = options.eventRetentionSeconds ?? 7 * 24 * 3600;
  const publisher = options.publisher ?? createEventPublisher(broker, log, options.publicUrl !== undefined ? { publicUrl: options.publicUrl } : {});
  const maxAttempts = options.maxAttempts ?? 3;
  let sweeping: Promise<number> | undefined;
  let expiring: Promise<number> | undefined;
  let recovering: Promise<number> | undefined;
  let watching: Promise<WorkerWatch> | undefined;
  const watch = (): Promise<WorkerWatch> => (watching ??= startWorkerWatch({
    broker, logger: log, ...(options.liveness ? { rules: options.liveness } : {}),
  }).catch((err: unknown) => { watching = undefined; throw err; }));

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

  async function recoverAll(): Promise<number> {
    const ears = await watch();
    await ears.probe();
    if (!ears.listening()) return 0;
    let after: string | null = null;
    let count = 0;
    for (;;) {
      const batch = await store.listRunning(after, batchSize);
      for (const task of batch) {
        if (!ears.isLost(task.worker)) continue;
        const outcome = await store.requeueLost(task, maxAttempts, (t) => requeueTask(broker, t));
        if (outcome.kind === 'moved-on') continue;
        publisher.written(outcome.events);
        options.observer?.workerLost(task.service, outcome.kind === 'requeued' ? 'requeued' : 'failed');
        count++;
        if (outcome.kind === 'requeued') {
          log.warn({ taskId: task.id, service: task.service, worker: task.worker }, 'worker lost mid-task; task queued again');
        } else {
          log.warn({ taskId: task.id, service: task.service, worker: task.worker, maxAttempts }, 'worker lost mid-task with no attempts left; task failed worker_lost');
          // Should the worker be alive after all (cut off, not dead), this stops its run.
          await broker.broadcast('control', encodeControl({ type: 'cancel', taskIds: [task.id] })).catch(() => undefined);
        }
      }
      if (batch.length < batchSize) return count;
      after = batch[batch.length - 1]!.id;
      await pause();
    }
  }

  const sweep = (): Promise<number> => (sweeping ??= sweepAll().finally(() => { sweeping = undefined; }));
  const expire = (): Promise<number> => (expiring ??= expireAll().finally(() => { expiring = undefined; }));
  const recoverLost = (): Promise<number> => (recovering ??= recoverAll().finally(() => { recovering = undefined; }));

  const timers = [
    setInterval(() => { sweep().catch((err: Error) => log.warn({ err: err.message }, 'janitor sweep failed; will retry')); }, options.intervalMs ?? 60_000),
    setInterval(() => { expire().catch((err: Error) => log.warn({ err: err.message }, 'expiry check failed; will retry')); }, options.expiryIntervalMs ?? 1000),
    setInterval(() => { recoverLost().catch((err: Error) => log.warn({ err: err.message }, 'lost-worker check failed; will retry')); }, options.lostCheckIntervalMs ?? 5000),
  ];
  const callbacks: CallbackDelivery | undefined = options.callbacks && options.publicUrl !== undefined
    ? startCallbackDelivery({ ...options.callbacks, store, logger: options.logger, publicUrl: options.publicUrl })
    : undefined;
  if (options.callbacks && options.publicUrl === undefined) log.warn('callbacks are configured but no public URL is known: none is delivered');
  // Listening starts now, so the grace for workers never heard from runs from the janitor's start.
  watch().catch((err: Error) => log.warn({ err: err.message }, 'could not listen for workers yet; will retry'));
  timers.forEach((t) => t.unref());

  return {
    ...(callbacks ? { callbacks } : {}),
    sweep,
    expire,
    recoverLost,
    async stop() {
      timers.forEach((t) => clearInterval(t));
      await Promise.allSettled([sweeping, expiring, recovering, callbacks?.stop()]);
      await watching?.then((w) => w.close(), () => undefined);
      if (!options.publisher) await publisher.close();
      else await publisher.flush();
    },
  };
}
