/**
 * Patavi's wire messages (see docs/protocol.md): the shapes a worker, the recorder and the servers
 * exchange over the broker. Pure builders and parsers; the broker adapters move the bytes.
 */
import type { TaskError, TaskStatus } from './task.ts';
import { pataviTerminalEvent } from './task.ts';
import { invalidFileNameError, resultFileNameProblem } from './result-limits.ts';

/** Queue every result (and script message) goes to: the tasks' reply_to. */
export const RESULT_QUEUE = 'rpc_result';
/** Topic exchange for progress (`<id>.status`) and end (`<id>.end`) events. */
export const STATUS_EXCHANGE = 'rpc_status';
/** AMQP `type` property marking Errand's "a worker started this task" message on the reply queue. */
export const STARTED_TYPE = 'errand.started';
/** Header on a result message carrying what the script printed (bounded), kept with the task. */
export const CONSOLE_HEADER = 'x-errand-console';
/** Headers of Errand's worker messages: the attempt's token, its worker, and the progress order within it. */
export const RUN_HEADER = 'x-errand-run';
export const WORKER_HEADER = 'x-errand-worker';
export const SEQ_HEADER = 'x-errand-seq';
/** On a result: the attempt's last progress value (JSON), with its SEQ_HEADER, recorded before the end if it has not been. */
export const LAST_PROGRESS_HEADER = 'x-errand-last-progress';
/** On a result: `true` when the script said it must not be served from the result cache. */
export const NO_CACHE_HEADER = 'x-errand-no-cache';
/** On a result: the version of the service that produced it (a cache entry keyed for another version is dropped). */
export const VERSION_HEADER = 'x-errand-version';
/** On a result that carries its own start (no start report was sent): the script the run used, as the start report would have. */
export const SCRIPT_HEADER = 'x-errand-script';
/** On a result that carries its own start: when the run started (ISO). A run the task is not recorded under is then a new attempt. */
export const STARTED_AT_HEADER = 'x-errand-started-at';
/** Header on a task message: the ISO time after which it must not start (it has expired). */
export const DEADLINE_HEADER = 'x-errand-deadline';
/** Durable queue bound to `rpc_status` (`*.status`, `*.console`) from which recorders keep progress and console output. */
export const PROGRESS_QUEUE = 'errand.progress';

export type UpdateEventType = 'progress' | 'done' | 'failed';

export interface UpdateMessage { taskId: string; eventType: UpdateEventType; eventData: unknown }

export function progressMessage(taskId: string, eventData: unknown): UpdateMessage {
  return { taskId, eventType: 'progress', eventData };
}

export function endMessage(taskId: string, status: TaskStatus, resultsHref: string): UpdateMessage {
  return { taskId, eventType: pataviTerminalEvent(status), eventData: { href: resultsHref } };
}

export const statusRoutingKey = (taskId: string): string => `${taskId}.status`;
/**
 * What a running task prints, as it prints it, travels under `<id>.console`: a key of its own, so
 * that a Patavi server listening on `<id>.status` never hands its clients an event type they do
 * not know.
 */
export const consoleRoutingKey = (taskId: string): string => `${taskId}.console`;
export const CONSOLE_EVENT_TYPE = 'console';

/** The most one console message carries: a worker sends more as several; a recorder cuts a larger one. */
export const MAX_CONSOLE_CHUNK_BYTES = 8 * 1024;

/** The first `size` bytes of `text` (UTF-8) at most, never splitting a character. */
export function firstBytes(text: string, size: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= size) return text;
  let end = Math.max(0, size);
  // Step back over continuation bytes so the cut never splits a character.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

/** `text` in pieces of at most `size` bytes, never splitting a character (a character longer than `size` ends it). */
export function splitByBytes(text: string, size: number): string[] {
  const pieces: string[] = [];
  let rest = text;
  while (rest !== '') {
    const piece = firstBytes(rest, size);
    if (piece === '') break;
    pieces.push(piece);
    rest = rest.slice(piece.length);
  }
  return pieces;
}

/** The first `limit` bytes of `text` (UTF-8), never splitting a character, marked when cut. */
export function headOfText(text: string, limit: number): string {
  const head = firstBytes(text, limit);
  return head === text ? text : `${head}[… ${Buffer.byteLength(text, 'utf8') - Buffer.byteLength(head, 'utf8')} bytes cut]`;
}

export interface ConsoleMessage { taskId: string; eventType: typeof CONSOLE_EVENT_TYPE; eventData: { text: string } }

export function consoleMessage(taskId: string, text: string): ConsoleMessage {
  return { taskId, eventType: CONSOLE_EVENT_TYPE, eventData: { text } };
}
export const endRoutingKey = (taskId: string): string => `${taskId}.end`;

/** The index Patavi's worker sends for a failure, with Errand's structured error added. */
export function failureIndex(error: TaskError): { status: 'failed'; cause: string; error: TaskError } {
  return { status: 'failed', cause: error.message, error };
}

export interface ResultFile { name: string; contentType: string; content: Buffer }

