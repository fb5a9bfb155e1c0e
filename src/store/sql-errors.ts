/**
 * Which database errors are worth trying again. A write fails either because the database cannot
 * be reached or used just now (the connection dropped, the server is shutting down, a deadlock, a
 * table renamed away by an operator) or because of what is written (a value out of range, a
 * character PostgreSQL refuses): the first passes, the second fails the same way every time, and
 * retrying it would hold back everything behind it forever.
 */

/**
 * SQLSTATE classes that describe the database's state, not the statement's data: connection
 * exception (08), invalid authorization (28), catalog and schema names (3D, 3F), transaction
 * rollback such as deadlocks and serialization failures (40), syntax and access rules such as an
 * undefined table during a migration (42), insufficient resources (53), object not in
 * prerequisite state such as a lock not available (55), operator intervention such as a shutdown
 * (57), system errors (58).
 */
const TRANSIENT_CLASSES = new Set(['08', '28', '3D', '3F', '40', '42', '53', '55', '57', '58']);

/** True when trying again later may succeed; false when the statement's data is at fault. */
export function isTransientError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  // No SQLSTATE: a network or driver error (ECONNRESET, a closed pool or PGlite), the connection's.
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return TRANSIENT_CLASSES.has(code.slice(0, 2));
}
