/**
 * Capacity figures under a load the test makes: `errand serve` and `errand worker` as processes on
 * PostgreSQL and RabbitMQ, a service whose tasks sleep 500 ms on 4 slots (μ = 2/s per slot, so the
 * slots complete up to 8/s), submitted at a fixed rate. First 4/s for 75 s (half the capacity: a
 * steady state), then 16/s for 30 s (twice the capacity: the queue grows). The figures are checked
 * against what was driven within stated bounds, and the model's outputs against the formulas
 * applied to the inputs the answer reports.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { erlangC, expectedQueueWait, slotsForTargetWait } from '../../src/core/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, realBackend } from '../support/backends.ts';
import { postTask } from '../support/http.ts';
import type { RunningErrand } from '../support/processes.ts';
import { serveAddressArgs, spawnErrand, stopAll } from '../support/processes.ts';
import { eventually } from '../support/wait.ts';

const SERVICES = fileURLToPath(new URL('../fixtures/stats-services/', import.meta.url));
const SLEEP_S = 0.5;
const SLOTS = 4;
/** Rates must be within this share of what was driven. */
const RATE_TOLERANCE = 0.1;

const within = (actual: number, expected: number, share: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= expected * share, `${what}: ${actual} is not within ${share * 100} % of ${expected}`);

