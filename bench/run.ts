/**
 * `npm run bench`: the RabbitMQ + PostgreSQL roles as separate processes (errand serve, errand
 * recorder, errand worker), driven over HTTP the way clients drive them.
 *   throughput: N no-op tasks submitted by C concurrent clients, from the first submit to the
 *               last result committed (the recorder's `<id>.end`, published after the commit)
 *   latency:    M tasks one after another, each from POST to the terminal WebSocket message
 * Each is run --runs times; the median and the spread (min-max) are reported.
 *   R:          the same latency for a no-op R service (warm R processes), the R executor's own
 *               round trip, one `Rscript` per task for comparison, and the cost of a fork of R
 * Options: --tasks N (10000) --clients C (64) --latency-tasks M (500) --runs R (3) --worker-concurrency K (64)
 *          --r-tasks T (500) --no-r (skip the R measures)
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { cpus, userInfo } from 'node:os';
import amqp from 'amqplib';
import pg from 'pg';
import { Pool } from 'undici';
import { WebSocket } from 'ws';
import { serveAddressArgs, spawnErrand } from '../test/support/processes.ts';
import { forkCost, rscriptPerTask, warmRoundTrip } from './r-runtime.ts';
import type { RunningErrand } from '../test/support/processes.ts';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '10000' },
    clients: { type: 'string', default: '64' },
    'latency-tasks': { type: 'string', default: '500' },
    runs: { type: 'string', default: '3' },
    'worker-concurrency': { type: 'string', default: '64' },
    'r-tasks': { type: 'string', default: '500' },
    'no-r': { type: 'boolean', default: false },
  },
});
const R_TASKS = Number(values['r-tasks']);
const WITH_R = !values['no-r'];
const N = Number(values.tasks);
const C = Number(values.clients);
const M = Number(values['latency-tasks']);
const RUNS = Number(values.runs);
const K = values['worker-concurrency']!;

const DB_NAME = 'errand_bench';
const VHOST = 'errand_bench';
const PG_BASE = 'postgres://127.0.0.1:5432';
const databaseUrl = `${PG_BASE}/${DB_NAME}`;
const amqpUrl = `amqp://guest:guest@127.0.0.1:5672/${VHOST}`;
const SERVICES = new URL('./services/', import.meta.url).pathname;
/** Signs the capability links the latency clients follow (as a browser would); any strong secret. */
const CAPABILITY_SECRET = 'YmVuY2gtY2FwYWJpbGl0eS1zZWNyZXQtMzItYnl0ZXMhIQ';
/** The API key every submission carries (made in resetEngines, as an operator would with `errand keys create`). */
let apiKey = '';

async function resetEngines(): Promise<void> {
  const admin = new pg.Client({ connectionString: `postgres://${process.env.PGUSER ?? userInfo().username}@127.0.0.1:5432/postgres` });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
  await admin.end();
  await run('rabbitmqctl', ['-q', 'delete_vhost', VHOST]).catch(() => undefined);
  await run('rabbitmqctl', ['-q', 'add_vhost', VHOST]);
  await run('rabbitmqctl', ['-q', 'set_permissions', '-p', VHOST, 'guest', '.*', '.*', '.*']);
  const migrate = spawnErrand(['migrate', '--database-url', databaseUrl]);
  if ((await migrate.exited).code !== 0) throw new Error(migrate.output());
  // Production's shape (issue 12): a web app's key that submits and reads its own tasks.
  const key = spawnErrand(['keys', 'create', 'bench', '--scope', 'submit', '--scope', 'read', '--database-url', databaseUrl]);
  if ((await key.exited).code !== 0) throw new Error(key.output());
  apiKey = key.output().trim().split('\n').at(-1)!;
}

