/**
 * `WS /events`: one socket, several subscriptions, each with a filter and a starting point.
 * Client → server: subscribe, unsubscribe, ack, ping. Server → client: subscribed, event, live,
 * unsubscribed, error, pong. A client that cannot keep up is closed with code 4008 and a reason
 * telling it to resume; it is never skipped silently. A subscribe beyond the socket's cap closes
 * it with code 4029. See docs/events.md.
 */
import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { ErrandError, isErrandError } from '../../core/index.ts';
import type { TaskEvent } from '../../core/index.ts';
import type { RouteContext } from '../context.ts';
import { eventText, openEventStream, SlowConsumerError } from '../event-stream.ts';
import type { EventStream, StreamSink } from '../event-stream.ts';
import { parseFilter, parseStart } from '../stream-request.ts';
import { TOO_MANY_SUBSCRIPTIONS_CLOSE } from '../stream-limits.ts';
import { narrowForCaller } from '../access.ts';
import { closeAtExpiry, CREDENTIAL_EXPIRED_CLOSE } from '../stream-expiry.ts';

/** Close code for a client too slow to keep up (4000-4999: for applications). */
export const SLOW_CONSUMER_CLOSE = 4008;
/** Events sent beyond a subscription's last ack are held up to this many, then the client is too slow. */
const MAX_HELD_FOR_ACK = 10_000;

interface Subscription {
  id: string;
  stream?: EventStream;
  /** Events a client with an ack window has not yet acknowledged, by id, oldest first. */
  unacked: number[];
  window?: number;
  held: TaskEvent[];
  closed: boolean;
}

export interface EventSocketSettings {
  /** Bytes queued on a socket beyond which its client is too slow (default 4 MiB). */
  maxBufferedBytes: number;
  /** Subscriptions one socket may hold; one more closes it with 4029. */
  maxSubscriptions: number;
}

