/**
 * The recorder: consumes the reply queue (`rpc_result`) and the progress queue, writes what
 * workers report with its events, and publishes the events once committed (and `<id>.end` for
 * Patavi). Messages are acknowledged only after their effect is in the database, so a recorder
 * that stops loses nothing: the broker keeps them. Concurrent deliveries are written in batches.
 * A task's replies are applied in the order they arrived. Only a database that is away sends a
 * message back to its queue; one that can never be written (or read) is set aside in the
 * dead-letter queue, so that nothing bad holds back what comes after it.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { createDeadLetters, createEventPublisher } from '../broker/index.ts';
import type { Broker, Delivery, Disposition, EventPublisher, Subscription } from '../broker/index.ts';
import type { CompletedTask, CompletionOutcome, ProgressUpdate, StartedTask, StartOutcome, WorkerReports } from '../store/index.ts';
import { errorNature, isTransientError } from '../store/index.ts';
import { createHeldBack } from './held-back.ts';
import { CONSOLE_EVENT_TYPE, CONSOLE_HEADER, DEFAULT_RESULT_LIMITS, headOfText, MAX_CONSOLE_CHUNK_BYTES, failureIndex, resultFilesError, resultSizeError, STARTED_TYPE, LAST_PROGRESS_HEADER, NO_CACHE_HEADER, SCRIPT_HEADER, STARTED_AT_HEADER, VERSION_HEADER, createBatcher, encodeControl, endMessage, endRoutingKey, isIssuableTaskId, parseReply, PROGRESS_QUEUE, RESULT_QUEUE, RUN_HEADER, SEQ_HEADER, WORKER_HEADER } from '../core/index.ts';
import type { ReplyMessage, ResultLimits, TaskError, TaskEvent, TaskStatus } from '../core/index.ts';

/** Tries a message gets when its error says neither that the database is away nor that the data is bad. */
export const MAX_TRIES_OF_UNKNOWN_ERRORS = 5;

/**
 * How long a handed-back reply keeps its task's later replies back without coming back itself
 * (it may have gone to another recorder). Long against the retry pause and a busy machine.
 */
const HELD_BACK_FORGET_MS = 60_000;

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The same message, as redelivered, has the same key. */
function messageKey(queue: string, delivery: Delivery): string {
  return createHash('sha256').update(queue).update('\u0000').update(delivery.properties.correlationId ?? '').update('\u0000').update(delivery.body).digest('base64');
}

export interface RecorderOptions {
  store: WorkerReports;
  broker: Broker;
  logger: Logger;
  /** Base for the results href carried by `<id>.end` (Patavi's persistence service does the same). */
  publicUrl: string;
  /** Unacknowledged results held at once; also the largest write batch. */
  prefetch?: number;
  /** Wait before handing a message back when the database is unreachable. */
  retryDelayMs?: number;
  /** Starts a task gets before a lost worker fails it with `worker_lost` (default 3). */
  maxAttempts?: number;
  /** Bounds on a result (default DEFAULT_RESULT_LIMITS): workers check them, and a hostile one is caught here. */
  resultLimits?: ResultLimits;
  /** The process's event pipeline, shared with the server and janitor in the same process; else the recorder's own. */
  publisher?: EventPublisher;
  /** Told of each result that ended its task (the results metric, issue 14). */
  observer?: RecorderObserver;
}

export interface RecorderObserver { recorded(service: string, status: TaskStatus): void }

export interface Recorder {
  /** Stops consuming; results still queued stay in the broker for the next recorder. */
  close(): Promise<void>;
}

function header(delivery: Delivery, name: string): string | null {
  const value = delivery.properties.headers?.[name];
  return typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : null;
}

/**
 * When the run began, as its worker says (x-errand-started-at, ISO); null when absent or not a
 * time. The store clamps it between the task's creation and the recording: a worker's clock is
 * trusted for the length of a run, never to move a task out of order.
 */
function startedAtOf(delivery: Delivery): Date | null {
  const text = header(delivery, STARTED_AT_HEADER);
  const ms = text === null ? Number.NaN : Date.parse(text);
  return Number.isFinite(ms) ? new Date(ms) : null;
}

/**
 * A progress message from `rpc_status`: Patavi's `{taskId, eventType: 'progress', eventData}`, plus
 * Errand's headers; or what a running script printed, `{taskId, eventType: 'console', eventData:
 * {text}}` under `<id>.console`.
 */