async function startRoles(): Promise<{ base: string; roles: RunningErrand[] }> {
  const common = ['--database-url', databaseUrl, '--amqp-url', amqpUrl, '--log-level', 'warn'];
  const worker = spawnErrand(['worker', '--amqp-url', amqpUrl, '--services', SERVICES, '--concurrency', K, '--log-level', 'info']);
  await worker.waitForLog((l) => l.msg === 'errand worker running');
  const serve = spawnErrand(['serve', ...common, ...(await serveAddressArgs()), '--no-recorder', '--capability-secret', CAPABILITY_SECRET, '--log-level', 'info']);
  const base = (await serve.waitForLog((l) => l.msg === 'errand serving')).address as string;
  const recorder = spawnErrand(['recorder', ...common, '--public-url', base, '--log-level', 'info']);
  await recorder.waitForLog((l) => l.msg === 'errand recorder running');
  return { base, roles: [worker, serve, recorder] };
}

// undici's Pool, not fetch: fetch costs the client more CPU than the server spends per request.
let pool: Pool | undefined;

/** Submits a task with the key; answers its id and its capability link to the updates socket. */
async function submit(base: string, service = 'noop'): Promise<{ id: string; updates: string }> {
  pool ??= new Pool(base, { connections: C });
  const response = await pool.request({ path: `/task?service=${service}`, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }, body: '{"n":1}' });
  const text = await response.body.text();
  if (response.statusCode !== 201) throw new Error(`POST answered ${response.statusCode}: ${text}`);
  const task = JSON.parse(text) as { id: string; _links: { updates: { href: string } } };
  return { id: task.id, updates: task._links.updates.href };
}

async function throughput(base: string): Promise<{ tasksPerSecond: number; submitPerSecond: number }> {
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
    const id = msg.fields.routingKey.slice(0, 16);
    ended.add(id);
    if (ended.size >= N && [...mine].every((x) => ended.has(x))) allEnded();
  }, { noAck: true });
  const start = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: C }, async () => {
    while (next < N) {
      next++;
      mine.add((await submit(base)).id);
    }
  }));
  const submitted = performance.now();
  if (ended.size >= N) allEnded();
  await done;
  const elapsed = performance.now() - start;
  await connection.close();
  return { tasksPerSecond: (N / elapsed) * 1000, submitPerSecond: (N / (submitted - start)) * 1000 };
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

