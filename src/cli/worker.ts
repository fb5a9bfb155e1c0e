/** `errand worker`: runs the services of a folder for tasks from RabbitMQ. */
import { loadServiceDir, startWorker } from '../worker/index.ts';
import { ErrandError, secretValues } from '../core/index.ts';
import type { Config } from './config.ts';
import { resultLimits } from './config.ts';
import { errandVersion } from './version.ts';
import { createLogger, onShutdown, openRabbitMq, startMonitor } from './lifecycle.ts';
import { executorMetrics } from '../monitor/index.ts';

export async function worker(config: Config): Promise<void> {
  const logger = createLogger(config, 'errand-worker');
  const monitor = await startMonitor(config, logger, 'worker');
  const { services, problems } = await loadServiceDir(config.servicesDir, { defaultConcurrency: config.concurrency, executorIdleTimeoutMs: config.executorIdleTimeoutMs, rscript: config.rscript, logger, secrets: secretValues([config.apiKey, config.databaseUrl, config.amqpUrl]) });
  for (const problem of problems) logger.error(problem, `service not started: ${problem.file}${problem.field ? ` (${problem.field})` : ''}: ${problem.message}`);
  if (services.length === 0) throw new ErrandError('invalid_field', `no service could be started from ${config.servicesDir}`, 'services');
  const broker = await openRabbitMq(config, logger, 'errand-worker');
  monitor.readiness.use({ broker });
  const running = await startWorker({ broker, services, logger, announceIntervalMs: config.announceIntervalMs, progressIntervalMs: config.progressIntervalMs, slotWaitMs: config.slotWaitMs, startReportAfterMs: config.startReportAfterMs, stopGraceMs: config.stopGraceMs, resultLimits: resultLimits(config), errandVersion: errandVersion() });
  executorMetrics(monitor.metrics, services);
  monitor.readiness.started();
  logger.info({ worker: running.id, services: services.map((s) => s.name), broker: broker.target }, 'errand worker running');
  onShutdown(logger, async () => {
    monitor.readiness.stopping();
    await running.close();
    await broker.close();
    await monitor.close();
  });
}
