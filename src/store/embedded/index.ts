/**
 * PGlite (PostgreSQL compiled to WebAssembly, in this process): the embedded SqlClient behind
 * `errand dev`. Same SQL as production. The only file that imports PGlite, and so the only one
 * that sees its errors: each leaves as Errand's DatabaseError.
 *
 * Sized for a laptop (measured in docs/operations.md, "Memory"):
 * - PostgreSQL's default 128 MB of shared buffers would all become resident in the WebAssembly
 *   heap, which never shrinks: 16 MB here.
 * - PGlite's 9 MB WebAssembly module is compiled by V8's baseline compiler (Liftoff) only: the
 *   optimising tier (TurboFan) would hold about 75 MB more code, and on two busy cores its
 *   background compiling made the database slower to open and no faster to use.
 * - A new data folder is made by initdb in a process of its own: the second PostgreSQL instance
 *   initdb runs in would otherwise stay in this process's memory (about 450 MB).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { PGlite } from '@electric-sql/pglite';
import { statementText } from '../sql-client.ts';
import type { SqlClient, SqlQueryable, QueryResult, Statement } from '../sql-client.ts';
import { translateDriverError } from '../sql-errors.ts';

/** PostgreSQL settings on top of PGlite's own: a development database, not a server's. */
export const EMBEDDED_SETTINGS: Readonly<Record<string, string>> = {
  // The data of `errand dev` fits; the OS caches the files beneath.
  shared_buffers: '16MB',
};

function startParams(): string[] {
  return [...PGlite.defaultStartParams, ...Object.entries(EMBEDDED_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`])];
}

/** Runs initdb for `dataDir` in a short-lived Node process, so that its memory goes with it. */
async function createDataDir(dataDir: string): Promise<void> {
  const module = import.meta.resolve('@electric-sql/pglite');
  const script = `const { PGlite } = await import(${JSON.stringify(module)});\nconst db = await PGlite.create(${JSON.stringify(dataDir)});\nawait db.close();\n`;
  try {
    await promisify(execFile)(process.execPath, ['--input-type=module', '--eval', script], { maxBuffer: 1024 * 1024 });
  } catch (err) {
    const { stderr } = err as { stderr?: string };
    throw new Error(`could not create the embedded database in ${dataDir}: ${stderr?.trim() || (err as Error).message}`);
  }
}

/** Opens (creating if needed) a database kept in `dataDir`, or in memory when it is undefined. */
export async function openEmbedded(dataDir?: string): Promise<SqlClient> {
  if (dataDir) {
    await mkdir(dataDir, { recursive: true });
    if (!existsSync(join(dataDir, 'PG_VERSION'))) await createDataDir(dataDir);
  }
  // Read when a WebAssembly module is compiled: PGlite's, below (and any compiled later in this process).
  setFlagsFromString('--liftoff-only');
  const db = await PGlite.create(dataDir, { startParams: startParams() });
  const wrap = (q: Pick<PGlite, 'query'>): SqlQueryable => ({
    async query<Row>(statement: Statement, params?: unknown[]): Promise<QueryResult<Row>> {
      try {
        const r = await q.query<Row>(statementText(statement), params);
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
