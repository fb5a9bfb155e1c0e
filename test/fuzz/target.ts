/**
 * The server under fuzz, as an operator runs it: `errand dev` (PGlite + in-process broker), or
 * `errand serve` + `errand worker` on a fresh PostgreSQL database and RabbitMQ vhost. Both get the
 * same services (the bundled echo, the bundled regression's schema on a Node stub, and fixtures
 * whose results are hostile) and the same short limits, set through ERRAND_* variables.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, createTestVhost } from '../support/backends.ts';
import { freePort, spawnErrand, stopAll } from '../support/processes.ts';
import type { RunningErrand } from '../support/processes.ts';
import { eventually } from '../support/wait.ts';

const BUNDLED = fileURLToPath(new URL('../../services/', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/fuzz-services/', import.meta.url));

/** The per-client cap on streams and sockets the suite runs with (item 9). */
export const STREAM_CAP = 4;
/** Result bounds the suite runs with (item 10). */
export const MAX_RESULT_FILES = 20;
export const MAX_RESULT_FILE_BYTES = 1024 * 1024;
/** The request, headers and idle timeouts the suite runs with (item 8), in ms. */
export const SHORT_TIMEOUT_MS = 2000;

/** The idle timeout the suite runs with: the shortest --idle-timeout allows (event streams are quiet up to 15 s). */
export const IDLE_TIMEOUT_MS = 30_000;

/**
 * The limits of issue 11, set short so that the suite sees them act. Given as environment
 * variables, not flags: a variable the server does not know is ignored, where an unknown flag
 * would stop it, so the suite also runs on a tree where some limits are not in yet. The names
 * are those of src/cli/config.ts.
 */
export const LIMIT_ENV: Record<string, string> = {
  // item 8: a request that trickles in is cut (ms)
  ERRAND_REQUEST_TIMEOUT: String(SHORT_TIMEOUT_MS),
  ERRAND_HEADERS_TIMEOUT: String(SHORT_TIMEOUT_MS),
  ERRAND_IDLE_TIMEOUT: String(IDLE_TIMEOUT_MS),
  // item 9: per-client caps on WebSockets, SSE streams, and subscriptions per socket
  ERRAND_MAX_WEBSOCKETS_PER_CLIENT: String(STREAM_CAP),
  ERRAND_MAX_SSE_PER_CLIENT: String(STREAM_CAP),
  ERRAND_MAX_SUBSCRIPTIONS_PER_SOCKET: String(STREAM_CAP),
  // item 10: result bounds (bytes)
  ERRAND_MAX_RESULT_FILES: String(MAX_RESULT_FILES),
  ERRAND_MAX_RESULT_FILE_SIZE: String(MAX_RESULT_FILE_BYTES),
  ERRAND_MAX_RESULT_SIZE: String(4 * MAX_RESULT_FILE_BYTES),
};

/**
 * Every errand process the suite started: killed if the test process ends before its cleanup did
 * (a run that timed out), so that no server is left behind holding a port.
 */
const started = new Set<RunningErrand>();
function track(child: RunningErrand): RunningErrand {
  started.add(child);
  void child.exited.then(() => started.delete(child));
  return child;
}
const killStarted = (): void => started.forEach((p) => p.child.kill('SIGKILL'));
process.once('exit', killStarted);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    killStarted();
    process.exit(1);
  });
}

export interface FuzzTarget {
  readonly kind: 'dev' | 'serve';
  readonly host: string;
  readonly port: number;
  /** Where the suite's own good requests go. */
  readonly baseUrl: string;
  /** What every link must start with (`--public-url`, or dev's own address). */
  readonly linkBases: readonly string[];
  readonly apiKey: string;
  /** A value only the server's environment holds: no script may see it (item 6). */
  readonly secret: string;
  /** The process that serves HTTP (the one SIGTERM must stop). */
  readonly server: RunningErrand;
  readonly processes: readonly RunningErrand[];
  /** Stops what is still running and removes the database, vhost and folders. */
  cleanup(): Promise<void>;
}

export const SERVICES = ['echo', 'regression', 'files', 'env'] as const;

