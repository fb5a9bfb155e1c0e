/** `errand migrate`: creates the database when missing and applies pending migrations. */
import { connectPostgres, ensureDatabase, migrate as applyMigrations } from '../store/index.ts';
import type { Config } from './config.ts';

export async function migrate(config: Config, print: (line: string) => void = console.log): Promise<void> {
  if (await ensureDatabase(config.databaseUrl)) print(`created database ${new URL(config.databaseUrl).pathname.slice(1)}`);
  const db = await connectPostgres({ url: config.databaseUrl, poolSize: 2 });
  try {
    const applied = await applyMigrations(db);
    print(applied.length > 0 ? `applied ${applied.join(', ')} to ${db.target}` : `${db.target} is up to date`);
  } finally {
    await db.close();
  }
}
