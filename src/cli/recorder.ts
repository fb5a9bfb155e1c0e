/** `errand recorder`: records results into PostgreSQL and runs the janitor; replicate freely. */
import { createEventPublisher } from '../broker/index.ts';
import { startJanitor, startRecorder } from '../recorder/index.ts';
import type { JanitorOptions } from '../recorder/index.ts';
import type { Config } from './config.ts';
import { resultLimits } from './config.ts';
import { errandVersion } from './version.ts';
import { createLogger, onShutdown, openPostgresStore, openRabbitMq, startMonitor } from './lifecycle.ts';
import { instrumentPublisher, lostWorkerCounts, resultCounts } from '../monitor/index.ts';

/** The janitor's settings from the command line (serve, recorder and dev run one). */
export function janitorSettings(config: Config): Omit<JanitorOptions, 'store' | 'broker' | 'logger' | 'publicUrl' | 'publisher'> {
  return {
    intervalMs: config.janitorIntervalMs,
    eventRetentionSeconds: config.eventRetentionSeconds,
    maxAttempts: config.maxAttempts,
    lostCheckIntervalMs: config.lostCheckIntervalMs,
    liveness: { unknownGraceMs: config.lostWorkerGraceMs },
    ...callbackSettings(config),
  };
}

/** Completion callbacks (issue 14): delivered by every recorder when hosts are allowed (readConfig requires the secret then). */
export function callbackSettings(config: Config): Pick<JanitorOptions, 'callbacks'> {
  if (config.callbackHosts.hosts.length === 0 || config.callbackSecret === undefined) return {};
  return {
    callbacks: {
      secret: config.callbackSecret,
      allowlist: config.callbackHosts,
      retry: { maxAttempts: config.callbackMaxAttempts, baseDelayMs: config.callbackBaseDelayMs, maxDelayMs: config.callbackMaxDelayMs },
      timeoutMs: config.callbackTimeoutMs,
      pollIntervalMs: config.callbackPollIntervalMs,
      concurrency: config.callbackConcurrency,
      userAgent: `errand/${errandVersion()}`,
    },
  };
}

export async function recorder(config: Config): Promise<void> {
  const logger = createLogger(config, 'errand-recorder');
  const monitor = await startMonitor(config, logger, 'recorder');
  const { metrics, readiness } = monitor;
  const store = await openPostgresStore(config, logger);
  readiness.use({ store });
  const broker = await openRabbitMq(config, logger, 'errand-recorder');
  readiness.use({ broker });
  const publicUrl = config.publicUrl!; // readConfig refuses recorder without it
  // One event pipeline for the recorder and the janitor, counting what they write.
  const publisher = instrumentPublisher(createEventPublisher(broker, logger, { publicUrl }), metrics);
  const running = await startRecorder({ store, broker, logger, publicUrl, publisher, prefetch: config.recorderPrefetch, maxAttempts: config.maxAttempts, resultLimits: resultLimits(config), observer: resultCounts(metrics) });
  const janitor = startJanitor({ store, broker, logger, publicUrl, publisher, ...janitorSettings(config), observer: lostWorkerCounts(metrics) });
  readiness.started();
  logger.info({ database: store.target, broker: broker.target, callbacks: config.callbackHosts.hosts.length > 0 }, 'errand recorder running');
  onShutdown(logger, async () => {
    readiness.stopping();
    await running.close();
    await janitor.stop();
    await publisher.close();
    await broker.close();
    await store.close();
    await monitor.close();
  });
}