/** echo and the fixtures as they are; regression's manifest (its input schema) over a Node stub, so no R is needed. */
async function prepareServices(dir: string): Promise<void> {
  await cp(FIXTURES, dir, { recursive: true });
  await cp(join(BUNDLED, 'echo'), join(dir, 'echo'), { recursive: true });
  const echo = JSON.parse(await readFile(join(dir, 'echo', 'service.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, 'echo', 'service.json'), JSON.stringify({ ...echo, concurrency: 2 }));
  const regression = JSON.parse(await readFile(join(BUNDLED, 'regression', 'service.json'), 'utf8')) as Record<string, unknown>;
  await mkdir(join(dir, 'regression'));
  await writeFile(join(dir, 'regression', 'service.json'), JSON.stringify({ ...regression, runtime: 'node', entry: 'index.ts', concurrency: 1 }));
  await writeFile(join(dir, 'regression', 'index.ts'), 'export async function run(input: unknown): Promise<unknown> { return { stub: true, input }; }\n');
}

async function servicesOnline(baseUrl: string, apiKey: string): Promise<void> {
  await eventually(async () => {
    const response = await fetch(`${baseUrl}/services`, { headers: { 'x-api-key': apiKey } }).catch(() => undefined);
    if (!response?.ok) return false;
    const { services } = (await response.json()) as { services: { name: string; online: boolean }[] };
    return SERVICES.every((name) => services.some((s) => s.name === name && s.online));
  }, `services ${SERVICES.join(', ')} online at ${baseUrl}`, 60_000);
}

function secrets(): { apiKey: string; secret: string } {
  const tag = Math.random().toString(36).slice(2, 10);
  return { apiKey: `fuzz-api-key-${tag}`, secret: `fuzz-secret-${tag}` };
}

export async function startDevTarget(): Promise<FuzzTarget> {
  const root = await mkdtemp(join(tmpdir(), 'errand-fuzz-dev-'));
  const services = join(root, 'services');
  await prepareServices(services);
  const port = await freePort();
  const { apiKey, secret } = secrets();
  const dev = track(spawnErrand(['dev', '--port', String(port), '--data-dir', join(root, 'data'), '--services', services], {
    ...LIMIT_ENV, ERRAND_API_KEY: apiKey, FUZZ_SECRET_TOKEN: secret,
  }));
  await eventually(() => dev.output().includes('Ctrl-C stops') || dev.child.exitCode !== null, 'errand dev to print its banner', 60_000);
  if (dev.child.exitCode !== null) throw new Error(`errand dev exited: ${dev.output()}`);
  const baseUrl = `http://127.0.0.1:${port}`;
  await servicesOnline(baseUrl, apiKey);
  return {
    kind: 'dev', host: '127.0.0.1', port, baseUrl, apiKey, secret, server: dev, processes: [dev],
    linkBases: [`http://localhost:${port}/`, `http://127.0.0.1:${port}/`, `ws://localhost:${port}/`, `ws://127.0.0.1:${port}/`],
    async cleanup() {
      await stopAll([dev]);
      await rm(root, { recursive: true, force: true });
    },
  };
}

export async function startServeTarget(): Promise<FuzzTarget> {
  const root = await mkdtemp(join(tmpdir(), 'errand-fuzz-serve-'));
  const services = join(root, 'services');
  await prepareServices(services);
  const database = await createTestDatabase();
  const vhost = await createTestVhost();
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const { apiKey, secret } = secrets();
  // Both roles get every secret, as when they share one environment file: the worker must still keep them from scripts.
  const env = { ...LIMIT_ENV, ERRAND_API_KEY: apiKey, FUZZ_SECRET_TOKEN: secret, ERRAND_DATABASE_URL: database.url, ERRAND_AMQP_URL: vhost.url, ERRAND_PUBLIC_URL: publicUrl };
  const serve = track(spawnErrand(['serve', '--port', String(port), '--public-url', publicUrl, '--migrate'], env));
  const worker = track(spawnErrand(['worker', '--services', services, '--announce-interval', '1000'], env));
  const processes = [serve, worker];
  try {
    await serve.waitForLog((l) => l.msg === 'errand serving', 60_000);
    await worker.waitForLog((l) => l.msg === 'errand worker running', 60_000);
    await servicesOnline(publicUrl, apiKey);
  } catch (err) {
    await stopAll(processes);
    await database.drop();
    await vhost.drop();
    throw err;
  }
  return {
    kind: 'serve', host: '127.0.0.1', port, baseUrl: publicUrl, apiKey, secret, server: serve, processes,
    linkBases: [`${publicUrl}/`, `ws://127.0.0.1:${port}/`],
    async cleanup() {
      await stopAll(processes);
      await database.drop().catch(() => undefined);
      await vhost.drop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
