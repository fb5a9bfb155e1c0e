/**
 * Requests refused before routing, in Errand's error shape: an HTTP/1.1 request without Host
 * (Node would answer it with an empty body; it is told not to, in http-options.ts), and an
 * OPTIONS request that is not a whole CORS preflight (the CORS hook, cors.ts, answers only whole ones).
 */
import type { FastifyInstance } from 'fastify';
import { ErrandError } from '../core/index.ts';

/** Register before the CORS hook (cors.ts), so that it runs first. */
export function refuseIncompleteRequests(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const { headers } = request;
    if (!headers.host && request.raw.httpVersion === '1.1') {
      done(new ErrandError('missing_field', 'an HTTP/1.1 request needs a Host header', 'host'));
    } else if (request.method === 'OPTIONS' && !headers.origin) {
      done(new ErrandError('missing_field', 'OPTIONS answers CORS preflights only, which carry an Origin header', 'origin'));
    } else if (request.method === 'OPTIONS' && !headers['access-control-request-method']) {
      done(new ErrandError('missing_field', 'a CORS preflight needs an Access-Control-Request-Method header', 'access-control-request-method'));
    } else {
      done();
    }
  });
}