/** The WebSocket side of `GET /events` (the same route answers SSE to plain requests). */
export function eventSocketHandler(ctx: RouteContext, settings: EventSocketSettings): (socket: WebSocket, request: FastifyRequest) => void {
  return (socket, request) => {
    // Decided before the upgrade (see the route's preValidation); here it is already settled.
    const caller = ctx.auth.caller(request);
    const subscriptions = new Map<string, Subscription>();
    let lastSent = 0;
    let acked = 0;
    let ending = false;

    const send = (text: string): void => {
      if (socket.readyState === socket.OPEN) socket.send(text);
    };
    const sendJson = (message: unknown): void => send(JSON.stringify(message));

    function tooSlow(): void {
      if (ending) return;
      ending = true;
      for (const sub of subscriptions.values()) end(sub);
      // A close reason holds at most 123 bytes.
      socket.close(SLOW_CONSUMER_CLOSE, `too slow: reconnect, resume since your last event id (acked ${acked})`.slice(0, 123));
    }

    /**
     * A subscribe beyond the cap closes the socket rather than answering an error message and
     * going on: a client looping on subscribe would otherwise never notice.
     */
    function tooManySubscriptions(name: string): void {
      if (ending) return;
      ending = true;
      const message = `too many subscriptions: a socket holds at most ${settings.maxSubscriptions}`;
      sendJson({ type: 'error', subscription: name, error: { code: 'too_many_subscriptions', message, field: 'subscription' } });
      for (const sub of subscriptions.values()) end(sub);
      socket.close(TOO_MANY_SUBSCRIPTIONS_CLOSE, message.slice(0, 123));
    }

    function deliver(sub: Subscription, event: TaskEvent): void {
      if (sub.window !== undefined && (sub.unacked.length >= sub.window || sub.held.length > 0)) {
        if (sub.held.length >= MAX_HELD_FOR_ACK) return tooSlow();
        sub.held.push(event);
        return;
      }
      if (sub.window !== undefined) sub.unacked.push(event.id);
      send(`{"type":"event","subscription":${JSON.stringify(sub.id)},"event":${eventText(event)}}`);
      lastSent = Math.max(lastSent, event.id);
      if (socket.bufferedAmount > settings.maxBufferedBytes) tooSlow();
    }

    function sinkFor(sub: Subscription): StreamSink {
      return {
        write(events) {
          for (const event of events) {
            if (sub.closed || ending) return;
            deliver(sub, event);
          }
        },
        ready: () => waitForRoom(socket, settings.maxBufferedBytes / 2),
        get open() { return !sub.closed && !ending && socket.readyState === socket.OPEN; },
      };
    }

    function end(sub: Subscription): void {
      sub.closed = true;
      sub.stream?.close();
      subscriptions.delete(sub.id);
    }

    async function subscribe(message: Record<string, unknown>): Promise<void> {
      // A socket being closed takes no more: its close handler may already have ended the rest.
      if (ending || socket.readyState !== socket.OPEN) return;
      const id = message.subscription;
      if (typeof id !== 'string' || id.length === 0 || id.length > 64) throw new ErrandError('invalid_field', 'subscription must be a name of 1-64 characters', 'subscription');
      if (subscriptions.has(id)) throw new ErrandError('conflict', `subscription ${JSON.stringify(id)} already exists on this socket`, 'subscription');
      if (subscriptions.size >= settings.maxSubscriptions) return tooManySubscriptions(id);
      const filterInput = message.filter ?? {};
      if (typeof filterInput !== 'object' || Array.isArray(filterInput)) throw new ErrandError('invalid_field', 'filter must be an object', 'filter');
      // Only events of tasks the caller may read, whatever the filter asks for.
      const filter = narrowForCaller(await caller, parseFilter(filterInput as Record<string, unknown>, 'filter.'));
      if (ending || socket.readyState !== socket.OPEN) return;
      if (subscriptions.has(id)) throw new ErrandError('conflict', `subscription ${JSON.stringify(id)} already exists on this socket`, 'subscription');
      if (subscriptions.size >= settings.maxSubscriptions) return tooManySubscriptions(id);
      const start = parseStart(message.since, message.last);
      const window = message.window;
      if (window !== undefined && (typeof window !== 'number' || !Number.isSafeInteger(window) || window < 1 || window > MAX_HELD_FOR_ACK)) {
        throw new ErrandError('invalid_field', `window must be a whole number from 1 to ${MAX_HELD_FOR_ACK}`, 'window');
      }
      const sub: Subscription = { id, unacked: [], held: [], closed: false, ...(window !== undefined ? { window } : {}) };
      subscriptions.set(id, sub);
      try {
        sub.stream = await openEventStream(ctx.events, ctx.store, filter, start, sinkFor(sub));
        if (sub.closed) return sub.stream.close();
        sendJson({ type: 'subscribed', subscription: id, from: sub.stream.from, ...(sub.stream.truncated ? { truncated: true } : {}) });
        // `live` goes out before the events that arrived during the replay: those are live ones.
        await sub.stream.replay((position) => { if (!sub.closed) sendJson({ type: 'live', subscription: id, position }); });
      } catch (err) {
        end(sub);
        if (err instanceof SlowConsumerError) return tooSlow();
        throw err;
      }
    }

    function ack(message: Record<string, unknown>): void {
      const id = message.id;
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new ErrandError('invalid_field', 'id must be the event id being acknowledged', 'id');
      acked = Math.max(acked, Math.min(id, lastSent));
      const name = message.subscription;
      const targets = typeof name === 'string' ? [subscriptions.get(name)].filter((s) => s !== undefined) : [...subscriptions.values()];
      for (const sub of targets) {
        while (sub.unacked.length > 0 && sub.unacked[0]! <= id) sub.unacked.shift();
        const waiting = sub.held.splice(0);
        for (const event of waiting) deliver(sub, event);
      }
    }

    async function handle(raw: Buffer): Promise<void> {
      let message: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(raw.toString('utf8'));
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
        message = parsed as Record<string, unknown>;
      } catch {
        throw new ErrandError('invalid_json', 'each message must be a JSON object with a "type"', 'type');
      }
      switch (message.type) {
        case 'subscribe': return subscribe(message);
        case 'unsubscribe': {
          const sub = typeof message.subscription === 'string' ? subscriptions.get(message.subscription) : undefined;
          if (!sub) throw new ErrandError('not_found', `no subscription ${JSON.stringify(message.subscription)} on this socket`, 'subscription');
          end(sub);
          return sendJson({ type: 'unsubscribed', subscription: sub.id });
        }
        case 'ack': return ack(message);
        case 'ping': return sendJson({ type: 'pong' });
        default:
          throw new ErrandError('invalid_field', `type must be subscribe, unsubscribe, ack or ping, got ${JSON.stringify(message.type)}`, 'type');
      }
    }

    socket.on('message', (raw: Buffer) => {
      handle(raw).catch((err: unknown) => {
        const subscription = safeSubscriptionName(raw);
        if (isErrandError(err)) return sendJson({ type: 'error', ...(subscription ? { subscription } : {}), ...err.toJSON() });
        request.log.warn({ err: (err as Error).message }, 'event subscription failed');
        sendJson({ type: 'error', ...(subscription ? { subscription } : {}), error: { code: 'database_unavailable', message: 'the events could not be read now; subscribe again' } });
      });
    });
    let expiry = { cancel() {} };
    caller.then((settled) => {
      expiry = closeAtExpiry(settled, () => {
        if (ending) return;
        ending = true;
        for (const sub of subscriptions.values()) end(sub);
        socket.close(CREDENTIAL_EXPIRED_CLOSE, 'credential expired: connect again with a fresh one');
      });
    }, () => socket.close(1011, 'cannot authenticate now; retry'));
    socket.on('close', () => {
      expiry.cancel();
      for (const sub of subscriptions.values()) end(sub);
    });
  };
}

function safeSubscriptionName(raw: Buffer): string | undefined {
  try {
    const name = (JSON.parse(raw.toString('utf8')) as { subscription?: unknown }).subscription;
    return typeof name === 'string' ? name : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves once the socket's send buffer is below `bytes` (or the socket is gone). */
function waitForRoom(socket: WebSocket, bytes: number): Promise<void> {
  if (socket.bufferedAmount <= bytes || socket.readyState !== socket.OPEN) return Promise.resolve();
  return new Promise((resolve) => {
    const check = setInterval(() => {
      if (socket.bufferedAmount <= bytes || socket.readyState !== socket.OPEN) {
        clearInterval(check);
        resolve();
      }
    }, 10);
  });
}
