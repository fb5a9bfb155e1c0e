/**
 * Errand's typed client for browsers and Node (global `fetch`, nothing else): submit, read, list,
 * watch, wait, cancel and delete tasks, read results and files, and list services. Errors carry
 * Errand's codes (errors.ts). `watch` follows a task's event stream and resumes after a dropped
 * connection from the last event it handed out, so nothing is missed or repeated.
 */
import { ErrandApiError, ErrandConnectionError, errorFromResponse, isTransient } from './errors.ts';
import { readServerSentEvents } from './sse.ts';
import { TERMINAL_EVENT_TYPES, TERMINAL_STATUSES } from './types.ts';
import type { ServiceDetail, ServiceStats, ServiceSummary, TaskDescription, TaskEvent, TaskFilter, TaskPage, WorkerView } from './types.ts';

export interface ClientOptions {
  /**
   * Errand's address (`https://errand.example.org`, with a path when Errand is served under one),
   * or a task link holding an access token (`.../access/<token>/task/<id>`): the client then reads
   * that one task with no other credential.
   */
  url: string;
  /** An API key or a token (JWT), sent as `Authorization: Bearer`. */
  key?: string;
  /** Kept with submitted tasks as their client's name (`x-client-name`). */
  clientName?: string;
  /** The fetch to use; the global one by default. */
  fetch?: typeof globalThis.fetch;
  /**
   * How `watch` waits between reconnects: from `minMs`, doubling, to `maxMs` (250 ms to 5 s); it
   * gives up, with the last error, after `maxAttempts` in a row that got no event (120: about ten
   * minutes; Infinity never gives up). Call `watch` again with `since` to go on.
   */
  reconnect?: { minMs?: number; maxMs?: number; maxAttempts?: number };
}

export interface SubmitOptions {
  /** How long the task is kept once ended (ISO 8601 duration, such as `PT1H`). */
  ttl?: string;
  /** The latest the task may start (ISO 8601 duration from now, or a date-time). */
  deadline?: string;
  /** false: run even when an equal task's result is cached. */
  cache?: boolean;
  /** A URL the result is POSTed to once the task ends (allowed hosts only). */
  callback?: string;
  signal?: AbortSignal;
}

export interface WatchOptions {
  /** Start after this event id (the last one you handled); from the task's first event by default. */
  since?: number;
  signal?: AbortSignal;
  /** Called each time the stream is opened again after a drop, with the error that dropped it. */
  onReconnect?: (error: unknown, attempt: number) => void;
}

export interface WaitOptions extends WatchOptions {
  /** Each event as it arrives (progress, start, the end). */
  onEvent?: (event: TaskEvent) => void;
}

/** Input sent exactly as written: its key order and number spelling (`1.0`) kept. */
export class JsonText {
  constructor(readonly text: string) {}
}

