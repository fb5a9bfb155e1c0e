/** `errand serve`: the HTTP and WebSocket server on RabbitMQ + PostgreSQL, with a recorder inside by default. */
import { createEventPublisher } from '../broker/index.ts';
import { FlakeIdGenerator } from '../core/index.ts';
import { startJanitor, startRecorder } from '../recorder/index.ts';
import { createApp, leaseNodeId } from '../server/index.ts';
import type { Config } from './config.ts';
import { resultLimits } from './config.ts';
import { createLogger, onShutdown, openPostgresStore, openRabbitMq } from './lifecycle.ts';
import { janitorSettings } from './recorder.ts';
import { readTlsFiles } from './tls.ts';
import type { AuthSettings, ServerSettings, TlsFiles } from '../server/index.ts';
import { serveAuthSettings } from './auth.ts';
import { capabilityKeyringFor } from './capability-secret.ts';

export async function serve(config: Config): Promise<void> {
  const logger = createLogger(config, 'errand-serve');
  const tls = await readTlsFiles(config); // before any connection: a bad file stops here, in one line
  const store = await openPostgresStore(config, logger);
  // Before the broker and the node lease: a server that will not authenticate stops here, in one line.
  const auth = await serveAuthSettings(config, store).catch(async (err: unknown) => { await store.close(); throw err; });
  const capabilities = await capabilityKeyringFor(config, 'serve');
  if (auth.required && !capabilities) logger.warn('no --capability-secret: task links carry no access token, so a browser can follow them only with a credential of its own');
  const broker = await openRabbitMq(config, logger, 'errand-serve');
  const lease = config.nodeId === undefined ? await leaseNodeId(store, logger, () => process.exit(70)) : undefined;
  const nodeId = config.nodeId ?? lease!.nodeId;
  const publicUrl = config.publicUrl!; // readConfig refuses serve without it
  // One event pipeline for the server, its recorder and its janitor.
  const publisher = createEventPublisher(broker, logger, { publicUrl });
  const app = await createApp({ store, broker, publisher, ids: new FlakeIdGenerator(nodeId), logger, settings: { ...serverSettings(config, tls), auth, ...capabilitySettings(config, capabilities) } });
  const recorder = config.recorder ? await startRecorder({ store, broker, logger, publicUrl, publisher, prefetch: config.recorderPrefetch, maxAttempts: config.maxAttempts, resultLimits: resultLimits(config) }) : undefined;
  const janitor = config.recorder ? startJanitor({ store, broker, logger, publicUrl, publisher, ...janitorSettings(config) }) : undefined;
  const address = await app.listen({ host: config.host, port: config.port });
  logger.info({ address, nodeId, database: store.target, broker: broker.target, recorder: config.recorder }, 'errand serving');
  onShutdown(logger, async () => {
    await app.close();
    await recorder?.close();
    await janitor?.stop();
    await publisher.close();
    await broker.close();
    await lease?.release();
    await store.close();
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
    maxTasksPerPage: config.maxTasksPerPage,
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
  };
}
