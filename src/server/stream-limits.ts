/**
 * Caps on long-lived connections: open WebSockets and SSE streams per client, and both together
 * server-wide. A stream holds memory for as long as it is open (up to its send buffer limit when
 * its client does not read), so without caps one client could open enough of them to exhaust the
 * server. Counting only: the routes take a slot before they start a stream and give it back when
 * the connection closes.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { ErrandError } from '../core/index.ts';

export type StreamKind = 'websocket' | 'sse';

export interface StreamLimits {
  /** Open WebSockets (`WS /events` and `WS /task/:id/updates` together) one client may hold. */
  webSocketsPerClient: number;
  /** Open SSE streams (`GET /events`, `GET /task/:id/events`) one client may hold. */
  eventStreamsPerClient: number;
  /** Subscriptions one `WS /events` socket may hold. */
  subscriptionsPerSocket: number;
  /** WebSockets and SSE streams together, over all clients. */
  total: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = { webSocketsPerClient: 64, eventStreamsPerClient: 64, subscriptionsPerSocket: 100, total: 2000 };

/** Close code for a subscribe over the per-socket cap (4000-4999 are the application's; 4029 echoes 429). */
export const TOO_MANY_SUBSCRIPTIONS_CLOSE = 4029;

/**
 * Who a cap counts against: the client's address (`request.ip`, which follows --trust-proxy).
 * Once requests are authenticated (issue 12) this becomes the principal, so that clients behind
 * one proxy or NAT are told apart and one principal cannot spread over many addresses.
 */
export function streamClient(request: FastifyRequest): string {
  return addressKey(request.ip);
}

/**
 * The part of an address one client controls: an IPv4 address, or the /64 of an IPv6 one (a
 * single host is usually given a whole /64, so counting its addresses one by one would give it
 * 2^64 caps). An IPv4-mapped IPv6 address counts as its IPv4 address.
 */
export function addressKey(ip: string): string {
  if (isIPv4(ip)) return ip;
  const bare = ip.replace(/%.*$/, '');
  if (!isIPv6(bare)) return ip;
  const groups = expandIpv6(bare);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a trailing dotted quad converted). */
function expandIpv6(ip: string): number[] {
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  const text = quad ? ip.slice(0, quad.index) + [((Number(quad[1]) << 8) | Number(quad[2])).toString(16), ((Number(quad[3]) << 8) | Number(quad[4])).toString(16)].join(':') : ip;
  const [head = '', tail] = text.split('::');
  const part = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = part(head);
  const right = tail === undefined ? [] : part(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

export interface StreamCounter {
  /** Takes a slot, or throws `too_many_streams` (429: this client's cap) or `server_busy` (503: the server's). */
  acquire(kind: StreamKind, client: string): () => void;
  /** Open streams now: all, or one client's of one kind. */
  open(kind?: StreamKind, client?: string): number;
}

const LABEL: Record<StreamKind, { name: string; flag: string }> = {
  websocket: { name: 'WebSockets', flag: '--max-websockets-per-client' },
  sse: { name: 'SSE streams', flag: '--max-sse-per-client' },
};

export function createStreamCounter(limits: StreamLimits): StreamCounter {
  const byClient: Record<StreamKind, Map<string, number>> = { websocket: new Map(), sse: new Map() };
  let total = 0;
  const capOf = (kind: StreamKind): number => (kind === 'websocket' ? limits.webSocketsPerClient : limits.eventStreamsPerClient);

  return {
    acquire(kind, client) {
      const counts = byClient[kind];
      const mine = counts.get(client) ?? 0;
      const cap = capOf(kind);
      if (mine >= cap) {
        throw new ErrandError('too_many_streams', `this client already has ${mine} open ${LABEL[kind].name} (at most ${cap}); close one first`);
      }
      if (total >= limits.total) {
        throw new ErrandError('server_busy', `the server has its maximum of ${limits.total} open streams; try again later`);
      }
      counts.set(client, mine + 1);
      total++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        total--;
        const left = (counts.get(client) ?? 1) - 1;
        if (left > 0) counts.set(client, left);
        else counts.delete(client);
      };
    },
    open(kind, client) {
      if (kind === undefined) return total;
      if (client === undefined) return [...byClient[kind].values()].reduce((a, b) => a + b, 0);
      return byClient[kind].get(client) ?? 0;
    },
  };
}

/**
 * A route hook taking a WebSocket slot before the upgrade, so that a refusal is an HTTP 429 (or
 * 503) in Errand's error shape the client can read. The slot is given back when the connection
 * closes, whether the upgrade then succeeds or not. Plain requests to the route pass through.
 */
export function webSocketSlot(streams: StreamCounter): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    if (!request.ws) return;
    const release = streams.acquire('websocket', streamClient(request));
    const socket = request.raw.socket;
    socket.once('close', release);
    if (socket.destroyed) release();
  };
}