interface RequestOptions {
  query?: URLSearchParams;
  body?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

const ACCESS_PATH = /^(.*?\/access\/[^/]+)(?:\/(.*))?$/;
const TASK_IN_PATH = /^task\/([0-9a-f]{16})(?:\/|$)/;

/** Where requests go, and the task a task link was for. */
export function parseClientUrl(url: string): { base: string; linkTaskId?: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`url must be an absolute http(s) URL, got ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError(`url must be http or https, got ${parsed.protocol}`);
  const access = ACCESS_PATH.exec(parsed.pathname);
  if (access) {
    const taskId = TASK_IN_PATH.exec(access[2] ?? '')?.[1];
    return { base: parsed.origin + access[1]!, ...(taskId ? { linkTaskId: taskId } : {}) };
  }
  return { base: parsed.origin + parsed.pathname.replace(/\/+$/, '') };
}

const pause = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

function checkTaskId(id: string): string {
  if (typeof id !== 'string' || !/^[0-9a-f]{16}$/.test(id)) throw new TypeError(`a task id is 16 lower-case hex digits, got ${JSON.stringify(id)}`);
  return id;
}

export class ErrandClient {
  /** Where requests go: Errand's address, or a task link's `.../access/<token>`. */
  readonly base: string;
  /** The task a task link was for, when the client was made from one. */
  readonly linkTaskId: string | undefined;
  readonly #key: string | undefined;
  readonly #clientName: string | undefined;
  readonly #fetch: typeof globalThis.fetch;
  readonly #reconnectMinMs: number;
  readonly #reconnectMaxMs: number;
  readonly #reconnectMaxAttempts: number;

  constructor(options: ClientOptions) {
    const { base, linkTaskId } = parseClientUrl(options.url);
    // Refused here rather than by fetch on every call (which a watch would take for a lost connection).
    if (options.key && !/^[\x21-\x7e]+$/.test(options.key)) throw new TypeError('key must be printable ASCII with no spaces (an API key or a token)');
    this.base = base;
    this.linkTaskId = linkTaskId;
    this.#key = options.key || undefined;
    this.#clientName = options.clientName;
    // Called unbound: some browsers refuse fetch called as a method of another object.
    const f = options.fetch ?? globalThis.fetch;
    this.#fetch = (input, init) => f(input, init);
    this.#reconnectMinMs = options.reconnect?.minMs ?? 250;
    this.#reconnectMaxMs = options.reconnect?.maxMs ?? 5000;
    this.#reconnectMaxAttempts = options.reconnect?.maxAttempts ?? 120;
  }

  /** The URL of a path under the client's base (`/task/<id>`, ...). */
  url(path: string, query?: URLSearchParams): string {
    const search = query && [...query.keys()].length > 0 ? `?${query}` : '';
    return `${this.base}${path}${search}`;
  }

  /** The headers every request carries: the credential and the client's name. */
  headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      ...(this.#key ? { authorization: `Bearer ${this.#key}` } : {}),
      ...(this.#clientName ? { 'x-client-name': this.#clientName } : {}),
      ...extra,
    };
  }

  /** A request whose answer is 2xx (or 204/304), else the server's error as ErrandApiError. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    let response: Response;
    try {
      response = await this.#fetch(this.url(path, options.query), {
        method,
        headers: this.headers({ ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers }),
        ...(options.body !== undefined ? { body: options.body } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw new ErrandConnectionError(`${method} ${this.url(path)} failed: ${(err as Error).message ?? err}`, { cause: err });
    }
    if (!response.ok) throw await errorFromResponse(response);
    return response;
  }

  async #json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.request(method, path, { ...options, headers: { accept: 'application/json', ...options.headers } });
    try {
      return (await response.json()) as T;
    } catch (err) {
      throw new ErrandConnectionError(`${method} ${this.url(path)}: the answer was not complete JSON: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Submits a task: its description as stored (`status` is `queued`, or `done` on a cache hit). */
  submit(service: string, input: unknown, options: SubmitOptions = {}): Promise<TaskDescription> {
    if (typeof service !== 'string' || service === '') throw new TypeError('service must be a service name');
    const query = new URLSearchParams({ service });
    if (options.ttl !== undefined) query.set('ttl', options.ttl);
    if (options.deadline !== undefined) query.set('deadline', options.deadline);
    if (options.cache === false) query.set('cache', 'false');
    if (options.callback !== undefined) query.set('callback', options.callback);
    const body = input instanceof JsonText ? input.text : JSON.stringify(input ?? {});
    return this.#json('POST', '/task', { query, body, signal: options.signal });
  }

  /** The task's description: status, times, progress, error and links. */
  get(id: string, options: { signal?: AbortSignal } = {}): Promise<TaskDescription> {
    return this.#json('GET', `/task/${checkTaskId(id)}`, { signal: options.signal });
  }

  /** One page of `GET /tasks`, newest first; pass `next` back as `cursor` for the following page. */
  async listPage(filter: TaskFilter = {}, cursor?: string, options: { signal?: AbortSignal } = {}): Promise<TaskPage> {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(filter)) {
      if (value === undefined || value === null || value === '') continue;
      for (const one of Array.isArray(value) ? value : [value]) query.append(name, String(one));
    }
    if (cursor) query.set('cursor', cursor);
    const page = await this.#json<{ tasks: TaskDescription[]; _links?: { next?: { href: string } } }>('GET', '/tasks', { query, signal: options.signal });
    // The server's link may name another host (its public URL): only its cursor is taken.
    const next = page._links?.next ? new URL(page._links.next.href).searchParams.get('cursor') ?? undefined : undefined;
    return { tasks: page.tasks, ...(next ? { next } : {}) };
  }

