/** The bench's summary: what it quotes as median, spread, CPU total and ratio of two systems. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ratio, summarise } from '../../bench/stats.ts';
import type { RunResult } from '../../bench/stats.ts';

const run = (tasksPerSecond: number, p50: number, cpu: Record<string, number>): RunResult =>
  ({ tasksPerSecond, submitPerSecond: tasksPerSecond, p50, p95: 2 * p50, p99: 3 * p50, cpu });

test('a system summary quotes the middle run and the spread, and the CPU total is the sum of the parts\' medians', () => {
  const s = summarise('errand', [run(500, 20, { server: 0.4, postgres: 0.5 }), run(450, 22, { server: 0.3, postgres: 0.7 }), run(520, 19, { server: 0.5, postgres: 0.6 })]);
  assert.deepEqual(s.tasksPerSecond, { median: 500, min: 450, max: 520 });
  assert.deepEqual(s.p50, { median: 20, min: 19, max: 22 });
  assert.equal(s.runs, 3);
  assert.deepEqual(s.cpu, { server: 0.4, postgres: 0.6, total: 1 });
});

test('an even number of runs quotes a measured run (the upper middle), not an average', () => {
  assert.equal(summarise('x', [run(100, 1, {}), run(300, 1, {})]).tasksPerSecond.median, 300);
});

test('ratios compare medians: throughput above 1 when the subject is faster, latency and CPU above 1 when it is slower', () => {
  const errand = summarise('errand', [run(500, 20, { server: 2 })]);
  const peer = summarise('peer', [run(2500, 4, { server: 0.5 })]);
  const r = ratio(errand, peer);
  assert.equal(r.subject, 'errand');
  assert.equal(r.reference, 'peer');
  assert.equal(r.throughput, 0.2);
  assert.equal(r.p50, 5);
  assert.equal(r.p99, 5);
  assert.equal(r.cpu, 4);
});
