/** What every command shares: the logger, connecting to the real engines, and a clean shutdown. */
import pino from 'pino';
import type { Logger } from 'pino';
import { connectAmqp } from '../broker/index.ts';
import type { Broker } from '../broker/index.ts';
import { ErrandError } from '../core/index.ts';
import { connectPostgres, createSqlStore, migrate, pendingMigrations } from '../store/index.ts';
import type { Store } from '../store/index.ts';
import type { Config } from './config.ts';

export function createLogger(config: Config, name: string): Logger {
  return pino({ name, level: config.logLevel });
}

/** Connects to PostgreSQL and makes sure the schema is current (migrating when asked to). */
export async function openPostgresStore(config: Config, logger: Logger, poolSize = 10): Promise<Store> {
  const db = await connectPostgres({ url: config.databaseUrl, logger, poolSize });
  if (config.migrate) {
    const applied = await migrate(db);
    if (applied.length > 0) logger.info({ applied }, 'migrations applied');
  } else {
    const pending = await pendingMigrations(db);
    if (pending.length > 0) {
      await db.close();
      throw new ErrandError('database_unavailable', `the database at ${db.target} needs migrations (${pending.join(', ')}): run \`errand migrate\` or pass --migrate`);
    }
  }
  return createSqlStore(db);
}

export function openRabbitMq(config: Config, logger: Logger, name: string): Promise<Broker> {
  return connectAmqp({ url: config.amqpUrl, logger, name });
}

/** Runs `stop` once on SIGINT/SIGTERM; a second signal exits at once. */
export function onShutdown(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handle = (signal: string): void => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (err: Error) => {
        logger.error({ err: err.message }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => handle('SIGINT'));
  process.once('SIGTERM', () => handle('SIGTERM'));
}
