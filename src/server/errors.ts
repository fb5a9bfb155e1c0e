/**
 * Every error leaves as `{ "error": { "code", "message", "field"? } }` with its HTTP status and a
 * JSON content type: route errors, unknown routes, and what Fastify's router refuses before any
 * route runs (bad percent-encoding, an overlong path part), and requests that arrive while the
 * server closes. Node's parser errors, which come before Fastify, are answered in client-errors.ts.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrandError, isErrandError } from '../core/index.ts';
import type { HttpLimits } from './http-options.ts';
import { lingerBudget } from './http-options.ts';
import { releaseAfterAnswer } from './upgrade.ts';

/** Longest part of a request's path an error message repeats back. */
const MAX_ECHO = 200;

export function echoPath(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path.length > MAX_ECHO ? `${path.slice(0, MAX_ECHO)}…` : path;
}

function translate(err: FastifyError, bodyLimit: number, limits: HttpLimits): ErrandError {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ErrandError('body_too_large', `request body is larger than the limit of ${bodyLimit} bytes`, 'body');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ErrandError('unsupported_media_type', err.message, 'content-type');
    case 'FST_ERR_BAD_URL':
      return new ErrandError('invalid_url', 'the request path holds a bad percent-encoding (such as %zz, or bytes that are not UTF-8)', 'url');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ErrandError('uri_too_long', `a part of the request path is longer than ${limits.maxParamLength} characters`, 'url');
    default:
      if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
        return new ErrandError(err.statusCode === 404 ? 'not_found' : 'invalid_field', err.message);
      }
      return new ErrandError('internal', 'internal error');
  }
}

/** The one way an error answer is sent. */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: ErrandError, limits: HttpLimits): FastifyReply {
  // A dependency that is down: clients may try again shortly.
  if (error.status === 503) void reply.header('Retry-After', '5');
  if (error.code === 'websocket_required') void reply.header('Upgrade', 'websocket');
  // RFC 9110: a 401 says how to authenticate.
  if (error.code === 'unauthorized') void reply.header('WWW-Authenticate', 'Bearer realm="errand"');
  releaseAfterAnswer(request, reply, lingerBudget(limits));
  return reply.code(error.status).type('application/json; charset=utf-8').send(error.toJSON());
}

export function installErrorHandling(app: FastifyInstance, bodyLimit: number, limits: HttpLimits): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const error = isErrandError(err) ? err : translate(err, bodyLimit, limits);
    if (error.status >= 500) request.log.error({ err }, error.message);
    return sendError(request, reply, error, limits);
  });
  app.setNotFoundHandler((request, reply) => sendError(request, reply, new ErrandError('not_found', `no route ${request.method} ${echoPath(request.url)}`), limits));
}

/** Fastify's `frameworkErrors` option: the router's refusals, which reach no error handler. */
export function frameworkErrorHandler(bodyLimit: number, limits: HttpLimits) {
  return (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    void sendError(request, reply, isErrandError(err) ? err : translate(err, bodyLimit, limits), limits);
  };
}

/**
 * Requests that reach the server while it closes (sent on a connection it had open: server.close()
 * takes no new ones) get Errand's 503 `shutting_down`, with `Retry-After` and `Connection: close`,
 * instead of Fastify's own body (`return503OnClosing: false` in app.ts). Fastify marks itself
 * closing and then runs the preClose hooks, in one go: no request comes between the two.
 */
export function refuseWhileClosing(app: FastifyInstance, limits: HttpLimits): void {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (!closing) return done();
    void sendError(request, reply, new ErrandError('shutting_down', 'this server is shutting down: send the request again, to another server or once it is back'), limits);
  });
}
