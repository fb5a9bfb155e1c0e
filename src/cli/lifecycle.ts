/** What every command shares: the logger, connecting to the real engines, and a clean shutdown. */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import type { Logger } from 'pino';
import { connectAmqp } from '../broker/index.ts';
import type { Broker } from '../broker/index.ts';
import { ErrandError } from '../core/index.ts';
import { connectPostgres, createSqlStore, migrate, pendingMigrations } from '../store/index.ts';
import type { Store } from '../store/index.ts';
import type { Config } from './config.ts';
import { createMetrics, createReadiness, readinessMetrics, startMonitorListener } from '../monitor/index.ts';
import type { Metrics, MonitorListener, Readiness } from '../monitor/index.ts';

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

/** Errand's version, from the package.json beside src/ (and dist/). */
export function errandVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** A process's monitor (issue 14): its one metrics registry, its readiness, and the --metrics-port listener when asked for. */
export interface ProcessMonitor {
  metrics: Metrics;
  readiness: Readiness;
  listener?: MonitorListener;
  /** Closes the listener: the last thing a stopping role does, so that /health answers until then. */
  close(): Promise<void>;
}

/**
 * Made first thing, so that with --metrics-port /health answers (and /ready says "starting")
 * while the role connects and loads its services. The role tells the readiness what it opened
 * (`use`) and when it is up (`started`).
 */
export async function startMonitor(config: Config, logger: Logger, role: string): Promise<ProcessMonitor> {
  const metrics = createMetrics({ role, version: errandVersion(), maxServices: config.metricsMaxServices, processMetrics: true });
  const readiness = createReadiness({ timeoutMs: config.readyTimeoutMs, role });
  readinessMetrics(metrics, readiness);
  const listener = config.metricsPort === undefined ? undefined : await startMonitorListener({ host: config.metricsHost, port: config.metricsPort, readiness, metrics });
  if (listener) logger.info({ address: listener.url }, 'health, readiness and metrics listening');
  return { metrics, readiness, ...(listener ? { listener } : {}), close: async () => { await listener?.close(); } };
}

/** `errand serve` (and dev) on SIGTERM: /ready answers 503 for `delayMs` while everything else still serves, so that load balancers stop sending first. */
export async function drain(readiness: Readiness, logger: Logger, delayMs: number): Promise<void> {
  readiness.stopping();
  if (delayMs <= 0) return;
  logger.info({ drainDelayMs: delayMs }, 'draining: /ready answers 503; serving on until the delay ends');
  await new Promise((resolve) => setTimeout(resolve, delayMs));
}
