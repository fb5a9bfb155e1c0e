/** `errand serve`: the HTTP and WebSocket server on RabbitMQ + PostgreSQL, with a recorder inside by default. */
import { createEventPublisher } from '../broker/index.ts';
import { FlakeIdGenerator } from '../core/index.ts';
import { startJanitor, startRecorder } from '../recorder/index.ts';
import { createApp, leaseNodeId } from '../server/index.ts';
import type { Config } from './config.ts';
import { resultLimits } from './config.ts';
import { createLogger, drain, onShutdown, openPostgresStore, openRabbitMq, startMonitor } from './lifecycle.ts';
import { instrumentPublisher, lostWorkerCounts, resultCounts } from '../monitor/index.ts';
import { janitorSettings } from './recorder.ts';
import { readTlsFiles } from './tls.ts';
import type { AuthSettings, ServerSettings, TlsFiles } from '../server/index.ts';
import { serveAuthSettings } from './auth.ts';
import { capabilityKeyringFor } from './capability-secret.ts';

export async function serve(config: Config): Promise<void> {
  const logger = createLogger(config, 'errand-serve');
  const tls = await readTlsFiles(config); // before any connection: a bad file stops here, in one line
  const monitor = await startMonitor(config, logger, 'serve');
  const { metrics, readiness } = monitor;
  const store = await openPostgresStore(config, logger);
  readiness.use({ store });
  // Before the broker and the node lease: a server that will not authenticate stops here, in one line.
  const auth = await serveAuthSettings(config, store).catch(async (err: unknown) => { await store.close(); throw err; });
  const capabilities = await capabilityKeyringFor(config, 'serve');
  if (auth.required && !capabilities) logger.warn('no --capability-secret: task links carry no access token, so a browser can follow them only with a credential of its own');
  const broker = await openRabbitMq(config, logger, 'errand-serve');
  readiness.use({ broker });
  const lease = config.nodeId === undefined ? await leaseNodeId(store, logger, () => process.exit(70)) : undefined;
  const nodeId = config.nodeId ?? lease!.nodeId;
  const publicUrl = config.publicUrl!; // readConfig refuses serve without it
  // One event pipeline for the server, its recorder and its janitor, counting what they write.
  const publisher = instrumentPublisher(createEventPublisher(broker, logger, { publicUrl }), metrics);
  const app = await createApp({ store, broker, publisher, ids: new FlakeIdGenerator(nodeId), logger, settings: { ...serverSettings(config, tls), auth, ...capabilitySettings(config, capabilities) }, monitor: { readiness, metrics } });
  const recorder = config.recorder ? await startRecorder({ store, broker, logger, publicUrl, publisher, prefetch: config.recorderPrefetch, maxAttempts: config.maxAttempts, resultLimits: resultLimits(config), observer: resultCounts(metrics) }) : undefined;
  const janitor = config.recorder ? startJanitor({ store, broker, logger, publicUrl, publisher, ...janitorSettings(config), observer: lostWorkerCounts(metrics) }) : undefined;
  const address = await app.listen({ host: config.host, port: config.port });
  readiness.started();
  logger.info({ address, nodeId, database: store.target, broker: broker.target, recorder: config.recorder }, 'errand serving');
  onShutdown(logger, async () => {
    // Load balancers see /ready fail and stop sending; requests still arriving meanwhile are served.
    await drain(readiness, logger, config.drainDelayMs);
    await app.close();
    await recorder?.close();
    await janitor?.stop();
    await publisher.close();
    await broker.close();
    await lease?.release();
    await store.close();
    await monitor.close();
  });
}

export function capabilitySettings(config: Config, keyring: Awaited<ReturnType<typeof capabilityKeyringFor>>): Pick<ServerSettings, 'capabilities'> {
  return keyring ? { capabilities: { keyring, lifetimeMs: config.capabilityLifetimeMs } } : {};
}

export type { AuthSettings };

export function serverSettings(config: Config, tls?: TlsFiles) {
  return {
    bodyLimit: config.bodyLimit,
    maxJsonDepth: config.maxJsonDepth,
    allowUnknownServices: config.allowUnknownServices,
    trustProxy: config.trustProxy,
    // HTTP edge (issue 11)
    requestTimeoutMs: config.requestTimeoutMs,
    headersTimeoutMs: config.headersTimeoutMs,
    keepAliveTimeoutMs: config.keepAliveTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    maxHeaderSize: config.maxHeaderSize,
    maxParamLength: config.maxParamLength,
    maxStatusIds: config.maxStatusIds,
    // Capacity figures (issue 14)
    stats: config.stats,
    maxTasksPerPage: config.maxTasksPerPage,
    metricsStats: { concurrency: config.metricsStatsConcurrency, maxAgeMs: config.metricsStatsMaxAgeMs },
    ...(config.publicUrl !== undefined ? { publicUrl: config.publicUrl } : {}),
    ...(config.defaultTtl !== undefined ? { defaultTtl: config.defaultTtl } : {}),
    ...(config.defaultQueueTimeout !== undefined ? { defaultQueueTimeout: config.defaultQueueTimeout } : {}),
    // Durations (issue 11, poison ttl)
    maxTtl: config.maxTtl,
    maxDeadline: config.maxDeadline,
    // Stream caps (issue 11)
    maxWebSocketsPerClient: config.maxWebSocketsPerClient,
    maxEventStreamsPerClient: config.maxEventStreamsPerClient,
    maxSubscriptionsPerSocket: config.maxSubscriptionsPerSocket,
    maxStreams: config.maxStreams,
    maxStreamBufferBytes: config.maxStreamBufferBytes,
    // Client certificates (issue 12)
    ...(tls !== undefined ? { tls } : {}),
    clientCertGrant: config.clientCertGrant,
    // CORS and browsers (issue 12)
    corsOrigins: config.corsOrigins,
    // Completion callbacks (issue 14)
    callbackHosts: config.callbackHosts,
  };
}
