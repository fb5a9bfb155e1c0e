/**
 * Memory per idle watcher: opens N WebSockets to `WS /events` (one live subscription each, for a
 * task id) and N Patavi `WS /task/:id/updates` sockets, against an `errand serve` process on PostgreSQL + RabbitMQ (a fresh database and vhost). The
 * first N sockets warm the process up (startup memory is still being released then); the server's
 * resident memory (VmRSS) is read after them and again after N more, and the difference per
 * socket is reported, median of --runs (each a fresh server). (On `errand dev` PGlite's WASM
 * memory moves by more than the sockets cost, so the figure is taken on the production backends.)
 * Options: --sockets N (2000) --runs R (3)
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { createTestDatabase, createTestVhost } from '../test/support/backends.ts';
import { serveAddressArgs, spawnErrand } from '../test/support/processes.ts';

const { values } = parseArgs({ options: { sockets: { type: 'string', default: '2000' }, runs: { type: 'string', default: '3' } } });
const N = Number(values.sockets);
const RUNS = Number(values.runs);

async function rss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function open(url: string, first?: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once('open', () => {
      if (first === undefined) return resolve(socket);
      socket.send(first);
      socket.once('message', () => resolve(socket)); // `subscribed`
    });
    socket.once('error', reject);
  });
}

async function measure(kind: 'events' | 'updates'): Promise<number> {
  const database = await createTestDatabase();
  const vhost = await createTestVhost();
  const migrate = spawnErrand(['migrate', '--database-url', database.url]);
  if ((await migrate.exited).code !== 0) throw new Error(migrate.output());
  // Every socket comes from this one client: the stream caps are raised to let them all in.
  const caps = ['--max-websockets-per-client', String(2 * N + 10), '--max-streams', String(2 * N + 10)];
  const server = spawnErrand(['serve', '--database-url', database.url, '--amqp-url', vhost.url, ...(await serveAddressArgs()), ...caps, '--allow-unknown-services', '--no-auth', '--log-level', 'info']);
  const child = server.child;
  try {
    const base = (await server.waitForLog((l) => l.msg === 'errand serving')).address as string;
    const post = await fetch(`${base}/task?service=noop`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    const { id } = (await post.json()) as { id: string };
    // One socket of each kind first, so that code paths and buffers are warm before the baseline.
    const warm = await open(`${base.replace('http', 'ws')}/events`, JSON.stringify({ type: 'subscribe', subscription: 's', filter: { tasks: [id] } }));
    const sockets: WebSocket[] = [];
    const openBatch = async (): Promise<void> => {
      for (let i = 0; i < N; i++) {
        sockets.push(kind === 'events'
          ? await open(`${base.replace('http', 'ws')}/events`, JSON.stringify({ type: 'subscribe', subscription: 's', filter: { tasks: [id] } }))
          : await open(`${base.replace('http', 'ws')}/task/${id}/updates`));
      }
      await settle(3000);
    };
    await openBatch();
    const before = await rss(child.pid!);
    await openBatch();
    const after = await rss(child.pid!);
    sockets.forEach((s) => s.terminate());
    warm.terminate();
    return (after - before) / N;
  } finally {
    await server.stop();
    await database.drop();
    await vhost.drop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`idle sockets: ${N} per run, ${RUNS} runs`);
for (const kind of ['events', 'updates'] as const) {
  const results: number[] = [];
  for (let r = 0; r < RUNS; r++) results.push(await measure(kind));
  const kb = results.map((b) => (b / 1024).toFixed(1));
  console.log(`| ${kind === 'events' ? 'WS /events, one subscription' : 'WS /task/:id/updates (Patavi)'} | ${(median(results) / 1024).toFixed(1)} KiB | ${Math.min(...results.map((b) => b / 1024)).toFixed(1)}-${Math.max(...results.map((b) => b / 1024)).toFixed(1)} KiB | runs: ${kb.join(', ')} |`);
}
