/**
 * The worker: one consumer per service queue with prefetch = concurrency, runs each task through
 * its executor, publishes progress and the result. A task that runs longer than
 * `startReportAfterMs` is acknowledged once its start report is confirmed, not at its end: long
 * tasks outlive RabbitMQ's consumer_timeout, and a dropped connection does not send a running
 * task to a second worker. A shorter one sends only its result, which carries its start, and is
 * acknowledged once that is confirmed. A worker that dies mid-task stops
 * announcing, and the janitor queues its tasks again. Knows nothing of the database.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { createDeadLetters, MessageRefusedError } from '../broker/index.ts';
import type { Broker, Delivery, Disposition, Subscription } from '../broker/index.ts';
import { buildMultipart, consoleMessage, consoleRoutingKey, CONSOLE_HEADER, DEFAULT_RESULT_LIMITS, resultFilesError, resultSizeError, NO_CACHE_HEADER, SCRIPT_HEADER, STARTED_AT_HEADER, VERSION_HEADER, createInputValidator, DEADLINE_HEADER, encodeControl, failureIndex, isIssuableTaskId, parseControl, progressMessage, RESULT_QUEUE, LAST_PROGRESS_HEADER, RUN_HEADER, SEQ_HEADER, STARTED_TYPE, statusRoutingKey, WORKER_HEADER } from '../core/index.ts';
import type { ResultLimits, TaskError } from '../core/index.ts';
import type { Outcome, ServiceDefinition, StopReason } from './executor.ts';
import { stoppedOutcome } from './executor.ts';
import { startAnnouncer } from './announcer.ts';
import { createProgressCoalescer } from './progress-coalescer.ts';
import { MAX_CONSOLE_BYTES, tail } from './executors/process-io.ts';
import { createConsoleStream } from './console-stream.ts';
import type { ConsoleStream } from './console-stream.ts';
import { createSlots } from './slots.ts';

export interface WorkerOptions {
  broker: Broker;
  services: ServiceDefinition[];
  logger: Logger;
  workerId?: string;
  /** How often the worker announces its services (default 5 s). */
  announceIntervalMs?: number;
  /** Shortest time between two progress events of one task (default 100 ms); floods are coalesced. */
  progressIntervalMs?: number;
  /** How long start waits for a server to say which queued tasks were stopped (default 250 ms). */
  syncWaitMs?: number;
  /**
   * How long a delivery waits for a free slot (all of the service's slots running started
   * tasks) before it goes back to the queue for another worker (default 10 s). Keep it well under
   * RabbitMQ's consumer_timeout: the delivery is unacknowledged while it waits.
   */
  slotWaitMs?: number;
  /**
   * How long `close()` lets running tasks finish (default 30 s). Tasks still running then are
   * stopped and their results not sent: the janitor queues them again for another worker.
   */
  stopGraceMs?: number;
  /** Bounds on a result's files and size (default DEFAULT_RESULT_LIMITS); a result over one fails `result_too_large`. */
  resultLimits?: ResultLimits;
  /**
   * How long a task runs before its start is reported and its delivery acknowledged (default
   * 250 ms). A task that ends sooner sends only its result, which carries its start: one message,
   * one confirm and one database write fewer. Keep it far under RabbitMQ's consumer_timeout.
   */
  startReportAfterMs?: number;
  /** The Errand version the worker announces (GET /workers shows it). */
  errandVersion?: string;
}

/** Tasks known to be stopped (canceled or expired) that this worker must never start; the oldest are forgotten first. */
const MAX_REMEMBERED_STOPS = 100_000;

export interface Worker {
  readonly id: string;
  /** Stops a task this worker is running (it ends failed with code `canceled`); false when it runs no such task. */
  cancel(taskId: string): boolean;
  /** Stops taking tasks and waits for the ones under way to finish and be reported. */
  close(): Promise<void>;
}

interface LastProgress { seq: number; value: unknown }

