/**
 * What the metrics (issue 14) add to the hot path, part by part, on this machine: the HTTP hook
 * (Fastify inject of one route, with and without it, alternating), and each per-event and
 * per-result report alone. `node --import tsx bench/metrics-cost.ts`; prints microseconds per
 * request and nanoseconds per report. The whole path's figure is `npm run bench` (before/after).
 */
import Fastify from 'fastify';
import { EventTypes } from '../src/core/index.ts';
import type { TaskEvent } from '../src/core/index.ts';
import { createMetrics, eventCounts, eventLag, instrumentHttp, resultCounts } from '../src/monitor/index.ts';

const metrics = createMetrics({ role: 'bench', version: '0', maxServices: 200, processMetrics: true });

/** One route; `hook`: none, an empty onResponse hook (Fastify's own price for one), or the metrics'. */
async function app(hook: 'none' | 'empty' | 'metrics') {
  const fastify = Fastify();
  if (hook === 'empty') fastify.addHook('onResponse', (_request, _reply, done) => done());
  if (hook === 'metrics') instrumentHttp(fastify, metrics, { open: () => 0 });
  fastify.post('/task', async () => ({ id: '0123456789abcdef', status: 'queued' }));
  await fastify.ready();
  return fastify;
}

async function perRequest(fastify: Awaited<ReturnType<typeof app>>, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fastify.inject({ method: 'POST', url: '/task?service=echo', payload: '{}', headers: { 'content-type': 'application/json' } });
  return Number(process.hrtime.bigint() - start) / n / 1000;
}

function perCall(n: number, call: (i: number) => void): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) call(i);
  return Number(process.hrtime.bigint() - start) / n;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const apps = { none: await app('none'), empty: await app('empty'), metrics: await app('metrics') };
const times: Record<keyof typeof apps, number[]> = { none: [], empty: [], metrics: [] };
for (const fastify of Object.values(apps)) await perRequest(fastify, 3000);
// Alternating rounds, so that the machine's mood falls on all three.
for (let round = 0; round < 9; round++) for (const [name, fastify] of Object.entries(apps)) times[name as keyof typeof apps].push(await perRequest(fastify, 4000));
const shown = (xs: number[]): string => `${median(xs).toFixed(2)} (best ${Math.min(...xs).toFixed(2)})`;
console.log(`HTTP request (inject), µs, median (best) of 9 rounds of 4000: ${shown(times.none)} with no hook, ${shown(times.empty)} with an empty one, ${shown(times.metrics)} with the metrics'`);
const observe = metrics.histogram<'route' | 'method' | 'status'>('errand_bench_seconds', 'bench', ['route', 'method', 'status'], [0.001, 0.01, 0.1, 1]).labels({ route: '/task', method: 'POST', status: '2xx' });

const events: TaskEvent[] = EventTypes.map((type, i) => ({ id: i, taskId: '0123456789abcdef', service: `s${i % 4}`, type, data: { attempt: 1 }, at: new Date(), owner: null }));
const count = eventCounts(metrics);
const lag = eventLag(metrics);
const results = resultCounts(metrics);
const N = 2_000_000;
perCall(N, (i) => count([events[i % events.length]!]));
console.log(`one histogram observation (the HTTP hook's work): ${perCall(N, () => observe.observe(0.002)).toFixed(0)} ns`);
console.log(`events written: ${perCall(N, (i) => count([events[i % events.length]!])).toFixed(0)} ns per event`);
console.log(`delivery lag: ${perCall(N, (i) => lag(events[i % events.length]!)).toFixed(0)} ns per event`);
console.log(`results recorded: ${perCall(N, (i) => results.recorded(`s${i % 4}`, 'done')).toFixed(0)} ns per result`);
for (const fastify of Object.values(apps)) await fastify.close();
