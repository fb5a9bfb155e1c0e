/**
 * The little the store needs from a PostgreSQL driver. `pg` (production) and PGlite (embedded)
 * each get a thin adapter to this, and everything above runs the same SQL on both.
 */
import { createHash } from 'node:crypto';

export interface QueryResult<Row> { rows: Row[]; rowCount: number }

/**
 * A statement kept prepared on each connection (`pg`'s named statements): PostgreSQL parses it
 * once per connection and, once it has seen that a generic plan costs no more than planning for
 * each call's values (PostgreSQL's plan_cache_mode `auto`), stops planning it too. On the hot
 * path that was most of a statement's time: the recorder's result statement spent 1.3 ms of its
 * 1.7 in parse and plan, a task's insert 0.6 of 0.9 (docs/benchmarks.md).
 *
 * Only for text from a fixed few (a module's constant, or one built from constants): never for
 * text built from a request's filters, whose best plan depends on the values. PGlite runs the text.
 */
export interface Prepared { readonly name: string; readonly text: string }

/** A statement's text, kept prepared or not. */
export type Statement = string | Prepared;

const preparedByText = new Map<string, Prepared>();

/** `text` as a prepared statement, named by its text (so two texts never share a name). */
export function prepared(text: string): Prepared {
  let statement = preparedByText.get(text);
  if (!statement) {
    statement = Object.freeze({ name: `errand_${createHash('sha256').update(text).digest('base64url').slice(0, 22)}`, text });
    preparedByText.set(text, statement);
  }
  return statement;
}

export const statementText = (statement: Statement): string => (typeof statement === 'string' ? statement : statement.text);

export interface SqlQueryable {
  query<Row = Record<string, unknown>>(statement: Statement, params?: unknown[]): Promise<QueryResult<Row>>;
}

export interface SqlClient extends SqlQueryable {
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: SqlQueryable) => Promise<T>): Promise<T>;
  /** Runs statements separated by semicolons (migrations). */
  exec(text: string): Promise<void>;
  close(): Promise<void>;
  /** What this client is connected to, for messages (no password). */
  readonly target: string;
}
