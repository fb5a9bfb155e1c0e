/**
 * The little the store needs from a PostgreSQL driver. `pg` (production) and PGlite (embedded)
 * each get a thin adapter to this, and everything above runs the same SQL on both.
 */
export interface QueryResult<Row> { rows: Row[]; rowCount: number }

export interface SqlQueryable {
  query<Row = Record<string, unknown>>(text: string, params?: unknown[]): Promise<QueryResult<Row>>;
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