await describeEachBackend('capacity figures under a known load', () => {
  let backend: Backend;
  let processes: RunningErrand[] = [];
  let base: string;
  before(async () => {
    backend = await realBackend.create();
    const common = ['--database-url', backend.urls!.database, '--amqp-url', backend.urls!.amqp];
    const serve = spawnErrand(['serve', ...common, '--no-auth', ...(await serveAddressArgs())]);
    const worker = spawnErrand(['worker', ...common, '--services', SERVICES]);
    processes = [serve, worker];
    base = (await serve.waitForLog((l) => l.msg === 'errand serving')).address as string;
    await worker.waitForLog((l) => l.msg === 'errand worker running');
    await eventually(async () => (await fetch(`${base}/services/nap`)).status === 200, 'the nap service announced');
  });
  after(async () => {
    await stopAll(processes);
    await backend.close();
  });

  /** Submits `rate` tasks a second for `seconds`, each at its due time (not after the previous answer). */
  async function drive(rate: number, seconds: number): Promise<void> {
    const start = performance.now();
    const answers: Array<Promise<number>> = [];
    for (let k = 0; k < rate * seconds; k++) {
      const wait = start + (k * 1000) / rate - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      answers.push(postTask(base, 'nap', { ms: SLEEP_S * 1000 }).then(({ response }) => response.status));
    }
    const statuses = await Promise.all(answers);
    assert.deepEqual(statuses.filter((s) => s !== 201), [], 'every submission accepted');
  }

  async function stats(query: string): Promise<any> {
    const response = await fetch(`${base}/services/nap/stats?${query}`);
    const body = await response.json() as any;
    assert.equal(response.status, 200, JSON.stringify(body));
    return body;
  }

  /** What the formulas give from the inputs the answer reports. */
  function checkModel(body: any, targetSeconds: number): void {
    const { arrivalRate, meanRunSeconds, slots } = body.model;
    const mu = 1 / meanRunSeconds;
    assert.equal(body.model.offeredLoad, arrivalRate / mu);
    assert.equal(body.model.utilization, arrivalRate / (slots * mu));
    assert.equal(body.model.waitProbability, erlangC(slots, arrivalRate / mu));
    const wait = expectedQueueWait(arrivalRate, mu, slots);
    assert.equal(body.model.expectedWaitSeconds, Number.isFinite(wait) ? wait : null);
    assert.equal(body.model.stable, arrivalRate < slots * mu);
    assert.equal(body.slotsNeeded, slotsForTargetWait(arrivalRate, mu, targetSeconds));
    assert.equal(body.model.meanRunSeconds, body.runSeconds.mean);
    assert.equal(body.model.arrivalRate, body.arrivalsPerSecond[body.model.window]);
    assert.equal(body.model.completionRate, body.completionsPerSecond[body.model.window]);
  }

  test('at half the capacity: rates as driven, run times as slept, a stable queue, slots needed by Erlang C', async (t) => {
    await drive(4, 75);
    const body = await stats('window=1m&targetWait=PT0.1S');
    t.diagnostic(JSON.stringify(body));
    assert.deepEqual(body.workers, { online: 1, slots: SLOTS });
    assert.equal(body.queue.consumers, 1);
    // The last minute saw 4 arrivals a second; 5 and 15 minutes saw the 300 tasks of 75 s.
    within(body.arrivalsPerSecond['1m'], 4, RATE_TOLERANCE, 'arrivals over 1 minute');
    within(body.arrivalsPerSecond['5m'], 300 / 300, RATE_TOLERANCE, 'arrivals over 5 minutes');
    within(body.arrivalsPerSecond['15m'], 300 / 900, RATE_TOLERANCE, 'arrivals over 15 minutes');
    // Below capacity, tasks end as fast as they come.
    within(body.completionsPerSecond['1m'], 4, RATE_TOLERANCE, 'completions over 1 minute');
    // Every task that ended is in the sample (fewer than --stats-sample's 1000).
    assert.ok(body.sample.tasks >= 290 && body.sample.tasks <= 300, `sample of ${body.sample.tasks}`);
    assert.equal(body.sample.limit, 1000);
    // Run time: the 500 ms sleep, plus what running a task in a pooled process costs (at most 20 % at the median).
    assert.ok(body.runSeconds.p50 >= SLEEP_S && body.runSeconds.p50 <= SLEEP_S * 1.2, `run p50 ${body.runSeconds.p50}`);
    assert.ok(body.runSeconds.mean >= SLEEP_S, `run mean ${body.runSeconds.mean}`);
    // At half the capacity most tasks find a free slot: the median wait is well under one run.
    assert.ok(body.waitSeconds.p50 < SLEEP_S / 2, `wait p50 ${body.waitSeconds.p50}`);
    assert.equal(body.model.window, '1m');
    assert.equal(body.model.slots, SLOTS);
    assert.equal(body.model.stable, true);
    within(body.model.utilization, 0.5, 0.2, 'utilization');
    assert.equal(body.note, undefined);
    checkModel(body, 0.1);
    assert.ok(['free-slot', 'queue'].includes(body.estimate), body.estimate);
    if (body.estimate === 'queue') {
      const free = Math.max(0, SLOTS - body.tasks.running);
      assert.equal(body.estimatedWaitSeconds, (body.tasks.queued - free + 1) / (SLOTS / body.model.meanRunSeconds));
    } else {
      assert.equal(body.estimatedWaitSeconds, 0);
    }
  });

  test('at twice the capacity: the answer says the queue grows, and estimates the wait from the backlog', async (t) => {
    await drive(16, 30);
    const body = await stats('window=1m&targetWait=PT1M');
    t.diagnostic(JSON.stringify(body));
    // The last minute: 30 s at 4/s (120) and 30 s at 16/s (480): 10/s, against 8/s the slots complete.
    within(body.arrivalsPerSecond['1m'], 10, RATE_TOLERANCE, 'arrivals over 1 minute');
    assert.ok(body.completionsPerSecond['1m'] <= SLOTS / SLEEP_S, `completions ${body.completionsPerSecond['1m']}/s above what 4 slots can do`);
    assert.equal(body.model.stable, false);
    assert.ok(body.model.utilization > 1, `utilization ${body.model.utilization}`);
    assert.equal(body.model.expectedWaitSeconds, null);
    assert.match(body.note, /faster than 4 slots complete them .*: the queue grows$/);
    // About 8 tasks a second more than the slots finish piled up for 30 s.
    assert.ok(body.tasks.queued >= 100, `queued ${body.tasks.queued}`);
    assert.ok(body.tasks.oldestQueuedSeconds > 0);
    assert.equal(body.estimate, 'overloaded');
    assert.equal(body.estimatedWaitSeconds, (body.tasks.queued + 1) / body.completionsPerSecond['1m']);
    checkModel(body, 60);
    // The wait sampled so far grew with the backlog.
    assert.ok(body.waitSeconds.p99 > body.waitSeconds.p50);
  });
}, [realBackend]);
