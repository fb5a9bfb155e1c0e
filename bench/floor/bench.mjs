// The floor: the least any system doing Errand's job with Errand's guarantees must do, built from
// the raw clients (node:http, ws, pg, rabbitmq-client) with no Errand code: the task and its
// `queued` event committed in PostgreSQL and the task published persistent and confirmed before
// 201; the result sent persistent and confirmed before the delivery is acknowledged; the result
// and its `started` and `done` events committed before the end message tells watchers. Errand's
// own schema (its migrations), Patavi's queues. It drives itself exactly as `npm run bench` drives
// Errand and the peers (bench/peers.ts): argv N C M K, one JSON line. See docs/benchmarks.md.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import { Connection } from 'rabbitmq-client';
import { Pool } from 'undici';
import WebSocket from 'ws';
import { AMQP_URL, DATABASE_URL, STATUS_EXCHANGE } from './common.mjs';

const run = promisify(execFile);
const [N = 10000, C = 64, M = 500, K = 64] = process.argv.slice(2).map(Number);
const ERRAND = new URL('../../bin/errand.js', import.meta.url).pathname;

// A fresh database with Errand's schema, and a fresh vhost.
const admin = new pg.Client({ connectionString: DATABASE_URL.replace(/\/[^/]*$/, '/postgres') });
await admin.connect();
await admin.query('DROP DATABASE IF EXISTS errand_floor WITH (FORCE)');
await admin.end();
await run(process.execPath, [ERRAND, 'migrate', '--database-url', DATABASE_URL]);
await run('rabbitmqctl', ['-q', 'delete_vhost', 'errand_floor']).catch(() => undefined);
await run('rabbitmqctl', ['-q', 'add_vhost', 'errand_floor']);
await run('rabbitmqctl', ['-q', 'set_permissions', '-p', 'errand_floor', 'guest', '.*', '.*', '.*']);

const start = (file, args) => new Promise((resolve, reject) => {
  const child = spawn(process.execPath, [new URL(file, import.meta.url).pathname, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.on('exit', (code) => reject(new Error(`${file} exited ${code}`)));
  setTimeout(() => reject(new Error(`${file} not ready after 60 s`)), 60_000).unref();
  child.stdout.on('data', (d) => { for (const line of d.toString().split('\n')) { try { const m = JSON.parse(line); if (m.msg) resolve({ child, ...m }); } catch {} } });
});
const server = await start('./server.mjs', ['0']);
const worker = await start('./worker.mjs', [String(K)]);
const recorder = await start('./recorder.mjs', []);
const base = server.address;
const pool = new Pool(base, { connections: C });
const submit = async () => {
  const r = await pool.request({ path: '/task?service=noop', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
  const t = await r.body.text(); if (r.statusCode !== 201) throw new Error(t); return JSON.parse(t);
};
const terminal = (url) => new Promise((resolve, reject) => { const s = new WebSocket(url); s.on('message', (d) => { const e = JSON.parse(d.toString()).eventType; if (e === 'done' || e === 'failed') { resolve(); s.close(); } }); s.on('error', reject); });
const latency = async (m) => { const xs = []; for (let i = 0; i < m; i++) { const t = performance.now(); const task = await submit(); await terminal(task._links.updates.href); xs.push(performance.now() - t); } xs.sort((a, b) => a - b); const at = (p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]; return { p50: at(0.5), p95: at(0.95), p99: at(0.99) }; };
const cpu = async (pids, reaped = false) => { let t = 0; for (const p of pids) { const s = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => ''); const f = s.slice(s.lastIndexOf(')') + 2).split(' '); t += Number(f[11] ?? 0) + Number(f[12] ?? 0) + (reaped ? Number(f[13] ?? 0) + Number(f[14] ?? 0) : 0); } return t / 100; };
const pidsOf = (n) => { try { return execFileSync('pgrep', ['-x', n]).toString().split('\n').filter(Boolean).map(Number); } catch { return []; } };
const snap = async () => ({ server: await cpu([server.child.pid]), worker: await cpu([worker.child.pid]), recorder: await cpu([recorder.child.pid]), postgres: await cpu(pidsOf('postgres'), true), rabbitmq: await cpu(pidsOf('beam.smp'), true), 'bench client': await cpu([process.pid]) });

// Completions counted from the end messages, as Errand's bench counts Errand's.
const amqp = new Connection({ url: AMQP_URL, noDelay: true });
let ended = 0; let target = Infinity; let allEnded = () => {};
const ends = amqp.createConsumer({ queueOptions: { exclusive: true, autoDelete: true }, queueBindings: [{ exchange: STATUS_EXCHANGE, routingKey: '*.end' }], noAck: true },
  () => { ended++; if (ended >= target) allEnded(); });
await new Promise((resolve) => ends.once('ready', resolve));
const burst = async (n) => {
  ended = 0; target = n;
  const all = new Promise((resolve) => (allEnded = resolve));
  const t0 = performance.now(); let next = 0;
  await Promise.all(Array.from({ length: C }, async () => { while (next < n) { next++; await submit(); } }));
  const tSubmitted = performance.now();
  if (ended >= n) allEnded();
  await all;
  return { elapsed: performance.now() - t0, submitted: tSubmitted - t0 };
};

await latency(Math.min(M, 500)); // warm up connections and JIT, not measured
await burst(Math.min(N, C * 20));
const before = await snap();
const t = await burst(N);
const after = await snap();
const l = await latency(M);
const perK = Object.fromEntries(Object.keys(after).map((k) => [k, +(((after[k] - before[k]) * 1000) / N).toFixed(3)]));
console.log(JSON.stringify({ peer: 'floor', n: N, clients: C, tasks_per_s: Math.round((N / t.elapsed) * 1000), submit_per_s: Math.round((N / t.submitted) * 1000), p50_ms: +l.p50.toFixed(2), p95_ms: +l.p95.toFixed(2), p99_ms: +l.p99.toFixed(2), cpu_s_per_1000: perK }));
await pool.close(); await ends.close(); await amqp.close();
for (const role of [server, worker, recorder]) { role.child.removeAllListeners('exit'); role.child.kill('SIGTERM'); }
setTimeout(() => process.exit(0), 500);
