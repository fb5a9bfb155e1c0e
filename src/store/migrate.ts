/** Versioned SQL migrations: `migrations/NNN_name.sql`, applied in order, each once, in its own transaction. */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { SqlClient } from './sql-client.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
/** Advisory lock key ('errand.migrate'): two processes migrating at once take turns. */
const MIGRATION_LOCK = 7_415_021_001;

export interface Migration { version: number; name: string; sql: string }

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.split('_', 1)[0]),
      name: file.replace(/\.sql$/, ''),
      sql: await readFile(dir + file, 'utf8'),
    })),
  );
}

/** Applies every migration not yet applied; returns the names applied now. */
export async function migrate(db: SqlClient): Promise<string[]> {
  await db.exec(`CREATE TABLE IF NOT EXISTS errand_migration (
    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
  const applied: string[] = [];
  for (const migration of await loadMigrations()) {
    const done = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const seen = await tx.query('SELECT 1 FROM errand_migration WHERE version = $1', [migration.version]);
      if (seen.rowCount > 0) return false;
      for (const statement of splitStatements(migration.sql)) await tx.query(statement);
      await tx.query('INSERT INTO errand_migration (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      return true;
    });
    if (done) applied.push(migration.name);
  }
  return applied;
}

/** Splits a migration into statements; our migrations keep `;` and `--` out of string literals. */
export function splitStatements(sql: string): string[] {
  return sql
    .replace(/--[^\n]*/g, '')
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export async function pendingMigrations(db: SqlClient): Promise<string[]> {
  const exists = await db.query<{ t: string | null }>("SELECT to_regclass('errand_migration')::text AS t");
  const applied = new Set<number>();
  if (exists.rows[0]?.t) {
    const rows = await db.query<{ version: number }>('SELECT version FROM errand_migration');
    rows.rows.forEach((r) => applied.add(Number(r.version)));
  }
  return (await loadMigrations()).filter((m) => !applied.has(m.version)).map((m) => m.name);
}
