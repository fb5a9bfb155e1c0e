/**
 * Errand's side of the bench: the RabbitMQ + PostgreSQL roles as `errand serve` runs them by
 * default (with its recorder inside) and `errand worker`, or with --split-recorder as three
 * processes (errand serve --no-recorder, errand recorder, errand worker); driven over HTTP the way
 * clients drive them.
 *   throughput: N no-op tasks submitted by C concurrent clients, from the first submit to the
 *               last result committed (the recorder's `<id>.end`, published after the commit)
 *   latency:    M tasks one after another, each from POST to the terminal WebSocket message
 *   R (asked):  the same latency for a no-op R service, and the R runtime's own costs (r-runtime.ts)
 */
import { execFile } from 'node:child_process';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import pg from 'pg';
import { Pool } from 'undici';
import { WebSocket } from 'ws';
import { serveAddressArgs, spawnErrand } from '../test/support/processes.ts';
import type { RunningErrand } from '../test/support/processes.ts';
import { childrenSeconds, cpuSeconds, cpuSnapshot, perThousand, pidsOf } from './cpu.ts';
import { forkCost, rscriptPerTask, warmRoundTrip } from './r-runtime.ts';
import { percentiles } from './stats.ts';
import type { Latency, RunResult } from './stats.ts';

const run = promisify(execFile);
const PG_BASE = 'postgres://127.0.0.1:5432';
const SERVICES = new URL('./services/', import.meta.url).pathname;
/** Signs the capability links the latency clients follow (as a browser would); any strong secret. */
const CAPABILITY_SECRET = 'YmVuY2gtY2FwYWJpbGl0eS1zZWNyZXQtMzItYnl0ZXMhIQ';

export const databaseUrlOf = (name: string) => `${PG_BASE}/${name}`;
export const amqpUrlOf = (vhost: string) => `amqp://guest:guest@127.0.0.1:5672/${vhost}`;

/** Where one Errand run points: its database, its vhost, and the API key its clients send. */
export interface ErrandTarget { databaseUrl: string; amqpUrl: string; apiKey: string }

export interface Load { tasks: number; clients: number; latencyTasks: number; workerConcurrency: number; splitRecorder?: boolean }

export interface RMeasures { rP50: number; rP99: number; execP50: number; execP99: number; scriptP50: number; scriptP99: number; forkMs: number }

/** A client of a database, as the operator running the bench (the roles are given URLs without a user, as in the tests). */
export const sqlClient = (database: string) => new pg.Client({ connectionString: `postgres://${process.env.PGUSER ?? userInfo().username}@127.0.0.1:5432/${database}` });

/** A client of the server's own maintenance database (`postgres`). */
export async function withAdmin<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
  const admin = sqlClient('postgres');
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.end();
  }
}

