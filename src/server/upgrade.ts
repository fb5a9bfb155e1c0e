/**
 * WebSocket upgrade requests that do not become WebSockets. @fastify/websocket routes an upgrade
 * through Fastify with a response of its own on the raw socket, and closes that socket from an
 * onResponse hook. Answers that skip the hooks (the router's refusals of a bad or overlong URL)
 * left it open for ever: one CLOSE-WAIT descriptor per request, and a server that could not shut
 * down. Here every error answer to an upgrade closes its socket once written, an upgrade that has
 * not become a WebSocket within the request timeout is dropped, a handshake `ws` refuses (a
 * missing or bad key or version) is answered in Errand's error shape instead of ws's HTML, and an
 * upgrade on a route without a WebSocket is refused instead of being accepted and closed.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Duplex } from 'node:stream';
import { ErrandError } from '../core/index.ts';
import { lingerThenDestroy, writeErrorAndClose } from './client-errors.ts';
import type { HttpLimits } from './http-options.ts';
import { lingerBudget } from './http-options.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route answers WebSocket upgrades (set on the routes that have a wsHandler). */
    websocket?: boolean;
  }
}

/** Node marks the requests it hands to 'upgrade' listeners instead of answering through HTTP. */
export function isUpgrade(request: FastifyRequest): boolean {
  return (request.raw as { upgrade?: boolean }).upgrade === true;
}

/**
 * For an upgrade: says the connection ends, and ends it once the answer is written. What the
 * client still sends (a body with its refused upgrade) is read and dropped for a while, so that it
 * reads the answer instead of a reset.
 */
export function releaseAfterAnswer(request: FastifyRequest, reply: FastifyReply, lingerBytes: number): void {
  if (!isUpgrade(request)) return;
  void reply.header('Connection', 'close');
  const socket = request.raw.socket;
  // The plugin's own onResponse hook would destroy the socket at once, unread bytes and all (a
  // reset that can cost the client its answer): closing it is left to the linger below.
  (request as FastifyRequest & { ws?: boolean }).ws = false;
  let finished = false;
  reply.raw.once('finish', () => {
    finished = true;
    socket.end();
    lingerThenDestroy(socket, lingerBytes);
  });
  reply.raw.once('close', () => { if (!finished) socket.destroy(); });
}

/** ws's refusal messages name the header at fault ("Missing or invalid Sec-WebSocket-Key header"). */
function handshakeField(message: string): string | undefined {
  const header = /(Sec-WebSocket-[A-Za-z]+|Upgrade) header/.exec(message)?.[1];
  if (header) return header.toLowerCase();
  return /method/i.test(message) ? 'method' : undefined;
}

export function handshakeError(message: string): ErrandError {
  return new ErrandError('invalid_handshake', `WebSocket handshake refused: ${message}`, handshakeField(message));
}

/** Call after @fastify/websocket is registered. */
export function guardUpgrades(app: FastifyInstance, limits: HttpLimits): void {
  const deadline = limits.requestTimeoutMs > 0 ? limits.requestTimeoutMs : limits.idleTimeoutMs;
  // Runs before the plugin's listener. ws clears the timer when the socket becomes a WebSocket.
  const arm = (_request: unknown, socket: Duplex & { setTimeout?: (ms: number, cb: () => void) => void }): void => {
    if (deadline > 0) socket.setTimeout?.(deadline, () => socket.destroy());
  };
  app.server.prependListener('upgrade', arm);
  app.addHook('onClose', () => { app.server.removeListener('upgrade', arm); });
  // The plugin would accept an upgrade on any route and close the WebSocket at once: refuse it instead.
  app.addHook('onRequest', (request, _reply, done) => {
    if (!isUpgrade(request)) return done();
    // Only a GET becomes a WebSocket; a HEAD would run the route's plain handler on the upgrade socket.
    if (request.method !== 'GET') return done(new ErrandError('invalid_handshake', `a WebSocket handshake is a GET, not ${request.method}`, 'method'));
    if (request.is404 || request.routeOptions.config.websocket === true) return done();
    done(new ErrandError('invalid_handshake', `${request.method} ${request.routeOptions.url ?? ''} is not a WebSocket endpoint`, 'upgrade'));
  });
  // With a listener, ws hands its refusals here instead of writing its own text/html answer.
  app.websocketServer.on('wsClientError', (err, socket) => {
    const error = handshakeError(err.message);
    writeErrorAndClose(socket, error, error.field === 'sec-websocket-version' ? { 'Sec-WebSocket-Version': '13' } : {}, lingerBudget(limits));
  });
}
