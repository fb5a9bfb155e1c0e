/**
 * Server-sent events: `GET /events?task=&service=&type=&since=|last=` and `GET /task/:id/events`.
 * Each event goes out with its id, so a browser's EventSource resumes by itself (it sends
 * `Last-Event-ID`). A task's own stream replays the task from its first event and ends after its
 * terminal one; asked again once the client has everything, it answers 204, which tells
 * EventSource to stop reconnecting.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrandError, isTerminal, TERMINAL_EVENT_TYPES } from '../../core/index.ts';
import type { EventFilter, TaskEvent } from '../../core/index.ts';
import type { RouteContext } from '../context.ts';
import { eventText, openEventStream, SlowConsumerError } from '../event-stream.ts';
import type { StreamStart } from '../event-stream.ts';
import { parseFilter, parseStart, QUERY_FILTER_FIELDS } from '../stream-request.ts';
import { streamClient } from '../stream-limits.ts';
import { issuedTaskId } from './ids.ts';
import { content, errors, EVENT_STREAM_HEADERS, EVENTS_QUERY, ID_PARAMS, SWITCHING_PROTOCOLS, TASK_EVENTS_QUERY } from '../api-schemas.ts';
import { taskCacheControl } from '../cache-control.ts';
import { narrowForCaller, notFound, readerOf } from '../access.ts';
import { closeAtExpiry } from '../stream-expiry.ts';
import type { Caller } from '../../core/index.ts';

export interface EventSourceSettings {
  maxBufferedBytes: number;
  /** Comment lines keep idle streams open through proxies (default 15 s). */
  keepAliveMs: number;
}

type Query = Record<string, unknown>;

function lastEventId(request: FastifyRequest): number | undefined {
  const header = request.headers['last-event-id'];
  if (header === undefined || header === '') return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (!value || !/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new ErrandError('invalid_field', `Last-Event-ID must be an event id, got ${JSON.stringify(value)}`, 'Last-Event-ID');
  }
  return Number(value);
}

/** Last-Event-ID (a reconnect) wins over the query's starting point. */
function startOf(request: FastifyRequest, fallback: StreamStart): StreamStart {
  const query = request.query as Query;
  const resumed = lastEventId(request);
  if (resumed !== undefined) return { since: resumed };
  const asked = parseStart(query.since, query.last);
  return asked.since !== undefined || asked.last !== undefined ? asked : fallback;
}

/** `GET /events`: SSE to a plain request, the WebSocket (events-ws.ts) to an upgrade. */
export const EVENTS_ROUTE_SCHEMA = {
  operationId: 'streamEvents', tags: ['events'], summary: 'The event log as a stream: server-sent events, or a WebSocket',
  description: 'A plain GET answers server-sent events matching the query, resumable with Last-Event-ID. A WebSocket upgrade opens a socket carrying several filtered subscriptions (subscribe, unsubscribe, ack messages). Only events of tasks the caller may read. See docs/events.md.',
  querystring: EVENTS_QUERY, headers: EVENT_STREAM_HEADERS,
  response: {
    101: SWITCHING_PROTOCOLS,
    200: content('text/event-stream', { type: 'string' }, 'The event stream: `id`, `event` (the type) and `data` (the event as JSON) per event.'),
    ...errors(400, 401, 403, 429, 503),
  },
};