function progressOf(delivery: Delivery): ProgressUpdate | undefined {
  let message: unknown = delivery.json?.value;
  if (!delivery.json) {
    try { message = JSON.parse(delivery.body.toString('utf8')); } catch { return undefined; }
  }
  if (typeof message !== 'object' || message === null) return undefined;
  const { taskId, eventType, eventData } = message as { taskId?: unknown; eventType?: unknown; eventData?: unknown };
  const id = isIssuableTaskId(taskId) ? taskId : delivery.routingKey.split('.')[0];
  if (!isIssuableTaskId(id)) return undefined;
  const seq = Number(delivery.properties.headers?.[SEQ_HEADER]);
  const report = { id, runId: header(delivery, RUN_HEADER), worker: header(delivery, WORKER_HEADER), seq: Number.isSafeInteger(seq) ? seq : null };
  if (eventType === CONSOLE_EVENT_TYPE) {
    const text = (eventData as { text?: unknown } | null)?.text;
    // PostgreSQL text cannot hold NUL; a chunk is bounded by the worker, and again here.
    return typeof text === 'string' ? { ...report, value: null, console: headOfText(text.replace(/\u0000/g, '\uFFFD'), MAX_CONSOLE_CHUNK_BYTES) } : undefined;
  }
  if (eventType !== undefined && eventType !== 'progress') return undefined;
  return { ...report, value: eventData ?? null };
}

function lastProgressOf(delivery: Delivery): { seq: number; value: unknown } | null {
  const seq = Number(delivery.properties.headers?.[SEQ_HEADER]);
  const text = header(delivery, LAST_PROGRESS_HEADER);
  if (!Number.isSafeInteger(seq) || text === null) return null;
  try { return { seq, value: JSON.parse(text) as unknown }; } catch { return null; }
}

/** The script a result that carries its start names (see the worker); NULs replaced as for the console. */
function scriptOf(delivery: Delivery): string | null {
  return header(delivery, SCRIPT_HEADER)?.replace(/\u0000/g, '\uFFFD') ?? null;
}

/** The console a worker sent with a result; PostgreSQL text cannot hold NUL, so those are replaced. */
function consoleOf(delivery: Delivery): string | null {
  const value = delivery.properties.headers?.[CONSOLE_HEADER];
  const text = Buffer.isBuffer(value) ? value.toString('utf8') : typeof value === 'string' ? value : null;
  return text === null ? null : text.replace(/\u0000/g, '\uFFFD');
}

/** A result the recorder will not keep: its task fails with `error`, as if the worker had said so. */
function refusedResult(error: TaskError): ReplyMessage {
  return { kind: 'result', status: 'failed', index: failureIndex(error), files: [], error };
}

/** An item's outcome from a batch that may have been split: its own error when it failed alone. */
type Isolated<O> = { ok: true; value: O } | { ok: false; error: unknown };

/**
 * A batch flush that, when the batch fails for a reason other than the database being away,
 * writes each item on its own: an item that cannot be written fails alone instead of failing
 * (and holding back) every item that shared its batch.
 */
function isolating<I, O>(flush: (items: I[]) => Promise<O[]>): (items: I[]) => Promise<Array<Isolated<O>>> {
  return async (items) => {
    try {
      return (await flush(items)).map((value) => ({ ok: true, value }));
    } catch (err) {
      if (isTransientError(err)) throw err;
      const outcomes: Array<Isolated<O>> = [];
      for (const item of items) {
        try {
          outcomes.push({ ok: true, value: (await flush([item]))[0] as O });
        } catch (alone) {
          outcomes.push({ ok: false, error: alone });
        }
      }
      return outcomes;
    }
  };
}

