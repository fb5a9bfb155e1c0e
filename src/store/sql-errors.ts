/**
 * Which database errors are worth trying again. A write fails either because the database cannot
 * be reached or used just now (the connection dropped, the server is shutting down, a deadlock, a
 * table renamed away by an operator) or because of what is written (a value out of range, a
 * character PostgreSQL refuses): the first passes, the second fails the same way every time, and
 * retrying it would hold back everything behind it forever. An error that says neither (a bug,
 * a driver surprise) is `unknown`: worth a few tries, never endless ones.
 */
import { isErrandError } from '../core/index.ts';

export type ErrorNature = 'unavailable' | 'data' | 'unknown';

/**
 * SQLSTATE classes that describe the database's state, not the statement's data: connection
 * exception (08), invalid authorization (28), catalog and schema names (3D, 3F), transaction
 * rollback such as deadlocks and serialization failures (40), syntax and access rules such as an
 * undefined table during a migration (42), insufficient resources (53), object not in
 * prerequisite state such as a lock not available (55), operator intervention such as a shutdown
 * (57), system errors (58).
 */
const TRANSIENT_CLASSES = new Set(['08', '28', '3D', '3F', '40', '42', '53', '55', '57', '58']);

/** Socket errors of a connection that dropped or never came up (the adapters translate most). */
const NETWORK_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export function errorNature(err: unknown): ErrorNature {
  if (isErrandError(err)) return err.code === 'database_unavailable' ? 'unavailable' : 'unknown';
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return 'unknown';
  if (NETWORK_ERRNOS.has(code)) return 'unavailable';
  if (!/^[0-9A-Z]{5}$/.test(code)) return 'unknown';
  return TRANSIENT_CLASSES.has(code.slice(0, 2)) ? 'unavailable' : 'data';
}

/** True when the database is away or busy, so that trying again later may succeed. */
export function isTransientError(err: unknown): boolean {
  return errorNature(err) === 'unavailable';
}

/** SQLSTATE class 22 (data exception) and 23 (integrity): one row is at fault, not the statement. */
export function isRowError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}
