/**
 * Database errors as Errand sees them, whichever driver raised them. The adapters (postgres/,
 * embedded/) are the only code that reads a driver's error: a database that cannot be reached
 * becomes ErrandError('database_unavailable') (pg), any other refusal a DatabaseError
 * (translateDriverError, below, which both adapters share). Everything above reads only those.
 *
 * A write fails either because the database cannot be reached or used just now (the connection
 * dropped, the server is shutting down, a deadlock, a table renamed away by an operator) or
 * because of what is written (a value out of range, a character PostgreSQL refuses): the first
 * passes, the second fails the same way every time, and retrying it would hold back everything
 * behind it forever. An error that says neither (a bug, a driver surprise) is `unknown`: worth a
 * few tries, never endless ones.
 */
import { isErrandError } from '../core/index.ts';

export type ErrorNature = 'unavailable' | 'data' | 'unknown';

/** What a refused statement says of itself (from PostgreSQL's SQLSTATE, whatever the driver). */
export type Refusal =
  /** The database's state, not the statement's data: trying again later may pass. */
  | 'transient'
  /** SQLSTATE class 22: a value the statement cannot hold (NUL in text, a number out of range, bad JSON). */
  | 'invalid-value'
  /** Class 23: an integrity constraint (`constraint` names it when the database says). */
  | 'constraint'
  /** Any other SQLSTATE: the statement fails the same way every time. */
  | 'statement'
  /** No SQLSTATE: a driver surprise. */
  | 'unknown';

/** A statement the database refused, as the adapters report it; the message is the database's. */
export class DatabaseError extends Error {
  override readonly name = 'DatabaseError';

  constructor(message: string, readonly refusal: Refusal, readonly constraint?: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * SQLSTATE classes that describe the database's state, not the statement's data: connection
 * exception (08), invalid authorization (28), catalog and schema names (3D, 3F), transaction
 * rollback such as deadlocks and serialization failures (40), syntax and access rules such as an
 * undefined table during a migration (42), insufficient resources (53), object not in
 * prerequisite state such as a lock not available (55), operator intervention such as a shutdown
 * (57), system errors (58).
 */
const TRANSIENT_CLASSES = new Set(['08', '28', '3D', '3F', '40', '42', '53', '55', '57', '58']);

/** Socket errors of a connection that dropped or never came up (pg turns most into database_unavailable first). */
const NETWORK_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function refusalOf(code: unknown): Refusal {
  if (typeof code !== 'string') return 'unknown';
  if (NETWORK_ERRNOS.has(code)) return 'transient';
  if (!/^[0-9A-Z]{5}$/.test(code)) return 'unknown';
  const sqlClass = code.slice(0, 2);
  if (TRANSIENT_CLASSES.has(sqlClass)) return 'transient';
  return sqlClass === '22' ? 'invalid-value' : sqlClass === '23' ? 'constraint' : 'statement';
}

/**
 * For the adapters only: a driver's error as a DatabaseError. pg and PGlite both report
 * PostgreSQL's SQLSTATE as `code` and a violated constraint as `constraint`. Errand's own errors
 * (already translated) pass unchanged.
 */
export function translateDriverError(err: unknown): unknown {
  if (err instanceof DatabaseError || isErrandError(err)) return err;
  const { code, constraint, message } = (err ?? {}) as { code?: unknown; constraint?: unknown; message?: unknown };
  return new DatabaseError(typeof message === 'string' ? message : String(err), refusalOf(code), typeof constraint === 'string' ? constraint : undefined, { cause: err });
}

export function errorNature(err: unknown): ErrorNature {
  if (isErrandError(err)) return err.code === 'database_unavailable' ? 'unavailable' : 'unknown';
  if (!(err instanceof DatabaseError)) return 'unknown';
  if (err.refusal === 'transient') return 'unavailable';
  return err.refusal === 'unknown' ? 'unknown' : 'data';
}

/** True when the database is away or busy, so that trying again later may succeed. */
export function isTransientError(err: unknown): boolean {
  return errorNature(err) === 'unavailable';
}

/** A value (class 22) or integrity (class 23) refusal: one row is at fault, not the statement. */
export function isRowError(err: unknown): boolean {
  return err instanceof DatabaseError && (err.refusal === 'invalid-value' || err.refusal === 'constraint');
}

/** A value the database cannot hold, such as a NUL character in a JSON string. */
export function isInvalidValue(err: unknown): boolean {
  return err instanceof DatabaseError && err.refusal === 'invalid-value';
}