function valueOf<O>(outcome: Isolated<O>): O {
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

/** Reads a reply; a parser that throws all the same fails the task rather than looping on the message. */
async function readReply(delivery: Delivery): Promise<ReplyMessage> {
  try {
    return await parseReply(delivery.body, delivery.properties.contentType, delivery.properties.type, delivery.json);
  } catch (err) {
    return refusedResult({ code: 'invalid_result', message: `the result could not be read: ${(err as Error).message}` });
  }
}

export async function startRecorder(options: RecorderOptions): Promise<Recorder> {
  const { store, broker, logger } = options;
  const log = logger.child({ part: 'recorder' });
  const prefetch = options.prefetch ?? 256;
  const retryDelayMs = options.retryDelayMs ?? 1000;

  const maxAttempts = options.maxAttempts ?? 3;
  const limits = options.resultLimits ?? DEFAULT_RESULT_LIMITS;
  const publisher = options.publisher ?? createEventPublisher(broker, log, options.publicUrl !== undefined ? { publicUrl: options.publicUrl } : {});
  const publish = <T>(outcomes: T[], eventsOf: (o: T) => TaskEvent[]): T[] => {
    publisher.written(outcomes.flatMap(eventsOf));
    return outcomes;
  };
  const deadLetter = createDeadLetters(broker, log);
  const starts = createBatcher<StartedTask, Isolated<StartOutcome>>(
    isolating(async (tasks) => publish(await store.markStarted(tasks, maxAttempts), (o) => ('events' in o ? o.events : []))),
    { maxBatch: prefetch },
  );
  // The store writes each result alone itself when a batch fails for one of them.
  const completions = createBatcher<CompletedTask, CompletionOutcome>(
    async (tasks) => publish(await store.completeTasks(tasks), (o) => (o.kind === 'recorded' ? o.events : [])),
    { maxBatch: prefetch },
  );
  // One batch at a time keeps each attempt's progress in the order it was consumed.
  const progress = createBatcher<ProgressUpdate, Isolated<void>>(isolating(async (updates) => {
    publisher.written(await store.recordProgress(updates, maxAttempts));
    return updates.map(() => undefined);
  }), { maxBatch: prefetch, maxConcurrentFlushes: 1 });

  // A task's replies (Patavi's script message, the start report, the result) go to different
  // batches, or none, and would commit in any order: a result committed before its script made a
  // done task without its script, one committed before its start a task without its started
  // event. Each reply is tried once the task's earlier replies have been; other tasks' run on.
  // A reply handed back to the queue (the database was away) is applied again later: until then
  // the task's other replies go back too instead of overtaking it, those behind it here and those
  // that arrive after it went back alike (heldBack). Which of them the queue then delivers first
  // does not matter: only the handed-back one is applied.
  const underWay = new Map<string, Promise<Disposition | undefined>>();
  function inOrder(taskId: string, apply: () => Promise<Disposition>): Promise<Disposition> {
    const before = underWay.get(taskId);
    const run = before ? before.then(apply) : apply();
    const settled = run.catch(() => undefined);
    underWay.set(taskId, settled);
    void settled.then(() => { if (underWay.get(taskId) === settled) underWay.delete(taskId); });
    return run;
  }

  // A reply handed back stays ahead of its task's other replies, however late they arrive.
  const heldBack = createHeldBack({ forgetAfterMs: HELD_BACK_FORGET_MS });
  async function applyInTurn(taskId: string, delivery: Delivery): Promise<Disposition> {
    const key = (): string => messageKey(RESULT_QUEUE, delivery);
    if (heldBack.blocks(taskId, key)) {
      await pause(retryDelayMs);
      return 'requeue';
    }
    const disposition = await record(taskId, delivery).catch((err: unknown) => failed(RESULT_QUEUE, delivery, err, 'a reply'));
    if (disposition === 'requeue') heldBack.handedBack(taskId, key());
    else heldBack.settled(taskId, key);
    return disposition;
  }

  // Errors that say neither "database away" nor "bad data" (a bug, a driver surprise) get a few
  // tries per message, then the message is set aside: never an endless requeue loop.
  const unknownFailures = new Map<string, number>();
  function triesOfUnknown(delivery: Delivery, queue: string): number {
    // Computed on this rare path only: the same message, as redelivered, has the same key.
    const key = messageKey(queue, delivery);
    const tries = (unknownFailures.get(key) ?? 0) + 1;
    unknownFailures.delete(key);
    // Bounded: the oldest entries go first (a Map keeps insertion order).
    if (unknownFailures.size >= 10_000) unknownFailures.delete(unknownFailures.keys().next().value!);
    if (tries < MAX_TRIES_OF_UNKNOWN_ERRORS) unknownFailures.set(key, tries);
    return tries;
  }

  /** Stops a run that must not go on: its task ended (canceled, expired) or was given up. */
  async function stopRun(taskId: string, why: string): Promise<void> {
    log.info({ taskId }, `a worker started a task that ${why}; telling it to stop`);
    await broker.broadcast('control', encodeControl({ type: 'cancel', taskIds: [taskId] }));
  }

  async function announceEnd(taskId: string, status: TaskStatus): Promise<void> {
    const message = endMessage(taskId, status, `${options.publicUrl}/task/${taskId}/results`);
    await broker.publishStatus(endRoutingKey(taskId), Buffer.from(JSON.stringify(message)));
  }

  /**
   * The reply, with a result over the bounds (or with a file name no file may have, which
   * parseReply catches) turned into its task's failure: a worker may be hostile. A result message
   * larger than the whole result's bound is not even parsed.
   */
  async function checkedReply(delivery: Delivery): Promise<ReplyMessage> {
    const { type } = delivery.properties;
    if (type !== STARTED_TYPE) {
      const sizeError = resultSizeError(delivery.body.length, limits);
      if (sizeError) {
        log.warn({ taskId: delivery.properties.correlationId, bytes: delivery.body.length, max: limits.maxResultBytes }, 'result message over the size bound from a worker; the task fails');
        return refusedResult(sizeError);
      }
    }
    const reply = await readReply(delivery);
    const filesError = reply.kind === 'result' && reply.files.length > 0 ? resultFilesError(reply.files, limits) : undefined;
    if (!filesError) return reply;
    log.warn({ taskId: delivery.properties.correlationId, code: filesError.code, err: filesError.message }, 'result over its bounds from a worker; the task fails');
    return refusedResult(filesError);
  }

  async function record(taskId: string, delivery: Delivery): Promise<Disposition> {
    const reply = await checkedReply(delivery);
    switch (reply.kind) {
      case 'script':
        await store.saveScript(taskId, reply.script);
        return 'ack';
      case 'started': {
        const outcome = valueOf(await starts.add({ id: taskId, worker: reply.worker, script: reply.script, runId: header(delivery, RUN_HEADER), resumed: reply.resumed, startedAt: startedAtOf(delivery) }));
        if (outcome.kind === 'ended') await stopRun(taskId, `had already ended (${outcome.status})`);
        if (outcome.kind === 'gave-up') await stopRun(taskId, `has now failed with worker_lost after ${maxAttempts} attempts`);
        return 'ack';
      }
      case 'result': {
        const outcome = await completions.add({
          id: taskId, status: reply.status, index: reply.index, ...(reply.indexText !== undefined ? { indexText: reply.indexText } : {}), files: reply.files, error: reply.error, console: consoleOf(delivery),
          runId: header(delivery, RUN_HEADER), worker: header(delivery, WORKER_HEADER), lastProgress: lastProgressOf(delivery),
          cacheable: header(delivery, NO_CACHE_HEADER) !== 'true', version: header(delivery, VERSION_HEADER),
          script: scriptOf(delivery),
          carriesStart: header(delivery, STARTED_AT_HEADER) !== null,
          startedAt: startedAtOf(delivery),
        });
        if (outcome.kind === 'not-recorded') throw outcome.error;
        if (outcome.kind === 'unknown-task') {
          log.info({ taskId }, 'result for a task that no longer exists; ignored');
          return 'ack';
        }
        if (outcome.kind === 'already-ended') log.info({ taskId, status: outcome.status }, 'result for a task that had already ended; ignored');
        else {
          log.debug({ taskId, status: outcome.status }, 'result recorded');
          const end = options.observer && outcome.events.find((e) => e.type === outcome.status);
          if (end) options.observer!.recorded(end.service, outcome.status);
        }
        // The first recording's end goes out with its events; a repeat is announced again, in case
        // a recorder died between commit and announcement.
        if (outcome.kind === 'already-ended') await announceEnd(taskId, outcome.status);
        return 'ack';
      }
    }
  }

  /** A failure to write: the database away hands the message back after a pause; anything else sets it aside. */
  async function failed(queue: string, delivery: Delivery, err: unknown, what: string): Promise<Disposition> {
    const message = (err as Error | null)?.message ?? String(err);
    const nature = errorNature(err);
    if (nature === 'data') return deadLetter(queue, delivery, `${what} can never be recorded: ${message}`);
    if (nature === 'unknown' && triesOfUnknown(delivery, queue) >= MAX_TRIES_OF_UNKNOWN_ERRORS) {
      return deadLetter(queue, delivery, `${what} could not be recorded in ${MAX_TRIES_OF_UNKNOWN_ERRORS} tries: ${message}`);
    }
    log.warn({ err: message, taskId: delivery.properties.correlationId }, `could not record ${what}; it goes back to the queue`);
    await pause(retryDelayMs);
    return 'requeue';
  }

  const subscription: Subscription = await broker.consume(
    RESULT_QUEUE,
    async (delivery) => {
      const taskId = delivery.properties.correlationId;
      if (!isIssuableTaskId(taskId)) {
        return deadLetter(RESULT_QUEUE, delivery, `reply without a valid task id (correlation_id ${JSON.stringify(taskId ?? null)})`);
      }
      // Taken in arrival order, before anything is awaited.
      return inOrder(taskId, () => applyInTurn(taskId, delivery));
    },
    { prefetch },
  );
  const progressSubscription = await broker.consume(
    PROGRESS_QUEUE,
    async (delivery) => {
      const update = progressOf(delivery);
      if (!update) return deadLetter(PROGRESS_QUEUE, delivery, 'not a progress message: a JSON object with a task id (in it or in the routing key) and eventType "progress" (or "console" with eventData.text)');
      try {
        valueOf(await progress.add(update));
        return 'ack';
      } catch (err) {
        return failed(PROGRESS_QUEUE, delivery, err, 'progress');
      }
    },
    { prefetch, statusBindings: ['*.status', '*.console'] },
  );
  log.info({ queues: [RESULT_QUEUE, PROGRESS_QUEUE], prefetch }, 'recorder consuming');

  return {
    async close() {
      await Promise.all([subscription.close(), progressSubscription.close()]);
      await Promise.all([starts.drain(), completions.drain(), progress.drain()]);
      if (!options.publisher) await publisher.close();
      else await publisher.flush();
    },
  };
}
