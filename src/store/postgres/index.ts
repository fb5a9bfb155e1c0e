/** PostgreSQL through node-postgres: the production SqlClient. The only file that imports `pg`. */
import { userInfo } from 'node:os';
import pg from 'pg';
import type { Logger } from 'pino';
import { ErrandError, redactUrl } from '../../core/index.ts';
import type { SqlClient, SqlQueryable, QueryResult, Statement } from '../sql-client.ts';
import { DatabaseError, translateDriverError } from '../sql-errors.ts';

export interface PostgresOptions { url: string; poolSize?: number; logger?: Logger; connectTimeoutMs?: number }

/** Like libpq: a URL without a user name connects as the operating-system user. */
function connectionConfig(url: string): pg.ClientConfig {
  const parsed = new URL(url);
  // pg lets the parsed connection string override a separate `user`, so the name goes in the URL.
  if (!parsed.username) parsed.username = encodeURIComponent(userInfo().username);
  return { connectionString: parsed.toString() };
}

/** Node's socket errors and PostgreSQL's connection, shutdown and too-many-clients states. */
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH']);
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);

/** True when the error says the database cannot be reached now, not that the statement is wrong. */
function isUnavailable(err: unknown): boolean {
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (UNAVAILABLE_ERRNOS.has(code) || UNAVAILABLE_STATES.has(code) || code.startsWith('08'))) return true;
  return typeof message === 'string' && /Connection terminated|timeout exceeded when trying to connect|connection error/i.test(message);
}

/** pg's errors as Errand's: "down" is the product's 503, any other refusal a DatabaseError. */
function translated(err: unknown, target: string): unknown {
  if (!isUnavailable(err)) return translateDriverError(err);
  return new ErrandError('database_unavailable', `PostgreSQL at ${target} is unavailable: ${describePgError(err)}`, undefined, { cause: err });
}

function result<Row>(r: pg.QueryResult): QueryResult<Row> {
  return { rows: r.rows as Row[], rowCount: r.rowCount ?? 0 };
}

/** pg's form of a statement: a prepared one goes by its name (parsed once per connection). */
function queryConfig(statement: Statement, params: unknown[] | undefined): pg.QueryConfig {
  return typeof statement === 'string' ? { text: statement, values: params } : { name: statement.name, text: statement.text, values: params };
}

/**
 * A prepared statement whose result columns changed under it (a migration altered a table while
 * this process ran): PostgreSQL refuses it on that connection until it is prepared again, which
 * pg cannot do on a connection that has it, so the connection is dropped and the call made again.
 */
function isStalePlan(err: unknown): boolean {
  // The routine's name, not the message, which the server translates (lc_messages).
  const { code, routine, message } = err as { code?: unknown; routine?: unknown; message?: unknown };
  if (code !== '0A000') return false;
  return routine === 'RevalidateCachedQuery' || (typeof message === 'string' && message.includes('cached plan must not change result type'));
}

/** Connects and checks the server answers, so a wrong URL fails at start with one clear line. */
export async function connectPostgres(options: PostgresOptions): Promise<SqlClient> {
  const target = redactUrl(options.url);
  const pool = new pg.Pool({
    ...connectionConfig(options.url),
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
  });
  // A connection that drops while idle is replaced by the pool on next use; it must not crash us.
  pool.on('error', (err) => options.logger?.warn({ err: err.message }, 'idle PostgreSQL connection lost'));
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new ErrandError('database_unavailable', `cannot connect to PostgreSQL at ${target}: ${describePgError(err)}`, undefined, { cause: err });
  }
  /**
   * Runs `use` on a connection of its own. A connection that drops while checked out emits
   * 'error' as well as failing its query; the pool listens only while a client is idle, so
   * without a listener here it would crash the process. A connection `use` marks broken (or that
   * was lost) is discarded, not handed to the next caller.
   */
  async function checkedOut<T>(use: (client: pg.PoolClient, connection: { lost: Error | undefined }) => Promise<T>): Promise<T> {
    const client = await pool.connect().catch((err: unknown) => Promise.reject(translated(err, target)));
    const connection: { lost: Error | undefined } = { lost: undefined };
    const onLost = (err: Error): void => {
      connection.lost = err;
      options.logger?.warn({ err: err.message }, 'PostgreSQL connection lost while in use');
    };
    client.on('error', onLost);
    try {
      return await use(client, connection);
    } finally {
      client.off('error', onLost);
      client.release(connection.lost);
    }
  }

  return {
    target,
    async query<Row>(statement: Statement, params?: unknown[]) {
      if (typeof statement === 'string') {
        try {
          return result<Row>(await pool.query(statement, params));
        } catch (err) {
          throw translated(err, target);
        }
      }
      return checkedOut(async (client, connection) => {
        try {
          return result<Row>(await client.query(queryConfig(statement, params)));
        } catch (err) {
          if (connection.lost || !isStalePlan(err)) throw translated(err, target);
          connection.lost = err as Error;
          options.logger?.info({ statement: statement.name }, 'a prepared statement went stale (the schema changed); reconnecting');
          // Once more, unprepared, on the same connection (another may be long in coming); the
          // other connections meet the stale statement in turn and are replaced too.
          try {
            return result<Row>(await client.query(statement.text, params));
          } catch (again) {
            throw translated(again, target);
          }
        }
      });
    },
    async transaction<T>(work: (tx: SqlQueryable) => Promise<T>): Promise<T> {
      return checkedOut(async (client, connection) => {
        const query = async <Row>(statement: Statement, params?: unknown[]): Promise<QueryResult<Row>> => {
          try {
            return result<Row>(await client.query(queryConfig(statement, params)));
          } catch (err) {
            if (!isStalePlan(err)) throw translated(err, target);
            // The transaction is lost, not the database: dropped with its connection, and worth trying again.
            connection.lost = err as Error;
            throw new DatabaseError((err as Error).message, 'transient', undefined, { cause: err });
          }
        };
        try {
          await query('BEGIN');
          // What `work` throws passes as it is: its queries' errors are translated already, and the rest are not pg's.
          const value = await work({ query });
          await query('COMMIT');
          return value;
        } catch (err) {
          if (!connection.lost) await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      });
    },
    async exec(text: string) {
      try {
        await pool.query(text);
      } catch (err) {
        throw translated(err, target);
      }
    },
    async close() {
      await pool.end();
    },
  };
}

export function describePgError(err: unknown): string {
  const e = err as { code?: string; message?: string; errors?: Array<{ message: string }> };
  if (e.errors?.length) return e.errors.map((x) => x.message).join('; ');
  return e.code && !e.message?.includes(e.code) ? `${e.message} (${e.code})` : (e.message ?? String(err));
}

/** Creates the database named in `url` if it does not exist (connecting to `postgres` to do so). */
export async function ensureDatabase(url: string): Promise<boolean> {
  const parsed = new URL(url);
  const name = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!name) return false;
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ ...connectionConfig(admin.toString()), connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    throw new ErrandError('database_unavailable', `cannot connect to PostgreSQL at ${redactUrl(admin.toString())}: ${describePgError(err)}`, undefined, { cause: err });
  }
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount) return false;
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === '42P04') return false; // created meanwhile by another process
    throw err;
  } finally {
    await client.end();
  }
}