  /** Every task matching the filter, newest first, a page at a time. */
  async *list(filter: TaskFilter = {}, options: { signal?: AbortSignal } = {}): AsyncGenerator<TaskDescription> {
    let cursor: string | undefined;
    do {
      const page = await this.listPage(filter, cursor, options);
      yield* page.tasks;
      cursor = page.next;
    } while (cursor);
  }

  /**
   * The task's events in order, from its first (or after `since`), ending after its terminal event
   * (done, failed, canceled, expired). A dropped connection or a server restart is resumed from the
   * last event handed out, so none is missed or repeated; refusals (401, 404, ...) are thrown.
   */
  async *watch(id: string, options: WatchOptions = {}): AsyncGenerator<TaskEvent> {
    checkTaskId(id);
    let last = options.since;
    let attempt = 0;
    for (;;) {
      let dropped: unknown;
      try {
        const response = await this.request('GET', `/task/${id}/events`, {
          headers: { accept: 'text/event-stream', ...(last !== undefined ? { 'last-event-id': String(last) } : {}) },
          signal: options.signal,
        });
        // 204: everything up to the task's end has been seen.
        if (response.status === 204 || !response.body) return;
        for await (const message of readServerSentEvents(response.body)) {
          if (message.event === 'error') {
            const error = parseStreamError(message.data);
            // A credential that ran out will not come back by reconnecting.
            if (error.code === 'unauthorized') throw new ErrandApiError(401, error.code, error.message);
            dropped = new ErrandApiError(503, error.code, error.message);
            break;
          }
          const event = parseEvent(message.data);
          if (last !== undefined && event.id <= last) continue;
          last = event.id;
          attempt = 0;
          yield event;
          if (TERMINAL_EVENT_TYPES.has(event.type)) return;
        }
        dropped ??= new ErrandConnectionError('the event stream ended before the task did');
      } catch (err) {
        if (options.signal?.aborted) throw options.signal.reason;
        // Only a lost connection or a busy server is waited out; a refusal or a bug is thrown.
        if (!isTransient(err)) throw err;
        dropped = err;
      }
      attempt++;
      if (attempt > this.#reconnectMaxAttempts) throw dropped;
      options.onReconnect?.(dropped, attempt);
      await pause(Math.min(this.#reconnectMaxMs, this.#reconnectMinMs * 2 ** (attempt - 1)), options.signal);
    }
  }

  /** Waits for the task to end and answers its final description; events go to `onEvent` meanwhile. */
  async wait(id: string, options: WaitOptions = {}): Promise<TaskDescription> {
    const now = await this.get(id, options);
    if (TERMINAL_STATUSES.has(now.status)) return now;
    for await (const event of this.watch(id, options)) options.onEvent?.(event);
    return this.get(id, options);
  }

  /** The result as JSON (for a multi-file result, its index); 404 `not_found` until the task ended. */
  results(id: string, options: { signal?: AbortSignal } = {}): Promise<unknown> {
    return this.#json('GET', `/task/${checkTaskId(id)}/results`, { signal: options.signal });
  }

  /** The result exactly as the script wrote it (key order and number spelling kept). */
  async resultsText(id: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    return (await this.request('GET', `/task/${checkTaskId(id)}/results`, { signal: options.signal })).text();
  }

  /** One file of a multi-file result, as a fetch Response (read it with .blob(), .arrayBuffer(), .body). */
  file(id: string, name: string, options: { signal?: AbortSignal } = {}): Promise<Response> {
    return this.request('GET', `/task/${checkTaskId(id)}/results/${encodeURIComponent(name)}`, { signal: options.signal });
  }

  /** The input as submitted, as JSON. */
  input(id: string, options: { signal?: AbortSignal } = {}): Promise<unknown> {
    return this.#json('GET', `/task/${checkTaskId(id)}/task`, { signal: options.signal });
  }

  /** The input exactly as it was submitted (key order and number spelling kept). */
  async inputText(id: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    return (await this.request('GET', `/task/${checkTaskId(id)}/task`, { signal: options.signal })).text();
  }

  /** What the script printed (the last 32 KB), or null when it printed nothing. */
  async console(id: string, options: { signal?: AbortSignal } = {}): Promise<string | null> {
    try {
      return await (await this.request('GET', `/task/${checkTaskId(id)}/console`, { signal: options.signal })).text();
    } catch (err) {
      if (err instanceof ErrandApiError && err.status === 404) return null;
      throw err;
    }
  }

  /** Cancels a queued or running task: its description, now `canceled`. 409 `task_ended` if it had ended. */
  cancel(id: string, options: { signal?: AbortSignal } = {}): Promise<TaskDescription> {
    return this.#json('POST', `/task/${checkTaskId(id)}/cancel`, { signal: options.signal });
  }

  /** Removes the task, its result and files (cancelling it first if it has not ended). */
  async delete(id: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.request('DELETE', `/task/${checkTaskId(id)}`, { signal: options.signal });
  }

  /** The services the workers announce. */
  async services(options: { signal?: AbortSignal } = {}): Promise<ServiceSummary[]> {
    return (await this.#json<{ services: ServiceSummary[] }>('GET', '/services', { signal: options.signal })).services;
  }

  /** One service with its input schema, example, docs, workers and queue. */
  service(name: string, options: { signal?: AbortSignal } = {}): Promise<ServiceDetail> {
    return this.#json('GET', `/services/${encodeURIComponent(name)}`, { signal: options.signal });
  }

  /** A service's capacity figures: queue, slots, rates, expected wait (needs a read scope). */
  serviceStats(name: string, options: { signal?: AbortSignal } = {}): Promise<ServiceStats> {
    return this.#json('GET', `/services/${encodeURIComponent(name)}/stats`, { signal: options.signal });
  }

  /** The workers heard from lately (operators only: `read:all` or `admin`). */
  async workers(options: { signal?: AbortSignal } = {}): Promise<WorkerView[]> {
    return (await this.#json<{ workers: WorkerView[] }>('GET', '/workers', { signal: options.signal })).workers;
  }
}

/** An event as the stream sends it; anything else is the server's fault, not the connection's: thrown. */
function parseEvent(data: string): TaskEvent {
  let event: unknown;
  try {
    event = JSON.parse(data);
  } catch {
    event = undefined;
  }
  const e = event as Partial<TaskEvent> | undefined;
  if (!e || typeof e !== 'object' || typeof e.id !== 'number' || typeof e.type !== 'string' || typeof e.taskId !== 'string') {
    throw new ErrandApiError(500, 'invalid_event', `the event stream sent something that is not an event: ${data.slice(0, 200)}`);
  }
  return e as TaskEvent;
}

function parseStreamError(data: string): { code: string; message: string } {
  try {
    const parsed = JSON.parse(data) as { code?: unknown; message?: unknown };
    if (typeof parsed.code === 'string') return { code: parsed.code, message: typeof parsed.message === 'string' ? parsed.message : parsed.code };
  } catch {
    // fall through
  }
  return { code: 'stream_error', message: data };
}

/** A client for Errand at `options.url` (see ClientOptions). */
export function createClient(options: ClientOptions | string): ErrandClient {
  return new ErrandClient(typeof options === 'string' ? { url: options } : options);
}
