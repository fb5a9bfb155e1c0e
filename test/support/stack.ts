/** A whole Errand (server, recorder, worker) on one backend, listening on a free port. */
import type { FastifyInstance } from 'fastify';
import { capabilityKeyring, FlakeIdGenerator } from '../../src/core/index.ts';
import type { ResultLimits } from '../../src/core/index.ts';
import { startRecorder } from '../../src/recorder/index.ts';
import type { Recorder } from '../../src/recorder/index.ts';
import { createApp } from '../../src/server/index.ts';
import type { ServerSettings } from '../../src/server/index.ts';
import { startWorker } from '../../src/worker/index.ts';
import type { ServiceDefinition, Worker } from '../../src/worker/index.ts';
import type { Broker } from '../../src/broker/index.ts';
import { createEventPublisher } from '../../src/broker/index.ts';
import { instrumentPublisher, resultCounts } from '../../src/monitor/index.ts';
import type { Metrics, Readiness } from '../../src/monitor/index.ts';
import type { Backend } from './backends.ts';
import { testLogger } from './backends.ts';

export interface Stack {
  app: FastifyInstance;
  baseUrl: string;
  worker?: Worker;
  recorder?: Recorder;
  startRecorder(): Promise<Recorder>;
  close(): Promise<void>;
}

export interface StackOptions {
  services?: ServiceDefinition[];
  settings?: Partial<ServerSettings>;
  nodeId?: number;
  recorder?: boolean;
  /** A broker of the stack's own instead of the backend's (to break it without breaking the backend). */
  broker?: Broker;
  /** Result bounds of the stack's worker and recorder (defaults otherwise). */
  workerLimits?: ResultLimits;
  recorderLimits?: ResultLimits;
  /** Wired as the CLI wires it (issue 14): /metrics, one counted event pipeline for the server and recorder, results counted. */
  metrics?: Metrics;
  /** The stack's readiness, instead of the one the app makes (ready once built). */
  readiness?: Readiness;
  /** One event pipeline for the server and its recorder, as in `errand serve` (implied by `metrics`). */
  sharedPipeline?: boolean;
}

/** The capability secret of test stacks: links carry tokens whenever a stack asks for credentials. */
export const TEST_CAPABILITY_SECRET = 'dGVzdC1jYXBhYmlsaXR5LXNlY3JldC0zMi1ieXRlcy1vaw-Errand-test-only';
export const TEST_CAPABILITIES = { keyring: capabilityKeyring(TEST_CAPABILITY_SECRET), lifetimeMs: 3_600_000 };

export async function startStack(backend: Backend, options: StackOptions = {}): Promise<Stack> {
  const services = options.services ?? [];
  const broker = options.broker ?? backend.broker;
  const worker = services.length > 0 ? await startWorker({ broker, services, logger: testLogger, ...(options.workerLimits ? { resultLimits: options.workerLimits } : {}) }) : undefined;
  const settings: ServerSettings = { bodyLimit: 5 * 1024 * 1024, maxJsonDepth: 256, allowUnknownServices: false, capabilities: TEST_CAPABILITIES, ...options.settings };
  const { metrics } = options;
  // With metrics, one pipeline for the server and its recorder, as in `errand serve`.
  const shared = metrics || options.sharedPipeline ? createEventPublisher(broker, testLogger, { publicUrl: () => stack.baseUrl }) : undefined;
  const publisher = shared && metrics ? instrumentPublisher(shared, metrics) : shared;
  const monitor = metrics || options.readiness ? { ...(metrics ? { metrics } : {}), ...(options.readiness ? { readiness: options.readiness } : {}) } : undefined;
  const app = await createApp({ store: backend.store, broker, ids: new FlakeIdGenerator(options.nodeId ?? 1), logger: testLogger, settings, ...(publisher ? { publisher } : {}), ...(monitor ? { monitor } : {}) });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const stack: Stack = {
    app,
    baseUrl: address,
    ...(worker ? { worker } : {}),
    async startRecorder() {
      stack.recorder = await startRecorder({
        store: backend.store, broker, logger: testLogger, publicUrl: address, prefetch: 64, retryDelayMs: 50, ...(options.recorderLimits ? { resultLimits: options.recorderLimits } : {}),
        ...(publisher ? { publisher } : {}),
        ...(metrics ? { observer: resultCounts(metrics) } : {}),
      });
      return stack.recorder;
    },
    async close() {
      await app.close();
      await worker?.close();
      await stack.recorder?.close();
      await publisher?.close();
    },
  };
  if (options.recorder !== false) await stack.startRecorder();
  return stack;
}
