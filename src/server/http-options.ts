/**
 * How long a request may take to arrive and how big its head may be: the Node http server and
 * router options that cut slow or oversized clients, from the server settings. Pure.
 */
import type { ServerSettings } from './context.ts';
import { tlsServerOptions } from './tls-options.ts';
import type { TlsFiles } from './tls-options.ts';

export const HTTP_DEFAULTS = {
  /** A whole request (headers and a body of up to --body-limit) in a minute. */
  requestTimeoutMs: 60_000,
  headersTimeoutMs: 10_000,
  /** Fastify's own default: longer than the 60 s idle timeout of common load balancers. */
  keepAliveTimeoutMs: 72_000,
  /** Event streams send a keep-alive every 15 s, so only dead connections stay this quiet. */
  idleTimeoutMs: 120_000,
  /** Node's default. */
  maxHeaderSize: 16 * 1024,
  /** Room for result file names (Fastify's default is 100). */
  maxParamLength: 255,
  /** --body-limit (Patavi's 5 MB): a refused request's body up to this much is read and dropped so that its client gets the answer. */
  bodyLimit: 5 * 1024 * 1024,
} as const;

export type HttpLimits = { -readonly [K in keyof typeof HTTP_DEFAULTS]: number };

export function httpLimits(settings: Partial<ServerSettings>): HttpLimits {
  const limits: HttpLimits = { ...HTTP_DEFAULTS };
  for (const key of Object.keys(HTTP_DEFAULTS) as (keyof HttpLimits)[]) {
    const value = settings[key];
    if (value !== undefined) limits[key] = value;
  }
  // Node refuses a headers timeout longer than the request timeout (the whole includes the head).
  if (limits.requestTimeoutMs > 0) limits.headersTimeoutMs = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  return limits;
}

/**
 * What a refused request may still send after its answer and be read (and dropped) rather than
 * reset: a body of up to the body limit, after a head of up to the head limit. A reset would
 * discard the answer on the client's side before it read it.
 */
export function lingerBudget(limits: HttpLimits): number {
  return limits.bodyLimit + limits.maxHeaderSize;
}

/**
 * Node checks the request and headers timeouts on a timer (every 30 s by default), so a cut comes
 * up to that late: check four times per shortest timeout, within 10 ms to 30 s.
 */
export function checkingInterval(limits: HttpLimits): number {
  const timeouts = [limits.requestTimeoutMs, limits.headersTimeoutMs].filter((t) => t > 0);
  if (timeouts.length === 0) return 30_000;
  return Math.min(30_000, Math.max(10, Math.floor(Math.min(...timeouts) / 4)));
}

/** The Fastify server options that carry the limits, and with TLS files, make it an https server. */
export function serverOptions(limits: HttpLimits, tls?: TlsFiles) {
  const http = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: checkingInterval(limits),
    maxHeaderSize: limits.maxHeaderSize,
    // Node would answer a missing Host itself, with an empty body: Errand answers it (request-guards.ts).
    requireHostHeader: false,
  };
  return {
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    routerOptions: { maxParamLength: limits.maxParamLength },
    http,
    // Fastify hands `http` only to a plain server; Node's https server reads the same options from
    // its own, so without them here an https Errand would lose its header limits and timeouts.
    ...(tls ? { https: { ...http, ...tlsServerOptions(tls, limits) } } : {}),
  };
}