export type ReplyMessage =
  | { kind: 'script'; script: string }
  | { kind: 'started'; worker: string | null; script: string | null; resumed: boolean }
  | { kind: 'result'; status: 'done' | 'failed'; index: unknown; files: ResultFile[]; error: TaskError | null; indexText?: string };

function invalid(message: string): ReplyMessage {
  const error = { code: 'invalid_result', message };
  return { kind: 'result', status: 'failed', index: failureIndex(error), files: [], error };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Patavi's script message is exactly `{"script": "<source>"}`; a result that merely has a script field stays a result. */
function isScriptMessage(index: unknown): index is { script: string } {
  return isObject(index) && typeof index.script === 'string' && Object.keys(index).length === 1;
}

/**
 * The reply for `index`; `text` is the index as the worker wrote it, when the bytes came through
 * (kept as written: key order, number spelling).
 */
function fromIndex(index: unknown, files: ResultFile[], text?: string): ReplyMessage {
  if (isScriptMessage(index)) return { kind: 'script', script: index.script };
  if (isObject(index) && index.status === 'failed') {
    const detail = isObject(index.error) ? index.error : {};
    const error: TaskError = {
      code: typeof detail.code === 'string' ? detail.code : 'script_error',
      message: typeof index.cause === 'string' ? index.cause : typeof detail.message === 'string' ? detail.message : 'the task failed',
      ...(detail.detail !== undefined ? { detail: detail.detail } : {}),
    };
    return { kind: 'result', status: 'failed', index, files, error, ...(text !== undefined ? { indexText: text } : {}) };
  }
  return { kind: 'result', status: 'done', index, files, error: null, ...(text !== undefined ? { indexText: text } : {}) };
}

function parseJson(body: Buffer, what: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) };
  } catch (err) {
    return { ok: false, message: `${what} is not valid JSON: ${(err as Error).message}` };
  }
}

/**
 * Reads one message from the reply queue (`parsed`: the body already parsed as JSON, if it was). Never throws: a message that cannot be understood
 * becomes a failed result with code `invalid_result`, so the task ends instead of hanging.
 */
export async function parseReply(
  body: Buffer,
  contentType: string | undefined,
  type: string | undefined,
  parsed?: { value: unknown },
): Promise<ReplyMessage> {
  if (type === STARTED_TYPE) {
    const started = parsed ? { ok: true as const, value: parsed.value } : parseJson(body, 'started message');
    const value = started.ok && isObject(started.value) ? started.value : {};
    const worker = typeof value.worker === 'string' ? value.worker : null;
    const script = typeof value.script === 'string' ? value.script : null;
    return { kind: 'started', worker, script, resumed: value.resumed === true };
  }
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType === 'application/json') {
    if (parsed) return fromIndex(parsed.value, []);
    const result = parseJson(body, 'result');
    return result.ok ? fromIndex(result.value, [], body.toString('utf8')) : invalid(result.message);
  }
  if (mediaType === 'multipart/form-data') return parseMultipart(body, contentType!);
  return invalid(`result has content type ${JSON.stringify(contentType ?? null)}; expected application/json or multipart/form-data`);
}

async function parseMultipart(body: Buffer, contentType: string): Promise<ReplyMessage> {
  let form: FormData;
  try {
    form = await new Response(new Uint8Array(body), { headers: { 'content-type': contentType } }).formData();
  } catch (err) {
    return invalid(`multipart result could not be parsed: ${(err as Error).message}`);
  }
  let index: unknown = {};
  let indexText: string | undefined;
  const files: ResultFile[] = [];
  for (const [field, value] of form.entries()) {
    if (typeof value === 'string') {
      if (field !== 'index') continue; // Patavi ignores non-file fields; an inline index is accepted too
      const parsed = parseJson(Buffer.from(value), 'multipart index');
      if (!parsed.ok) return invalid(parsed.message);
      index = parsed.value;
      indexText = value;
      continue;
    }
    const content = Buffer.from(await value.arrayBuffer());
    if (field === 'index') {
      const parsed = parseJson(content, 'multipart index');
      if (!parsed.ok) return invalid(parsed.message);
      index = parsed.value;
      indexText = content.toString('utf8');
      continue;
    }
    // Workers may be hostile: a name is checked here as the worker checked it before sending.
    const name = value.name;
    const problem = resultFileNameProblem(name);
    if (problem) return invalid(invalidFileNameError(name, problem).message);
    if (files.some((file) => file.name === name)) return invalid(`result has two files named ${JSON.stringify(name)}`);
    files.push({ name, contentType: value.type || 'application/octet-stream', content });
  }
  return fromIndex(index, files, indexText);
}

/** Builds a multipart result the way Patavi's worker does: an `index` part, then one `file` part per file. */
export async function buildMultipart(index: unknown, files: ResultFile[], indexText?: string): Promise<{ body: Buffer; contentType: string }> {
  const form = new FormData();
  form.append('index', new Blob([indexText ?? JSON.stringify(index)], { type: 'application/json' }), 'index.json');
  for (const file of files) form.append('file', new Blob([new Uint8Array(file.content)], { type: file.contentType }), file.name);
  const response = new Response(form);
  return { body: Buffer.from(await response.arrayBuffer()), contentType: response.headers.get('content-type')! };
}