/** Registers `GET /task/:id/events`; returns the handler of `GET /events`, which shares its route with the WebSocket. */
export function registerEventSourceRoutes(app: FastifyInstance, ctx: RouteContext, settings: EventSourceSettings): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const caching = taskCacheControl(ctx.settings);
  const open = new Set<{ keepAlive(): void; end(): void }>();
  const timer = setInterval(() => open.forEach((stream) => stream.keepAlive()), settings.keepAliveMs);
  timer.unref();
  // Streams are ended at shutdown (EventSource reconnects with Last-Event-ID), so that close does not wait for clients.
  app.addHook('preClose', async () => {
    clearInterval(timer);
    [...open].forEach((stream) => stream.end());
  });

  async function stream(request: FastifyRequest, reply: FastifyReply, caller: Caller, filter: EventFilter, start: StreamStart, endAfterTerminal: boolean): Promise<void> {
    const raw = reply.raw;
    // The client's SSE cap (429 before anything is sent); the slot is given back when the
    // response closes, however far the stream got.
    const release = ctx.streams.acquire('sse', streamClient(request));
    raw.once('close', release);
    let events: Awaited<ReturnType<typeof openEventStream>> | undefined;
    let ended = false;
    let expiry = { cancel() {} };
    const finish = (): void => {
      if (ended) return;
      ended = true;
      expiry.cancel();
      open.delete(handle);
      events?.close();
      raw.end();
    };
    const handle = { keepAlive: () => { if (!ended) raw.write(': keep-alive\n\n'); }, end: () => finish() };
    const write = (event: TaskEvent): void => {
      if (ended) return;
      raw.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${eventText(event)}\n\n`);
      if (raw.writableLength > settings.maxBufferedBytes) {
        raw.write(`event: error\ndata: ${JSON.stringify({ code: 'slow_consumer', message: `too slow: reconnect with Last-Event-ID ${event.id} or your last event id` })}\n\n`);
        return finish();
      }
      if (endAfterTerminal && TERMINAL_EVENT_TYPES.has(event.type)) finish();
    };
    events = await openEventStream(ctx.events, ctx.store, filter, start, {
      write: (batch) => batch.forEach(write),
      ready: () => (raw.writableNeedDrain ? new Promise((resolve) => raw.once('drain', resolve)) : Promise.resolve()),
      get open() { return !ended; },
    });
    // Set on the reply too, so that its hooks see a stream (the request-duration metric leaves streams out).
    void reply.header('content-type', 'text/event-stream; charset=utf-8');
    reply.hijack();
    raw.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': caching.stream,
      'x-accel-buffering': 'no',
      // A stream's connection is not reused: once it ends (the task's end, shutdown) it closes, so a
      // client that stopped reading without closing it cannot hold a closing server for the
      // keep-alive timeout.
      connection: 'close',
    });
    raw.write(`retry: 2000\n: from ${events.from}${events.truncated ? ' (older events were trimmed)' : ''}\n\n`);
    open.add(handle);
    // The credential's end ends the stream: EventSource reconnects, and is asked for a fresh one.
    expiry = closeAtExpiry(caller, () => {
      if (!ended) raw.write(`event: error\ndata: ${JSON.stringify({ code: 'unauthorized', message: 'the credential this stream was opened with has expired' })}\n\n`);
      finish();
    });
    raw.on('close', finish); // the client went away (or the response ended)
    if (raw.destroyed) return finish(); // it went away while the stream was being opened
    try {
      await events.replay();
    } catch (err) {
      if (err instanceof SlowConsumerError) raw.write(`event: error\ndata: ${JSON.stringify({ code: 'slow_consumer', message: 'too slow: reconnect with Last-Event-ID' })}\n\n`);
      else request.log.warn({ err: (err as Error).message }, 'event stream replay failed');
      finish();
    }
  }


  // No HEAD twin: it would take a stream slot and hold a stream open that sends no body.
  app.get<{ Params: { id: string } }>('/task/:id/events', {
    exposeHeadRoute: false,
    schema: {
      operationId: 'streamTaskEvents', tags: ['events'], summary: 'A task\'s events as server-sent events',
      description: 'The task\'s events from its first (or after Last-Event-ID), ending after its terminal one. See docs/events.md.',
      params: ID_PARAMS, querystring: TASK_EVENTS_QUERY, headers: EVENT_STREAM_HEADERS,
      response: {
        200: content('text/event-stream', { type: 'string' }, 'The event stream: `id`, `event` (the type) and `data` (the event as JSON) per event.'),
        204: { type: 'null', description: 'The client already has every event of this ended task: EventSource stops reconnecting.' },
        ...errors(400, 401, 403, 404, 429, 503),
      },
    },
  }, async (request, reply) => {
    const id = issuedTaskId(request.params.id);
    const query = request.query as Query;
    const filter = { ...parseFilter({ types: query.type }, '', QUERY_FILTER_FIELDS), tasks: new Set([id]) };
    const start = startOf(request, { since: 0 });
    const { caller, owner } = await readerOf(ctx.auth, request, id);
    const task = await ctx.store.getTask(id);
    if (!task || (owner !== undefined && task.owner !== owner)) throw notFound(id);
    if (isTerminal(task.status)) {
      const [last] = await ctx.store.lastEvents({ tasks: new Set([id]) }, Number.MAX_SAFE_INTEGER, 1);
      if (start.since !== undefined && (!last || start.since >= last.id)) return reply.code(204).send();
    }
    await stream(request, reply, caller, filter, start, true);
  });

  return async (request, reply) => {
    const query = request.query as Query;
    const caller = await ctx.auth.caller(request);
    // Only events of tasks the caller may read, whatever the query asks for.
    const filter = narrowForCaller(caller, parseFilter({ tasks: query.task, services: query.service, types: query.type }, '', QUERY_FILTER_FIELDS));
    await stream(request, reply, caller, filter, startOf(request, {}), false);
  };
}