/** Sends one of a run's messages to the reply queue, stamped with the run and worker ids. */
type Reply = (body: Buffer, contentType: string, extra?: { type?: string; persistent?: boolean; headers?: Record<string, unknown> }) => Promise<void>;

/** A last progress value too large for a header is left to its own message. */
const MAX_PROGRESS_HEADER = 8 * 1024;
/** A script larger than this goes in a start report of its own (every header must fit in one AMQP frame). */
const MAX_SCRIPT_HEADER = 32 * 1024;

function lastProgressHeaders(last: LastProgress): Record<string, unknown> {
  if (last.seq === 0) return {};
  const text = JSON.stringify(last.value ?? null);
  return text.length > MAX_PROGRESS_HEADER ? {} : { [SEQ_HEADER]: last.seq, [LAST_PROGRESS_HEADER]: text };
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => { setTimeout(resolve, ms).unref(); });

export function newWorkerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** The outcome failed with `error` in place of its result; what the script printed is kept. */
function refused(outcome: Outcome, error: TaskError): Outcome {
  return { status: 'failed', error, ...(outcome.console !== undefined ? { console: outcome.console } : {}) };
}

/**
 * The content type of a JSON result: Patavi's `application/json`, with its charset named, which
 * recorders read as the same thing. rabbitmq-client parses bodies typed exactly
 * `application/json` before anyone sees the bytes; this keeps them.
 */
const JSON_RESULT_TYPE = 'application/json; charset=utf-8';

async function encodeOutcome(outcome: Outcome): Promise<{ body: Buffer; contentType: string }> {
  if (outcome.status === 'failed') {
    return { body: Buffer.from(JSON.stringify(failureIndex(outcome.error))), contentType: 'application/json' };
  }
  if (outcome.files.length > 0) return buildMultipart(outcome.index, outcome.files, outcome.indexText);
  // With a charset the AMQP client hands the recorder the bytes, not a value it parsed: the
  // result is stored as written (see JSON_RESULT_TYPE).
  return { body: Buffer.from(outcome.indexText ?? JSON.stringify(outcome.index)), contentType: JSON_RESULT_TYPE };
}

