/**
 * Errors Node's HTTP parser raises before Fastify sees a request (a bad method, a bad or doubled
 * Content-Length, Content-Length with Transfer-Encoding, control characters, a bare LF, headers
 * over the size limit, a request that does not arrive in time) answered in Errand's error shape,
 * written straight to the socket, which is then closed: after a parse error it cannot be reused.
 */
import { STATUS_CODES } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ErrandError } from '../core/index.ts';
import type { HttpLimits } from './http-options.ts';
import { lingerBudget } from './http-options.ts';

/** Writes a whole answer to a socket no HTTP response owns, then closes it, reading up to `lingerBytes` more. */
export function writeErrorAndClose(socket: Duplex, error: ErrandError, headers: Record<string, string> = {}, lingerBytes = DEFAULT_LINGER_BYTES): void {
  // Answer only on a socket that has not started another answer: bytes in the middle of one
  // would corrupt what the client reads (as Node's own handler does).
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const body = JSON.stringify(error.toJSON());
    const head = [
      `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}`,
      'Content-Type: application/json; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      'Connection: close',
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ];
    // A lingering close: a client still sending (a body after a bad request line) would get a
    // reset instead of the answer if the socket were destroyed now, so the answer goes out with a
    // FIN and what the client still sends is read and dropped, for a bounded time and size.
    socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
    lingerThenDestroy(socket, lingerBytes);
    return;
  }
  // An answer is under way (the bad bytes came after a request, unframed): it is let out, then the
  // connection ends the same lingering way; a reset could cost the client that answer too.
  if (socket.writable) {
    socket.end();
    lingerThenDestroy(socket, lingerBytes);
    return;
  }
  socket.destroy();
}

const LINGER_MS = 2000;
/** For what comes without a body limit to go by (CONNECT). */
const DEFAULT_LINGER_BYTES = 1024 * 1024;

/**
 * After an answer with a FIN: reads and drops what the client still sends, for up to 2 s and
 * `maxBytes`, then closes. A client past either is reset.
 */
export function lingerThenDestroy(socket: Duplex, maxBytes: number): void {
  let drained = 0;
  const destroy = (): void => { clearTimeout(timer); socket.destroy(); };
  const timer = setTimeout(destroy, LINGER_MS);
  timer.unref();
  socket.once('end', destroy);
  socket.once('error', destroy);
  socket.once('close', () => clearTimeout(timer));
  // The HTTP parser that failed must not see what follows (it would report the error again).
  socket.removeAllListeners('data');
  socket.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > maxBytes) destroy();
  });
  socket.resume();
}

type ParserError = Error & { code?: string; reason?: string };

export function clientError(err: ParserError, limits: HttpLimits): ErrandError {
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_HEADERS_TIMEOUT': {
      const whole = limits.requestTimeoutMs > 0 ? `, the whole request within ${limits.requestTimeoutMs} ms` : '';
      return new ErrandError('request_timeout', `the request did not arrive in time (its headers must arrive within ${limits.headersTimeoutMs} ms${whole})`);
    }
    case 'HPE_HEADER_OVERFLOW':
      return new ErrandError('headers_too_large', `the request line and headers are larger than the limit of ${limits.maxHeaderSize} bytes`);
    default:
      // llhttp says what it refused ("Invalid method encountered", "Missing expected CR after header value").
      return new ErrandError('malformed_request', `malformed HTTP request: ${err.reason ?? err.message}${err.code ? ` (${err.code})` : ''}`);
  }
}

/** OpenSSL's errors (ERR_SSL_HTTP_REQUEST: plain HTTP on the TLS port) and Node's TLS ones (ERR_TLS_HANDSHAKE_TIMEOUT). */
function isTlsFailure(err: ParserError): boolean {
  return err.code !== undefined && (err.code.startsWith('ERR_SSL_') || err.code.startsWith('ERR_TLS_'));
}

/** Fastify's `clientErrorHandler` option. */
export function clientErrorHandler(limits: HttpLimits) {
  return (err: ParserError, socket: Duplex): void => {
    // A client that hung up, or a socket already gone: nobody to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    // An https server hands TLS failures here too (a plain-HTTP request, no handshake in time, a
    // bad handshake): no TLS session, so no way to answer in HTTP. The connection is dropped.
    if (isTlsFailure(err)) {
      socket.destroy();
      return;
    }
    writeErrorAndClose(socket, clientError(err, limits), {}, lingerBudget(limits));
  };
}

/**
 * The two requests Node answers (or drops) itself, before Fastify sees them: CONNECT, which Node
 * hands to a 'connect' listener and destroys without an answer when there is none, and an
 * `Expect` other than 100-continue, which Node answers with a bare 417.
 */
export function answerRequestsNodeKeeps(server: Server): void {
  server.on('connect', (request: IncomingMessage, socket: Duplex) => {
    writeErrorAndClose(socket, new ErrandError('method_not_allowed', `${request.method ?? 'CONNECT'} is not a method Errand answers; it is no proxy`), { Allow: 'GET, HEAD, POST, DELETE, OPTIONS' });
  });
  server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
    const error = new ErrandError('expectation_failed', `Expect: ${JSON.stringify(request.headers.expect ?? '')} cannot be met; only 100-continue is understood`, 'expect');
    const body = JSON.stringify(error.toJSON());
    response.writeHead(error.status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
    response.end(body);
  });
}
