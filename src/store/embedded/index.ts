/**
 * PGlite (PostgreSQL compiled to WebAssembly, in this process): the embedded SqlClient behind
 * `errand dev`. Same SQL as production. The only file that imports PGlite, and so the only one
 * that sees its errors: each leaves as Errand's DatabaseError.
 */
import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import type { SqlClient, SqlQueryable, QueryResult } from '../sql-client.ts';
import { translateDriverError } from '../sql-errors.ts';

/** Opens (creating if needed) a database kept in `dataDir`, or in memory when it is undefined. */
export async function openEmbedded(dataDir?: string): Promise<SqlClient> {
  if (dataDir) await mkdir(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  const wrap = (q: Pick<PGlite, 'query'>): SqlQueryable => ({
    async query<Row>(text: string, params?: unknown[]): Promise<QueryResult<Row>> {
      try {
        const r = await q.query<Row>(text, params);
        return { rows: r.rows, rowCount: (r.affectedRows ?? 0) || r.rows.length };
      } catch (err) {
        throw translateDriverError(err);
      }
    },
  });
  const base = wrap(db);
  return {
    target: dataDir ? `PGlite at ${dataDir}` : 'PGlite in memory',
    query: base.query,
    async transaction(work) {
      // What `work` throws passes as it is (its queries' errors are translated already); PGlite's own, from BEGIN or COMMIT, are translated.
      let thrown: { err: unknown } | undefined;
      try {
        return await db.transaction(async (tx) => {
          try {
            return await work(wrap(tx));
          } catch (err) {
            thrown = { err };
            throw err;
          }
        });
      } catch (err) {
        throw thrown?.err === err ? err : translateDriverError(err);
      }
    },
    async exec(text) {
      try {
        await db.exec(text);
      } catch (err) {
        throw translateDriverError(err);
      }
    },
    async close() {
      await db.close();
    },
  };
}
