/**
 * PGlite (PostgreSQL compiled to WebAssembly, in this process): the embedded SqlClient behind
 * `errand dev`. Same SQL as production. The only file that imports PGlite.
 */
import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import type { SqlClient, SqlQueryable, QueryResult } from '../sql-client.ts';

/** Opens (creating if needed) a database kept in `dataDir`, or in memory when it is undefined. */
export async function openEmbedded(dataDir?: string): Promise<SqlClient> {
  if (dataDir) await mkdir(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  const wrap = (q: Pick<PGlite, 'query'>): SqlQueryable => ({
    async query<Row>(text: string, params?: unknown[]): Promise<QueryResult<Row>> {
      const r = await q.query<Row>(text, params);
      return { rows: r.rows, rowCount: (r.affectedRows ?? 0) || r.rows.length };
    },
  });
  const base = wrap(db);
  return {
    target: dataDir ? `PGlite at ${dataDir}` : 'PGlite in memory',
    query: base.query,
    transaction: (work) => db.transaction((tx) => work(wrap(tx))),
    async exec(text) {
      await db.exec(text);
    },
    async close() {
      await db.close();
    },
  };
}
