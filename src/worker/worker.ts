/**
 * The worker: one consumer per service queue with prefetch = concurrency (fair dispatch), runs
 * each task through its executor, publishes progress and the result, and acknowledges the task
 * only once the broker has confirmed the result. A worker that dies before that leaves the task
 * unacknowledged, so the broker hands it to another worker. Knows nothing of the database.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Broker, Delivery, Disposition, Subscription } from '../broker/index.ts';
import { buildMultipart, CONSOLE_HEADER, createInputValidator, failureIndex, isTaskId, progressMessage, RESULT_QUEUE, STARTED_TYPE, statusRoutingKey } from '../core/index.ts';
import type { Outcome, ServiceDefinition, StopReason } from './executor.ts';
import { stoppedOutcome } from './executor.ts';
import { startAnnouncer } from './announcer.ts';
import { createProgressCoalescer } from './progress-coalescer.ts';
import { tail } from './executors/process-io.ts';

export interface WorkerOptions {
  broker: Broker;
  services: ServiceDefinition[];
  logger: Logger;
  workerId?: string;
  /** How often the worker announces its services (default 5 s). */
  announceIntervalMs?: number;
  /** Shortest time between two progress events of one task (default 100 ms); floods are coalesced. */
  progressIntervalMs?: number;
}

export interface Worker {
  readonly id: string;
  /** Stops a task this worker is running (it ends failed with code `canceled`); false when it runs no such task. */
  cancel(taskId: string): boolean;
  /** Stops taking tasks and waits for the ones under way to finish and be reported. */
  close(): Promise<void>;
}

export function newWorkerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

async function encodeOutcome(outcome: Outcome): Promise<{ body: Buffer; contentType: string }> {
  if (outcome.status === 'failed') {
    return { body: Buffer.from(JSON.stringify(failureIndex(outcome.error))), contentType: 'application/json' };
  }
  if (outcome.files.length > 0) return buildMultipart(outcome.index, outcome.files);
  return { body: Buffer.from(JSON.stringify(outcome.index)), contentType: 'application/json' };
}

