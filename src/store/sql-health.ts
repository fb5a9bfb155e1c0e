/**
 * What a readiness probe asks of the database: that it answers, and that its schema is the one
 * this code was built for. Two small reads; the migration files are listed once per process.
 */
import { loadMigrations } from './migrate.ts';
import type { Migration } from './migrate.ts';
import type { SqlQueryable } from './sql-client.ts';
import type { SchemaHealth, SchemaStatus } from './store.ts';

export function sqlSchemaHealth(db: SqlQueryable): SchemaHealth {
  let known: Promise<Migration[]> | undefined;
  return {
    async schemaStatus(): Promise<SchemaStatus> {
      const migrations = await (known ??= loadMigrations().catch((err: unknown) => { known = undefined; throw err; }));
      // A database that was never migrated has no errand_migration table: every migration is pending.
      const table = await db.query<{ t: string | null }>("SELECT to_regclass('errand_migration')::text AS t");
      const applied = new Set<number>();
      if (table.rows[0]?.t) {
        const rows = await db.query<{ version: number }>('SELECT version FROM errand_migration');
        for (const row of rows.rows) applied.add(Number(row.version));
      }
      const versions = new Set(migrations.map((m) => m.version));
      return {
        pending: migrations.filter((m) => !applied.has(m.version)).map((m) => m.name),
        newer: [...applied].filter((v) => !versions.has(v)).sort((a, b) => a - b),
      };
    },
  };
}