async function latency(base: string, service = 'noop', tasks = M): Promise<{ p50: number; p95: number; p99: number }> {
  const samples: number[] = [];
  for (let i = 0; i < tasks; i++) {
    const start = performance.now();
    // The watcher follows the task's link with its token, as a browser handed the link would.
    const { updates } = await submit(base, service);
    await terminal(updates);
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

/** CPU seconds used so far by processes, from /proc (user + system ticks at 100 Hz). */
async function cpuSeconds(pids: number[]): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  let ticks = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return ticks / 100;
}

async function pidsOf(name: string): Promise<number[]> {
  const { stdout } = await run('pgrep', ['-x', name]).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter(Boolean).map(Number);
}

/** Where the CPU went during one throughput run: seconds per part, per 1000 tasks. */
async function cpuSnapshot(roles: RunningErrand[], self: number): Promise<Record<string, number>> {
  const [worker, serve, recorder] = roles.map((r) => r.child.pid!);
  return {
    server: await cpuSeconds([serve!]),
    worker: await cpuSeconds([worker!]),
    recorder: await cpuSeconds([recorder!]),
    postgres: await cpuSeconds(await pidsOf('postgres')),
    rabbitmq: await cpuSeconds(await pidsOf('beam.smp')),
    'bench client': await cpuSeconds([self]),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const spread = (xs: number[], digits: number) => `${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)}`;

async function main(): Promise<void> {
  console.log(`errand bench: ${N} tasks, ${C} clients, ${M} latency tasks, ${RUNS} runs, worker concurrency ${K}; ${cpus().length} cores, node ${process.version}`);
  const results: Array<{ tasksPerSecond: number; submitPerSecond: number; p50: number; p95: number; p99: number; rP50: number; rP99: number; execP50: number; execP99: number; scriptP50: number; scriptP99: number; forkMs: number }> = [];
  for (let r = 1; r <= RUNS; r++) {
    await resetEngines();
    const { base, roles } = await startRoles();
    try {
      await latency(base).catch(() => undefined); // warm up connections and JIT, not measured
      const before = await cpuSnapshot(roles, process.pid);
      const t = await throughput(base);
      const after = await cpuSnapshot(roles, process.pid);
      console.log(`run ${r}: CPU seconds per 1000 tasks: ${Object.keys(after).map((k) => `${k} ${(((after[k]! - before[k]!) * 1000) / N).toFixed(3)}`).join(', ')}`);
      const l = await latency(base);
      console.log(`run ${r}: ${t.tasksPerSecond.toFixed(0)} tasks/s end to end (submit ${t.submitPerSecond.toFixed(0)}/s); latency p50 ${l.p50.toFixed(2)} ms, p95 ${l.p95.toFixed(2)} ms, p99 ${l.p99.toFixed(2)} ms`);
      const rMeasures = { rP50: NaN, rP99: NaN, execP50: NaN, execP99: NaN, scriptP50: NaN, scriptP99: NaN, forkMs: NaN };
      if (WITH_R) {
        await latency(base, 'rnoop', 50); // warm up
        const rl = await latency(base, 'rnoop', R_TASKS);
        const exec = await warmRoundTrip(R_TASKS);
        const script = await rscriptPerTask(20);
        Object.assign(rMeasures, { rP50: rl.p50, rP99: rl.p99, execP50: exec.p50, execP99: exec.p99, scriptP50: script.p50, scriptP99: script.p99, forkMs: await forkCost(200) });
        console.log(`run ${r}: R no-op through the pipeline p50 ${rl.p50.toFixed(2)} ms, p99 ${rl.p99.toFixed(2)} ms; R executor round trip p50 ${exec.p50.toFixed(3)} ms, p99 ${exec.p99.toFixed(3)} ms; Rscript per task p50 ${script.p50.toFixed(0)} ms; fork of R ${rMeasures.forkMs.toFixed(2)} ms`);
      }
      results.push({ ...t, ...l, ...rMeasures });
    } finally {
      await pool?.close();
      pool = undefined;
      await Promise.all(roles.map((role) => role.stop()));
    }
  }
  const col = (k: keyof (typeof results)[number]) => results.map((x) => x[k]);
  console.log('\n| measure | median | spread (min-max) |\n|---|---|---|');
  console.log(`| throughput, submit to result committed (tasks/s) | ${median(col('tasksPerSecond')).toFixed(0)} | ${spread(col('tasksPerSecond'), 0)} |`);
  console.log(`| submit rate alone (tasks/s) | ${median(col('submitPerSecond')).toFixed(0)} | ${spread(col('submitPerSecond'), 0)} |`);
  console.log(`| latency p50, POST to terminal WebSocket message (ms) | ${median(col('p50')).toFixed(2)} | ${spread(col('p50'), 2)} |`);
  console.log(`| latency p95 (ms) | ${median(col('p95')).toFixed(2)} | ${spread(col('p95'), 2)} |`);
  console.log(`| latency p99 (ms) | ${median(col('p99')).toFixed(2)} | ${spread(col('p99'), 2)} |`);
  if (!WITH_R) return;
  console.log(`| R no-op latency p50, POST to terminal message (ms) | ${median(col('rP50')).toFixed(2)} | ${spread(col('rP50'), 2)} |`);
  console.log(`| R no-op latency p99 (ms) | ${median(col('rP99')).toFixed(2)} | ${spread(col('rP99'), 2)} |`);
  console.log(`| R over Node, p50 (ms) | ${median(results.map((x) => x.rP50 - x.p50)).toFixed(2)} | ${spread(results.map((x) => x.rP50 - x.p50), 2)} |`);
  console.log(`| R executor round trip p50, warm process + reset (ms) | ${median(col('execP50')).toFixed(3)} | ${spread(col('execP50'), 3)} |`);
  console.log(`| R executor round trip p99 (ms) | ${median(col('execP99')).toFixed(3)} | ${spread(col('execP99'), 3)} |`);
  console.log(`| one Rscript per task p50 (ms) | ${median(col('scriptP50')).toFixed(0)} | ${spread(col('scriptP50'), 0)} |`);
  console.log(`| fork + reap of a warm R, mcparallel (ms) | ${median(col('forkMs')).toFixed(2)} | ${spread(col('forkMs'), 2)} |`);
}

await main();