export async function startWorker(options: WorkerOptions): Promise<Worker> {
  const { broker } = options;
  const id = options.workerId ?? newWorkerId();
  const log = options.logger.child({ part: 'worker', worker: id });
  // Each running task has its own controller: its timeout, a cancel, or a hard stop abort it.
  /** Each running task: what stops it, and how to report its start again (a copy was delivered). */
  const running = new Map<string, { controller: AbortController; service: string; reportStart: () => Promise<void> }>();
  const stopped = new Set<string>();
  const remember = (taskId: string): void => {
    stopped.add(taskId);
    if (stopped.size > MAX_REMEMBERED_STOPS) stopped.delete(stopped.values().next().value!);
  };
  /** Stops the task if it runs here; with `remember`, also never starts it if it comes later. */
  const cancel = (taskId: string, rememberIt = false): boolean => {
    if (rememberIt) remember(taskId);
    const task = running.get(taskId);
    task?.controller.abort({ code: 'canceled', message: 'the task was canceled' } satisfies StopReason);
    return task !== undefined;
  };
  const progressIntervalMs = options.progressIntervalMs ?? 100;
  const limits = options.resultLimits ?? DEFAULT_RESULT_LIMITS;
  const deadLetter = createDeadLetters(broker, log);
  const slots = createSlots(new Map(options.services.map((s) => [s.name, s.concurrency])), options.slotWaitMs ?? 10_000);
  const startReportAfterMs = options.startReportAfterMs ?? 250;
  const runs = new Set<Promise<unknown>>();
  /** Tasks whose result was sent, per service, since the worker started: announced for GET /workers. */
  const done = new Map<string, number>();
  let closing = false;
  /** Resolves when close() begins: runs waiting for their start report send it at once. */
  let markClosing!: () => void;
  const whenClosing = new Promise<void>((resolve) => { markClosing = resolve; });
  /** Set when the stop grace ran out: the runs still under way are stopped and report nothing. */
  let abandoning = false;
  const validators = new Map(options.services.map((s) => {
    const compiled = s.manifest.inputSchema ? createInputValidator(s.manifest.inputSchema) : undefined;
    return [s.name, compiled && 'validate' in compiled ? compiled : undefined] as const;
  }));

  /** Runs the executor; one that does not stop within a second of being told is left behind. */
  async function execute(service: ServiceDefinition, taskId: string, runId: string, input: unknown, controller: AbortController, last: LastProgress): Promise<Outcome> {
    const stop = (reason: StopReason): void => controller.abort(reason);
    const timeoutMs = service.manifest.timeoutMs;
    const timer = timeoutMs === null ? undefined : setTimeout(() => stop({ code: 'timeout', message: `the task ran longer than its ${service.manifest.timeout} timeout` }), timeoutMs);
    const abandoned = new Promise<Outcome>((resolve) => {
      const leave = (): void => { setTimeout(() => resolve(stoppedOutcome(controller.signal)), 1000).unref(); };
      if (controller.signal.aborted) leave();
      else controller.signal.addEventListener('abort', leave, { once: true });
    });
    let seq = 0;
    const progress = createProgressCoalescer((data) => {
      last.seq = ++seq;
      last.value = data;
      return publishProgress(taskId, runId, seq, data);
    }, progressIntervalMs);
    // What it prints goes out as it prints it, at the progress pace, as much as a stored console
    // holds; made at the first output, since most tasks print nothing while they run.
    let printed: ConsoleStream | undefined;
    const print = (text: string): boolean => (printed ??= createConsoleStream((chunk) => publishConsole(taskId, runId, chunk), progressIntervalMs, MAX_CONSOLE_BYTES)).report(text);
    try {
      return await Promise.race([
        service.executor.run({ taskId, service: service.name, input, signal: controller.signal, progress: (data) => progress.report(data), console: print, limits }),
        abandoned,
      ]);
    } finally {
      clearTimeout(timer);
      // The last progress value and output leave before the result does.
      await progress.flush();
      await printed?.flush();
    }
  }

  async function publishConsole(taskId: string, runId: string, text: string): Promise<void> {
    const message = Buffer.from(JSON.stringify(consoleMessage(taskId, text)));
    await broker.publishStatus(consoleRoutingKey(taskId), message, { contentType: 'application/json', headers: { [RUN_HEADER]: runId, [WORKER_HEADER]: id } }).catch(
      (err: Error) => log.debug({ taskId, err: err.message }, 'could not publish console output'),
    );
  }

  async function publishProgress(taskId: string, runId: string, seq: number, data: unknown): Promise<void> {
    const message = Buffer.from(JSON.stringify(progressMessage(taskId, data)));
    const headers = { [RUN_HEADER]: runId, [SEQ_HEADER]: seq, [WORKER_HEADER]: id };
    await broker.publishStatus(statusRoutingKey(taskId), message, { contentType: 'application/json', headers }).catch(
      (err: Error) => log.debug({ taskId, err: err.message }, 'could not publish progress'),
    );
  }

  /** Why a delivered task must not start, if it must not. */
  function mustNotStart(taskId: string, delivery: Delivery): string | undefined {
    if (stopped.has(taskId)) return 'it was canceled or expired';
    const deadline = delivery.properties.headers?.[DEADLINE_HEADER];
    if (typeof deadline === 'string' && Date.parse(deadline) <= Date.now()) return `its queue deadline ${deadline} has passed`;
    return undefined;
  }

  /**
   * A delivery: the task starts when one of its service's slots is free. If it is still running
   * `startReportAfterMs` later, its start is reported (persistent, confirmed) and the delivery
   * acknowledged; so no delivery is held for the length of a task, and RabbitMQ's
   * consumer_timeout never closes the channel under a long one. From then on the task's fate is
   * the database's: a worker that goes silent has its tasks queued again by the janitor
   * (docs/architecture.md, "Long tasks"). A task that ends sooner is acknowledged once its
   * result, which carries its start, is confirmed.
   */
  async function runTask(service: ServiceDefinition, delivery: Delivery): Promise<Disposition> {
    const taskId = delivery.properties.correlationId;
    if (!isIssuableTaskId(taskId)) {
      // No task to fail and no one to answer: set aside, where an operator can see what sent it.
      return deadLetter(service.name, delivery, `task message without a valid task id (correlation_id ${JSON.stringify(taskId ?? null)})`);
    }
    const already = running.get(taskId);
    if (already) {
      // Delivered again while it runs here: the janitor took this worker for lost, or the
      // connection dropped between the start report and its acknowledgement. One run is enough:
      // the run under way reports its start again, which makes a task queued again running
      // under it once more, and the copy is acknowledged.
      try {
        await already.reportStart();
      } catch (err) {
        log.warn({ taskId, err: (err as Error).message }, 'could not report the run under way; copy handed back');
        await pause(1000);
        return 'requeue';
      }
      log.info({ taskId }, 'task delivered again while running here; the run under way keeps it');
      return 'ack';
    }
    // Every slot holds a started task: wait a while, then hand the message back for another worker.
    if (!(await slots.acquire(service.name))) return 'requeue';
    const skip = mustNotStart(taskId, delivery);
    if (skip || running.has(taskId)) {
      slots.release(service.name);
      // The database already says how it ended (or the janitor is about to): nothing to report.
      if (skip) log.info({ taskId, service: service.name }, `task not started: ${skip}`);
      return 'ack';
    }
    const runId = randomBytes(8).toString('hex');
    const replyTo = delivery.properties.replyTo || RESULT_QUEUE;
    const reply: Reply = (body, contentType, extra = {}) =>
      broker.send(replyTo, body, { correlationId: taskId, contentType, ...extra, headers: { [RUN_HEADER]: runId, [WORKER_HEADER]: id, ...extra.headers } });
    const controller = new AbortController();
    if (stopped.has(taskId)) controller.abort({ code: 'canceled', message: 'the task was canceled' } satisfies StopReason);
    // When the run began: the start report is sent up to --start-report-after later, and the
    // database records this time (clamped to the task's creation and the recording) as its start.
    const startedAt = new Date().toISOString();
    const reportStart = (report: { script?: string; resumed?: true }): Promise<void> =>
      reply(Buffer.from(JSON.stringify({ worker: id, ...report })), 'application/json', { type: STARTED_TYPE, headers: { [STARTED_AT_HEADER]: startedAt } });
    // The start report carries the script (Patavi sent that as a message of its own); so does a
    // result that carries its start, in a header, when the script is small enough for one.
    const script = service.executor.script?.();
    const scriptRides = script === undefined || Buffer.byteLength(script) <= MAX_SCRIPT_HEADER;
    let startReported = false;
    running.set(taskId, { controller, service: service.name, reportStart: () => reportStart({ resumed: true }) });

    if (!scriptRides || startReportAfterMs === 0) {
      // Reported before the run starts. Once the broker has the start report, the task is recorded as running whatever happens to this worker.
      try {
        await reportStart({ script });
        startReported = true;
      } catch (err) {
        running.delete(taskId);
        slots.release(service.name);
        log.warn({ taskId, err: (err as Error).message }, 'could not report the start; task handed back');
        // A broker that refuses it now will likely refuse it at once again: not a tight loop.
        await pause(1000);
        return 'requeue';
      }
    }
    const startHeaders = (): Record<string, unknown> => (startReported ? {} : { [STARTED_AT_HEADER]: startedAt, ...(script === undefined ? {} : { [SCRIPT_HEADER]: script }) });
    const run = runStarted(service, delivery, taskId, runId, controller, reply, startHeaders)
      .catch((err: unknown): boolean => { log.error({ taskId, err: (err as Error).message }, 'task run failed unexpectedly'); return false; })
      .finally(() => {
        running.delete(taskId);
        slots.release(service.name);
        runs.delete(run);
      });
    runs.add(run);
    if (startReported) return 'ack';

    // A short task ends before its start is due: its result (confirmed) carries its start, and
    // the delivery is acknowledged after it. A longer one reports its start when due and is
    // acknowledged then, so that no delivery is held for the length of a task.
    let due: NodeJS.Timeout | undefined;
    const first = await Promise.race([
      run.then((sent) => ({ ended: true as const, sent })),
      new Promise<{ ended: false }>((resolve) => { due = setTimeout(() => resolve({ ended: false }), startReportAfterMs); }),
      // A stopping worker closes its consumers, which waits for this handler: report now.
      whenClosing.then(() => ({ ended: false as const })),
    ]);
    clearTimeout(due);
    if (first.ended) {
      // Stopped by the worker's shutdown before it reported anything: the task goes back to the queue.
      return first.sent ? 'ack' : 'requeue';
    }
    try {
      await reportStart(script === undefined ? {} : { script });
      startReported = true;
      return 'ack';
    } catch (err) {
      // The task runs already: it is not handed back (that would run it twice). Its delivery is
      // held until its result is confirmed instead; a worker that dies meanwhile leaves it
      // unacknowledged, and the broker gives it to another worker.
      log.warn({ taskId, err: (err as Error).message }, 'could not report the start; the delivery is held until the result is sent');
      return (await run) ? 'ack' : 'requeue';
    }
  }

  /** Runs the task and sends its result; false when it was stopped without a result (the worker's shutdown). */
  async function runStarted(service: ServiceDefinition, delivery: Delivery, taskId: string, runId: string, controller: AbortController, reply: Reply, startHeaders: () => Record<string, unknown>): Promise<boolean> {
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
    const last: LastProgress = { seq: 0, value: undefined };
    outcome ??= await execute(service, taskId, runId, input, controller, last);
    if (abandoning) {
      log.warn({ taskId, service: service.name }, 'task stopped by the worker\'s shutdown; it will be queued again');
      return false;
    }

    // Checked here, before sending, so that the script's author sees why (the recorder checks again).
    const filesError = outcome.status === 'done' ? resultFilesError(outcome.files, limits) : undefined;
    if (filesError) outcome = refused(outcome, filesError);
    let encoded: { body: Buffer; contentType: string };
    try {
      encoded = await encodeOutcome(outcome);
    } catch (err) {
      // A value JSON cannot carry (a BigInt, a cycle): the task fails rather than stay running.
      outcome = refused(outcome, { code: 'invalid_result', message: `the result cannot be encoded: ${(err as Error).message}` });
      encoded = await encodeOutcome(outcome);
    }
    // Whatever it holds (a huge index, a huge error message), the message itself is bounded.
    const sizeError = resultSizeError(encoded.body.length, limits);
    if (sizeError) {
      outcome = refused(outcome, sizeError);
      encoded = await encodeOutcome(outcome);
    }
    if (filesError || sizeError) log.warn({ taskId, service: service.name, code: outcome.status === 'failed' ? outcome.error.code : null }, 'result refused before sending; the task fails');
    const { body, contentType } = encoded;
    // Progress travels on its own queue: the result names the last value, so that it is recorded
    // before the end even when the result overtakes it. The version and the script's no-cache
    // mark decide whether the result cache may serve it.
    const resultHeaders = {
      ...startHeaders(),
      ...lastProgressHeaders(last),
      [VERSION_HEADER]: service.manifest.version,
      ...(outcome.cacheable === false ? { [NO_CACHE_HEADER]: 'true' } : {}),
    };
    const withConsole = outcome.console ? { ...resultHeaders, [CONSOLE_HEADER]: tail(outcome.console) } : undefined;
    // The delivery is gone: the result is retried until the broker takes it. A worker that stops
    // without sending it leaves the task to the janitor, which queues it again.
    let message = { body, contentType };
    for (let attempt = 1; ; attempt++) {
      try {
        await reply(message.body, message.contentType, { headers: withConsole && attempt === 1 ? withConsole : resultHeaders });
        break;
      } catch (err) {
        if (err instanceof MessageRefusedError && message.body === body && attempt >= 2) {
          // Refused as such (larger than the broker's max_message_size): retrying cannot help,
          // and the task must not stay running. It fails, saying why.
          const error = { code: 'invalid_result', message: `the broker refused the result (${(err as Error).message})` };
          log.error({ taskId, bytes: body.length, err: (err as Error).message }, 'result refused by the broker; the task fails instead');
          outcome = { status: 'failed', error };
          message = await encodeOutcome(outcome);
          continue;
        }
        if (closing && attempt >= 3) {
          log.error({ taskId, err: (err as Error).message }, 'result not sent before the worker stopped; the task will be queued again');
          return false;
        }
        // The console is a courtesy: a broker that refuses it must not cost the result.
        log.warn({ taskId, attempt, err: (err as Error).message }, 'result not confirmed by the broker; retrying');
        await new Promise((resolve) => setTimeout(resolve, Math.min(30_000, 250 * 2 ** attempt)));
      }
    }
    log.debug({ taskId, service: service.name, status: outcome.status, ms: Math.round(performance.now() - started) }, 'task finished');
    done.set(service.name, (done.get(service.name) ?? 0) + 1);
    return true;
  }

  // Cancels reach every worker; one that starts asks which queued tasks were stopped before it came.
  let synced: () => void = () => undefined;
  const firstAnswer = new Promise<void>((resolve) => { synced = resolve; });
  const control = await broker.listen('control', (body) => {
    const message = parseControl(body);
    if (message?.type !== 'cancel') return;
    for (const taskId of message.taskIds) if (cancel(taskId, true)) log.info({ taskId }, 'task canceled while running');
    synced();
  });
  await broker.broadcast('control', encodeControl({ type: 'sync', worker: id }));
  await Promise.race([firstAnswer, new Promise((resolve) => setTimeout(resolve, options.syncWaitMs ?? 250))]);

  // Results go to rpc_result; declaring it here means none is dropped before a server or recorder has run.
  await broker.declareQueue(RESULT_QUEUE);
  for (const service of options.services) await broker.declareQueue(service.name);
  // Announced before the first task can start: the janitor judges a task's worker by its announcements.
  const announcer = await startAnnouncer({
    broker,
    workerId: id,
    services: options.services,
    busy: (name) => [...running.values()].filter((task) => task.service === name).length,
    done: (name) => done.get(name) ?? 0,
    intervalMs: options.announceIntervalMs ?? 5000,
    ...(options.errandVersion !== undefined ? { errandVersion: options.errandVersion } : {}),
    logger: log,
  });
  const subscriptions: Subscription[] = [];
  for (const service of options.services) {
    subscriptions.push(await broker.consume(service.name, (delivery) => runTask(service, delivery), { prefetch: service.concurrency }));
    log.info({ service: service.name, concurrency: service.concurrency }, 'serving');
  }

  return {
    id,
    cancel: (taskId) => cancel(taskId),
    async close() {
      // Graceful: no new task starts (waiting deliveries go back), tasks under way finish and
      // report, and only then does the worker say goodbye: the janitor takes a goodbye to mean
      // that whatever this worker still had running is lost.
      closing = true;
      markClosing();
      slots.close();
      await Promise.all(subscriptions.map((s) => s.close()));
      const settled = Promise.allSettled([...runs]);
      const graceMs = options.stopGraceMs ?? 30_000;
      if (await Promise.race([settled.then(() => false), pause(graceMs).then(() => true)])) {
        abandoning = true;
        log.warn({ tasks: [...running.keys()], graceMs }, 'tasks still running after the stop grace; stopping them (the janitor queues them again)');
        for (const task of running.values()) task.controller.abort({ code: 'shutdown', message: 'the worker stopped' } satisfies StopReason);
        // Executors give up on a run that does not stop within a second of being told.
        await Promise.race([settled, pause(2000)]);
      }
      await announcer.close();
      await control.close();
      await Promise.all(options.services.map((s) => s.executor.close()));
    },
  };
}
