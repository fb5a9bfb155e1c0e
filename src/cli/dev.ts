/**
 * `errand dev` (what `npm start` runs): server, recorder, janitor and a worker in one process,
 * on PGlite kept in --data-dir and the in-process broker, serving the example services. Nothing to
 * install. Tasks left unfinished by a previous run are queued again at start.
 */
import { createEventPublisher, createMemoryBroker, requeueTask } from '../broker/index.ts';
import type { Broker } from '../broker/index.ts';
import { FlakeIdGenerator, secretValues } from '../core/index.ts';
import { startJanitor, startRecorder } from '../recorder/index.ts';
import { createApp, leaseNodeId, listeningUrl } from '../server/index.ts';
import type { ServerSettings, TlsFiles } from '../server/index.ts';
import { createSqlStore, migrate, openEmbedded } from '../store/index.ts';
import type { Recovery, UnfinishedTask } from '../store/index.ts';
import { loadServiceDir, startWorker } from '../worker/index.ts';
import type { Config } from './config.ts';
import { resultLimits } from './config.ts';
import { errandVersion } from './version.ts';
import { createLogger, drain, onShutdown, startMonitor } from './lifecycle.ts';
import { executorMetrics, instrumentPublisher, lostWorkerCounts, resultCounts } from '../monitor/index.ts';
import { capabilitySettings, serverSettings } from './serve.ts';
import { authSettings, credentialFlags, refuseContradiction } from './auth.ts';
import { capabilityKeyringFor } from './capability-secret.ts';
import { janitorSettings } from './recorder.ts';
import { readTlsFiles } from './tls.ts';

/**
 * Re-queues what the last run left unfinished: the in-process broker forgot its messages, and the
 * worker that ran its started tasks died with it. Queued tasks go back on their queues; started
 * ones are queued again as lost attempts (or fail `worker_lost` past `maxAttempts`).
 */
export async function requeueUnfinished(store: Recovery, broker: Broker, maxAttempts: number): Promise<number> {
  const send = (task: UnfinishedTask): Promise<void> => requeueTask(broker, task);
  let count = 0;
  for (let after: string | null = null; ;) {
    const batch = await store.listUnfinished(after, 500);
    for (const task of batch) await send(task);
    count += batch.length;
    if (batch.length < 500) break;
    after = batch[batch.length - 1]!.id;
  }
  for (let after: string | null = null; ;) {
    const batch = await store.listRunning(after, 500);
    for (const task of batch) if ((await store.requeueLost(task, maxAttempts, send)).kind === 'requeued') count++;
    if (batch.length < 500) break;
    after = batch[batch.length - 1]!.id;
  }
  return count;
}

/** dev's dashboard may be opened as 127.0.0.1 or as localhost: both are its own origin. */
export async function devServerSettings(config: Config, tls?: TlsFiles): Promise<ServerSettings> {
  // Open on localhost, unless a credential mode is asked for (then as serve: credentials required).
  refuseContradiction(config);
  const auth = authSettings(config, credentialFlags(config).length > 0);
  return { ...serverSettings(config, tls), corsOwnAddresses: true, auth, ...capabilitySettings(config, await capabilityKeyringFor(config, 'dev')) };
}

export async function dev(config: Config, print: (line: string) => void = console.log): Promise<void> {
  const logger = createLogger({ ...config, logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel }, 'errand-dev');
  const tls = await readTlsFiles(config);
  print(`Errand dev: data in ${config.dataDir} (PGlite), in-process broker`);
  const monitor = await startMonitor(config, logger, 'dev');
  const { metrics, readiness } = monitor;
  if (monitor.listener) print(`Health, readiness and metrics also at ${monitor.listener.url}/ready and /metrics`);
  const db = await openEmbedded(config.dataDir);
  await migrate(db);
  const store = createSqlStore(db);
  const broker = createMemoryBroker();
  readiness.use({ store, broker });
  const { services, problems } = await loadServiceDir(config.servicesDir, { defaultConcurrency: config.concurrency, executorIdleTimeoutMs: config.executorIdleTimeoutMs, rscript: config.rscript, logger, secrets: secretValues([config.apiKey, config.databaseUrl, config.amqpUrl]) });
  for (const problem of problems) print(`service not started: ${problem.file}${problem.field ? ` (${problem.field})` : ''}: ${problem.message}`);
  const worker = await startWorker({ broker, services, logger, announceIntervalMs: config.announceIntervalMs, progressIntervalMs: config.progressIntervalMs, slotWaitMs: config.slotWaitMs, startReportAfterMs: config.startReportAfterMs, stopGraceMs: config.stopGraceMs, resultLimits: resultLimits(config), errandVersion: errandVersion() });
  executorMetrics(metrics, services);
  const lease = config.nodeId === undefined ? await leaseNodeId(store, logger, () => process.exit(70)) : undefined;
  // One event pipeline for the server, the recorder and the janitor; links use the server's base.
  const publisher = instrumentPublisher(createEventPublisher(broker, logger, { publicUrl: () => config.publicUrl ?? listeningUrl(app.server.address(), tls ? 'https' : 'http') }), metrics);
  const app = await createApp({ store, broker, publisher, ids: new FlakeIdGenerator(config.nodeId ?? lease!.nodeId), logger, settings: await devServerSettings(config, tls), monitor: { readiness, metrics } });
  await app.listen({ host: config.host, port: config.port });
  // The server's links use the same base (see createApp): its own address unless --public-url.
  const base = config.publicUrl ?? listeningUrl(app.server.address(), tls ? 'https' : 'http');
  const recorder = await startRecorder({ store, broker, logger, publicUrl: base, publisher, maxAttempts: config.maxAttempts, resultLimits: resultLimits(config), observer: resultCounts(metrics) });
  const janitor = startJanitor({ store, broker, logger, publicUrl: base, publisher, ...janitorSettings(config), observer: lostWorkerCounts(metrics) });
  const requeued = await requeueUnfinished(store, broker, config.maxAttempts);
  if (requeued > 0) print(`re-queued ${requeued} unfinished task(s) from the last run`);
  readiness.started();

  print(`Services: ${services.map((s) => s.name).join(', ')}`);
  print(`Open ${base}/ to submit a task and watch it run, or try:`);
  const example = services.find((s) => s.name === 'slow') ?? services.find((s) => s.manifest.example) ?? services[0];
  if (example) {
    const body = JSON.stringify(example.manifest.example?.value ?? {});
    print(`  curl -si -X POST '${base}/task?service=${example.name}' -H 'content-type: application/json' -d '${body}'`);
  }
  print(`then follow the "self" link it returns; Ctrl-C stops.`);
  onShutdown(logger, async () => {
    await drain(readiness, logger, config.drainDelayMs);
    await app.close();
    await worker.close();
    await recorder.close();
    await janitor.stop();
    await publisher.close();
    await broker.close();
    await lease?.release();
    await store.close();
    await monitor.close();
  });
}