export async function startWorker(options: WorkerOptions): Promise<Worker> {
  const { broker } = options;
  const id = options.workerId ?? newWorkerId();
  const log = options.logger.child({ part: 'worker', worker: id });
  // Each running task has its own controller: its timeout, a cancel, or a hard stop abort it.
  const running = new Map<string, { controller: AbortController; service: string }>();
  const progressIntervalMs = options.progressIntervalMs ?? 100;
  const validators = new Map(options.services.map((s) => {
    const compiled = s.manifest.inputSchema ? createInputValidator(s.manifest.inputSchema) : undefined;
    return [s.name, compiled && 'validate' in compiled ? compiled : undefined] as const;
  }));

  /** Runs the executor; one that does not stop within a second of being told is left behind. */
  async function execute(service: ServiceDefinition, taskId: string, input: unknown): Promise<Outcome> {
    const controller = new AbortController();
    running.set(taskId, { controller, service: service.name });
    const stop = (reason: StopReason): void => controller.abort(reason);
    const timeoutMs = service.manifest.timeoutMs;
    const timer = timeoutMs === null ? undefined : setTimeout(() => stop({ code: 'timeout', message: `the task ran longer than its ${service.manifest.timeout} timeout` }), timeoutMs);
    const abandoned = new Promise<Outcome>((resolve) => {
      controller.signal.addEventListener('abort', () => setTimeout(() => resolve(stoppedOutcome(controller.signal)), 1000).unref(), { once: true });
    });
    const progress = createProgressCoalescer((data) => publishProgress(taskId, data), progressIntervalMs);
    try {
      return await Promise.race([
        service.executor.run({ taskId, service: service.name, input, signal: controller.signal, progress: (data) => progress.report(data) }),
        abandoned,
      ]);
    } finally {
      clearTimeout(timer);
      running.delete(taskId);
      // The last progress value leaves before the result does.
      await progress.flush();
    }
  }

  async function publishProgress(taskId: string, data: unknown): Promise<void> {
    const message = Buffer.from(JSON.stringify(progressMessage(taskId, data)));
    await broker.publishStatus(statusRoutingKey(taskId), message, { contentType: 'application/json' }).catch(
      (err: Error) => log.debug({ taskId, err: err.message }, 'could not publish progress'),
    );
  }

  async function runTask(service: ServiceDefinition, delivery: Delivery): Promise<Disposition> {
    const taskId = delivery.properties.correlationId;
    if (!isTaskId(taskId)) {
      log.warn({ service: service.name, correlationId: taskId ?? null }, 'task message without a valid correlation_id; dropped');
      return 'drop';
    }
    const replyTo = delivery.properties.replyTo || RESULT_QUEUE;
    const reply = (body: Buffer, contentType: string, extra: { type?: string; persistent?: boolean; headers?: Record<string, unknown> } = {}) =>
      broker.send(replyTo, body, { correlationId: taskId, contentType, ...extra });

    // "Started" is informative: not persistent and not awaited; the result settles the task anyway.
    // It carries the script the task runs (Patavi sent that as a message of its own).
    const script = service.executor.script?.();
    reply(Buffer.from(JSON.stringify(script === undefined ? { worker: id } : { worker: id, script })), 'application/json', { type: STARTED_TYPE, persistent: false }).catch(
      (err: Error) => log.debug({ taskId, err: err.message }, 'could not report the start'),
    );

    let outcome: Outcome | undefined;
    let input: unknown;
    try {
      input = delivery.json ? delivery.json.value : delivery.body.length === 0 ? null : JSON.parse(delivery.body.toString('utf8'));
    } catch (err) {
      input = undefined;
      outcome = { status: 'failed', error: { code: 'invalid_input', message: `task input is not valid JSON: ${(err as Error).message}` } };
    }
    // Servers check inputs before queueing; this catches tasks queued by other means.
    const problem = outcome ? undefined : validators.get(service.name)?.validate(input);
    if (problem) outcome = { status: 'failed', error: { code: 'invalid_input', message: problem.message, detail: { field: problem.field } } };
    const started = performance.now();
    log.debug({ taskId, service: service.name, redelivered: delivery.redelivered }, 'task started');
    outcome ??= await execute(service, taskId, input);

    const { body, contentType } = await encodeOutcome(outcome);
    try {
      try {
        await reply(body, contentType, outcome.console ? { headers: { [CONSOLE_HEADER]: tail(outcome.console) } } : {});
      } catch (err) {
        if (!outcome.console) throw err;
        // The console is a courtesy: a broker that refuses it must not cost the result.
        log.warn({ taskId, err: (err as Error).message }, 'result with console refused; sending it without');
        await reply(body, contentType);
      }
    } catch (err) {
      // Unconfirmed result: hand the task back so that it runs again rather than vanish.
      log.warn({ taskId, err: (err as Error).message }, 'result not confirmed by the broker; task handed back');
      return 'requeue';
    }
    log.info({ taskId, service: service.name, status: outcome.status, ms: Math.round(performance.now() - started) }, 'task finished');
    return 'ack';
  }

  // Results go to rpc_result; declaring it here means none is dropped before a server or recorder has run.
  await broker.declareQueue(RESULT_QUEUE);
  const subscriptions: Subscription[] = [];
  for (const service of options.services) {
    await broker.declareQueue(service.name);
    subscriptions.push(await broker.consume(service.name, (delivery) => runTask(service, delivery), { prefetch: service.concurrency }));
    log.info({ service: service.name, concurrency: service.concurrency }, 'serving');
  }
  const announcer = await startAnnouncer({
    broker,
    workerId: id,
    services: options.services,
    busy: (name) => [...running.values()].filter((task) => task.service === name).length,
    intervalMs: options.announceIntervalMs ?? 5000,
    logger: log,
  });

  return {
    id,
    cancel(taskId) {
      const task = running.get(taskId);
      task?.controller.abort({ code: 'canceled', message: 'the task was canceled' } satisfies StopReason);
      return task !== undefined;
    },
    async close() {
      // Graceful: tasks under way finish and report before the consumers go.
      await announcer.close();
      await Promise.all(subscriptions.map((s) => s.close()));
      await Promise.all(options.services.map((s) => s.executor.close()));
    },
  };
}
