/**
 * The recorder: consumes the reply queue (`rpc_result`), writes what workers report, and
 * announces `<id>.end` once a result is committed. Messages are acknowledged only after their
 * effect is in the database, so a recorder that stops loses nothing: the broker keeps them.
 * Concurrent deliveries are written in batches (one UPDATE for many results).
 */
import type { Logger } from 'pino';
import type { Broker, Delivery, Disposition, Subscription } from '../broker/index.ts';
import type { CompletedTask, CompletionOutcome, StartedTask, Store } from '../store/index.ts';
import { CONSOLE_HEADER, createBatcher, endMessage, endRoutingKey, isTaskId, parseReply, RESULT_QUEUE } from '../core/index.ts';
import type { TaskStatus } from '../core/index.ts';

export interface RecorderOptions {
  store: Store;
  broker: Broker;
  logger: Logger;
  /** Base for the results href carried by `<id>.end` (Patavi's persistence service does the same). */
  publicUrl: string;
  /** Unacknowledged results held at once; also the largest write batch. */
  prefetch?: number;
  /** Wait before handing a message back when the database is unreachable. */
  retryDelayMs?: number;
}

export interface Recorder {
  /** Stops consuming; results still queued stay in the broker for the next recorder. */
  close(): Promise<void>;
}

/** The console a worker sent with a result; PostgreSQL text cannot hold NUL, so those are replaced. */
function consoleOf(delivery: Delivery): string | null {
  const value = delivery.properties.headers?.[CONSOLE_HEADER];
  const text = Buffer.isBuffer(value) ? value.toString('utf8') : typeof value === 'string' ? value : null;
  return text === null ? null : text.replace(/\u0000/g, '\uFFFD');
}

export async function startRecorder(options: RecorderOptions): Promise<Recorder> {
  const { store, broker, logger } = options;
  const log = logger.child({ part: 'recorder' });
  const prefetch = options.prefetch ?? 256;
  const retryDelayMs = options.retryDelayMs ?? 1000;

  const starts = createBatcher<StartedTask, void>(async (tasks) => {
    await store.markStarted(tasks);
    return tasks.map(() => undefined);
  }, { maxBatch: prefetch });
  const completions = createBatcher<CompletedTask, CompletionOutcome>((tasks) => store.completeTasks(tasks), { maxBatch: prefetch });

  async function announceEnd(taskId: string, status: TaskStatus): Promise<void> {
    const message = endMessage(taskId, status, `${options.publicUrl}/task/${taskId}/results`);
    await broker.publishStatus(endRoutingKey(taskId), Buffer.from(JSON.stringify(message)));
  }

  async function record(delivery: Delivery): Promise<Disposition> {
    const taskId = delivery.properties.correlationId;
    if (!isTaskId(taskId)) {
      log.warn({ correlationId: taskId ?? null }, 'reply without a valid task id (correlation_id); dropped');
      return 'drop';
    }
    const reply = await parseReply(delivery.body, delivery.properties.contentType, delivery.properties.type, delivery.json);
    switch (reply.kind) {
      case 'script':
        await store.saveScript(taskId, reply.script);
        return 'ack';
      case 'started':
        await starts.add({ id: taskId, worker: reply.worker, script: reply.script });
        return 'ack';
      case 'result': {
        const outcome = await completions.add({ id: taskId, status: reply.status, index: reply.index, files: reply.files, error: reply.error, console: consoleOf(delivery) });
        if (outcome.kind === 'unknown-task') {
          log.info({ taskId }, 'result for a task that no longer exists; ignored');
          return 'ack';
        }
        if (outcome.kind === 'already-ended') log.info({ taskId, status: outcome.status }, 'result for a task that had already ended; ignored');
        else log.debug({ taskId, status: outcome.status }, 'result recorded');
        // Announced after the commit; announced again for a repeat, in case a recorder died between the two.
        await announceEnd(taskId, outcome.status);
        return 'ack';
      }
    }
  }

  const subscription: Subscription = await broker.consume(
    RESULT_QUEUE,
    async (delivery) => {
      try {
        return await record(delivery);
      } catch (err) {
        log.warn({ err: (err as Error).message, taskId: delivery.properties.correlationId }, 'could not record a reply; it goes back to the queue');
        await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
        return 'requeue';
      }
    },
    { prefetch },
  );
  log.info({ queue: RESULT_QUEUE, prefetch }, 'recorder consuming');

  return {
    async close() {
      await subscription.close();
      await Promise.all([starts.drain(), completions.drain()]);
    },
  };
}
