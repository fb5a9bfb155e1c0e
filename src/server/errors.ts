/** Every error leaves as `{ "error": { "code", "message", "field"? } }` with its HTTP status. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { ErrandError, isErrandError } from '../core/index.ts';

function translate(err: FastifyError, bodyLimit: number): ErrandError {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ErrandError('body_too_large', `request body is larger than the limit of ${bodyLimit} bytes`, 'body');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ErrandError('unsupported_media_type', err.message, 'content-type');
    default:
      if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
        return new ErrandError(err.statusCode === 404 ? 'not_found' : 'invalid_field', err.message);
      }
      return new ErrandError('internal', 'internal error');
  }
}

export function installErrorHandling(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const error = isErrandError(err) ? err : translate(err, bodyLimit);
    if (error.status >= 500) request.log.error({ err }, error.message);
    // A dependency that is down: clients may try again shortly.
    if (error.status === 503) void reply.header('Retry-After', '5');
    return reply.code(error.status).type('application/json; charset=utf-8').send(error.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new ErrandError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`);
    return reply.code(404).send(error.toJSON());
  });
}