export async function dropDatabase(name: string): Promise<void> {
  await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`));
}

/** An empty vhost for each run: no queue or message of an earlier run is left. */
export async function resetVhost(vhost: string): Promise<void> {
  await run('rabbitmqctl', ['-q', 'delete_vhost', vhost]).catch(() => undefined);
  await run('rabbitmqctl', ['-q', 'add_vhost', vhost]);
  await run('rabbitmqctl', ['-q', 'set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*']);
}

/** `errand migrate` (which creates the database), then the key the clients send, as an operator makes it. */
export async function migrateWithKey(databaseUrl: string): Promise<string> {
  const migrate = spawnErrand(['migrate', '--database-url', databaseUrl]);
  if ((await migrate.exited).code !== 0) throw new Error(migrate.output());
  // Production's shape (issue 12): a web app's key that submits and reads its own tasks.
  const key = spawnErrand(['keys', 'create', 'bench', '--scope', 'submit', '--scope', 'read', '--database-url', databaseUrl]);
  if ((await key.exited).code !== 0) throw new Error(key.output());
  return key.output().trim().split('\n').at(-1)!;
}

export async function startRoles(target: ErrandTarget, workerConcurrency: number, splitRecorder = false): Promise<{ base: string; worker: RunningErrand; serve: RunningErrand; recorder?: RunningErrand }> {
  const common = ['--database-url', target.databaseUrl, '--amqp-url', target.amqpUrl, '--log-level', 'warn'];
  const worker = spawnErrand(['worker', '--amqp-url', target.amqpUrl, '--services', SERVICES, '--concurrency', String(workerConcurrency), '--log-level', 'info']);
  await worker.waitForLog((l) => l.msg === 'errand worker running');
  const serve = spawnErrand(['serve', ...common, ...(await serveAddressArgs()), ...(splitRecorder ? ['--no-recorder'] : []), '--capability-secret', CAPABILITY_SECRET, '--log-level', 'info']);
  const base = (await serve.waitForLog((l) => l.msg === 'errand serving')).address as string;
  if (!splitRecorder) return { base, worker, serve };
  const recorder = spawnErrand(['recorder', ...common, '--public-url', base, '--log-level', 'info']);
  await recorder.waitForLog((l) => l.msg === 'errand recorder running');
  return { base, worker, serve, recorder };
}

/** A client of one running server: submits with the key, over undici's Pool (fetch costs the client more CPU than the server spends per request). */
function client(base: string, apiKey: string, connections: number) {
  const pool = new Pool(base, { connections });

  /** Submits a task; answers its id and its capability link to the updates socket. */
  async function submit(service = 'noop'): Promise<{ id: string; updates: string }> {
    const response = await pool.request({ path: `/task?service=${service}`, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }, body: '{"n":1}' });
    const text = await response.body.text();
    if (response.statusCode !== 201) throw new Error(`POST answered ${response.statusCode}: ${text}`);
    const task = JSON.parse(text) as { id: string; _links: { updates: { href: string } } };
    return { id: task.id, updates: task._links.updates.href };
  }

  async function latency(tasks: number, service = 'noop'): Promise<Latency> {
    const samples: number[] = [];
    for (let i = 0; i < tasks; i++) {
      const start = performance.now();
      // The watcher follows the task's link with its token, as a browser handed the link would.
      const { updates } = await submit(service);
      await terminal(updates);
      samples.push(performance.now() - start);
    }
    return percentiles(samples);
  }

  return { submit, latency, close: () => pool.close() };
}

function terminal(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.on('message', (data) => {
      const type = (JSON.parse(data.toString()) as { eventType: string }).eventType;
      if (type === 'done' || type === 'failed') { resolve(); socket.close(); }
    });
    socket.on('error', reject);
  });
}

async function throughput(amqpUrl: string, submit: () => Promise<{ id: string }>, load: Load): Promise<{ tasksPerSecond: number; submitPerSecond: number }> {
  const connection = await amqp.connect(amqpUrl);
  const channel = await connection.createChannel();
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  await channel.bindQueue(queue, 'rpc_status', '*.end');
  const ended = new Set<string>();
  let allEnded!: () => void;
  const done = new Promise<void>((resolve) => (allEnded = resolve));
  const mine = new Set<string>();
  await channel.consume(queue, (msg) => {
    if (!msg) return;
    ended.add(msg.fields.routingKey.slice(0, 16));
    if (ended.size >= load.tasks && [...mine].every((x) => ended.has(x))) allEnded();
  }, { noAck: true });
  const start = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: load.clients }, async () => {
    while (next < load.tasks) {
      next++;
      mine.add((await submit()).id);
    }
  }));
  const submitted = performance.now();
  if (ended.size >= load.tasks) allEnded();
  await done;
  const elapsed = performance.now() - start;
  await connection.close();
  return { tasksPerSecond: (load.tasks / elapsed) * 1000, submitPerSecond: (load.tasks / (submitted - start)) * 1000 };
}

/**
 * One run against a prepared database and an empty vhost: throughput with the CPU split, then
 * latency, then R when asked, then `after` (more measures of the running server at `base`).
 */
export async function measureErrand(target: ErrandTarget, load: Load, rTasks?: number, after?: (base: string) => Promise<void>): Promise<{ result: RunResult; r?: RMeasures }> {
  const { base, worker, serve, recorder } = await startRoles(target, load.workerConcurrency, load.splitRecorder);
  const http = client(base, target.apiKey, load.clients);
  try {
    await http.latency(load.latencyTasks).catch(() => undefined); // warm up connections and JIT, not measured
    // And the worker's process pool: it grows under load (a process per task that waits 20 ms),
    // once; the measured run is the steady state, as the peer's worker runs in one process throughout.
    await throughput(target.amqpUrl, () => http.submit(), { ...load, tasks: Math.min(load.tasks, load.clients * 20) });
    const probe: Record<string, () => Promise<number>> = {
      [recorder ? 'server' : 'server and recorder']: () => cpuSeconds([serve.child.pid!]),
      worker: () => cpuSeconds([worker.child.pid!]),
      // The Node service runs in the worker's child processes (so that a stop can kill it).
      'worker services': () => childrenSeconds(worker.child.pid!),
      ...(recorder ? { recorder: () => cpuSeconds([recorder.child.pid!]) } : {}),
      // Every backend, the exited ones included (in the postmaster's reaped-children time); other databases' too, on a shared machine.
      postgres: async () => cpuSeconds(await pidsOf('postgres'), true),
      rabbitmq: async () => cpuSeconds(await pidsOf('beam.smp'), true),
      'bench client': () => cpuSeconds([process.pid]),
    };
    const before = await cpuSnapshot(probe);
    const t = await throughput(target.amqpUrl, () => http.submit(), load);
    const cpu = perThousand(before, await cpuSnapshot(probe), load.tasks);
    const l = await http.latency(load.latencyTasks);
    const result: RunResult = { ...t, ...l, cpu };
    await after?.(base);
    if (rTasks === undefined) return { result };
    await http.latency(50, 'rnoop'); // warm up
    const rl = await http.latency(rTasks, 'rnoop');
    const exec = await warmRoundTrip(rTasks);
    const script = await rscriptPerTask(20);
    return { result, r: { rP50: rl.p50, rP99: rl.p99, execP50: exec.p50, execP99: exec.p99, scriptP50: script.p50, scriptP99: script.p99, forkMs: await forkCost(200) } };
  } finally {
    await http.close();
    await Promise.all([worker, serve, ...(recorder ? [recorder] : [])].map((role) => role.stop()));
  }
}
