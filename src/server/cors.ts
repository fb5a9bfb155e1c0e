/**
 * CORS and browser origins (issue 12), one hook before routing, by the policy in origin-policy.ts:
 *
 * - An allowed origin gets `Access-Control-Allow-Origin: <origin>` with credentials; under `*`
 *   any other gets `Access-Control-Allow-Origin: *` without, for reads only; a refused one gets
 *   no CORS header at all (its page cannot read the answer).
 * - A preflight from a refused origin is answered 403 `forbidden_origin` in Errand's shape.
 * - A write (any method but GET, HEAD, OPTIONS) or a WebSocket upgrade carrying an Origin that is
 *   not allowed is refused 403 `forbidden_origin` before it does anything: CORS only hides
 *   answers, and a browser sends those with its client certificate whatever the page's origin.
 *   An upgrade's socket is released by the error path (upgrade.ts).
 * - No Origin: not a browser page, nothing to check.
 *
 * Runs after refuseIncompleteRequests, so a preflight here has its Origin and method.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrandError } from '../core/index.ts';
import type { OriginAccess, OriginPolicy } from './origin-policy.ts';
import { isUpgrade } from './upgrade.ts';

/** Patavi's allowed headers, plus the ones its browser clients could never send, plus bearer credentials. */
export const ALLOWED_HEADERS = ['Origin', 'X-Requested-With', 'Content-Type', 'Accept', 'Access-Control-Allow-Credentials', 'X-API-Key', 'X-Client-Name', 'Last-Event-ID', 'Authorization'].join(', ');
const ALL_METHODS = 'GET, HEAD, POST, DELETE, OPTIONS';
/** Under `*`, only what an origin that is not listed may do. */
const READ_METHODS = 'GET, HEAD, OPTIONS';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Longest part of an Origin header an error message repeats back. */
const MAX_ECHO = 200;

function originHeader(request: FastifyRequest): string | undefined {
  const value = request.headers.origin;
  // Node joins repeated Origin headers with ", ": such a value names no origin and matches none.
  return Array.isArray(value) ? value.join(', ') : value;
}

function forbidden(origin: string, what: string): ErrandError {
  const shown = origin.length > MAX_ECHO ? `${origin.slice(0, MAX_ECHO)}…` : origin;
  return new ErrandError('forbidden_origin', `${what} from origin ${JSON.stringify(shown)} is not allowed: only origins listed with --cors-origin (and the server's own) may`, 'origin');
}

function corsHeaders(reply: FastifyReply, access: OriginAccess, origin: string): void {
  if (access === 'allowed') void reply.header('Access-Control-Allow-Origin', origin).header('Access-Control-Allow-Credentials', 'true');
  else if (access === 'any') void reply.header('Access-Control-Allow-Origin', '*');
}

/** Register after refuseIncompleteRequests and before the routes. */
export function installCors(app: FastifyInstance, policy: OriginPolicy): void {
  app.addHook('onRequest', (request, reply, done) => {
    // Whether an answer may be shared depends on the Origin asked with, whatever that was.
    void reply.header('Vary', 'Origin');
    const origin = originHeader(request);
    const access = policy.access(origin);
    if (origin === undefined || access === 'none') return done();
    if (isUpgrade(request)) return done(access === 'allowed' ? undefined : forbidden(origin, 'a WebSocket'));
    if (request.method === 'OPTIONS') {
      if (access === 'refused') return done(forbidden(origin, 'a cross-origin request'));
      corsHeaders(reply, access, origin);
      void reply
        .header('Access-Control-Allow-Methods', access === 'allowed' ? ALL_METHODS : READ_METHODS)
        .header('Access-Control-Allow-Headers', ALLOWED_HEADERS)
        .header('Content-Length', '0')
        .code(200)
        .send();
      return;
    }
    if (!SAFE_METHODS.has(request.method) && access !== 'allowed') return done(forbidden(origin, `a ${request.method}`));
    corsHeaders(reply, access, origin);
    done();
  });
}
