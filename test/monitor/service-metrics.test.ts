/**
 * Every service's capacity figures on the server's /metrics (issue 14), on both backends: after
 * tasks ran, the gauges say what GET /services/:name/stats says (nothing queued, the completions
 * of the last minute, the slots); tasks held show as running and queued; a service whose workers
 * left, with a task queued, shows no consumers (what the ErrandNoConsumers rule looks for); a
 * worker at another version is flagged; a service whose figures cannot be read is left out and
 * counted, and the scrape still answers. Then the exporter on its own: one read serves a scrape's
 * families and the scrapes within --metrics-stats-max-age, reads run at most
 * --metrics-stats-concurrency at once, and services past --metrics-max-services are left out.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMetrics, serviceMetrics } from '../../src/monitor/index.ts';
import type { Metrics, ServiceFigures } from '../../src/monitor/index.ts';
import type { Store } from '../../src/store/index.ts';
import { startWorker } from '../../src/worker/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, testLogger } from '../support/backends.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { parseMetrics, scrape } from '../support/metrics.ts';
import type { Samples } from '../support/metrics.ts';
import { echo, gate, service } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const newMetrics = (maxServices = 200): Metrics => createMetrics({ role: 'test', version: '0.0.0-test', maxServices });

/** The backend's store, except that the figures of `broken` cannot be read (as with its rows locked away). */
function storeFailingFor(store: Store, broken: string): Store {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'serviceActivity') {
        return (name: string, windows: Parameters<Store['serviceActivity']>[1]) =>
          (name === broken ? Promise.reject(new Error('statement timeout')) : target.serviceActivity(name, windows));
      }
      const value = Reflect.get(target, property) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The samples of one service, without the `service` label: `name` or `name{window="1m"}`. */
function ofService(samples: Samples, service: string): Record<string, number> {
  const found: Record<string, number> = {};
  for (const [key, value] of samples) {
    if (!key.startsWith('errand_service_') || key.startsWith('errand_service_stats_')) continue;
    const match = /^([a-z_]+)\{(.*)\}$/.exec(key);
    if (!match) continue;
    const labels = match[2]!.split(',');
    if (!labels.includes(`service="${service}"`)) continue;
    const rest = labels.filter((l) => l !== `service="${service}"`);
    found[rest.length > 0 ? `${match[1]}{${rest.join(',')}}` : match[1]!] = value;
  }
  return found;
}

const per = (rate: number | undefined, seconds: number): number => Math.round((rate ?? NaN) * seconds * 1e6) / 1e6;

await describeEachBackend('capacity figures on /metrics', (kind) => {
  let backend: Backend;
  let stack: Stack;
  const held = gate('held'); // 4 slots, holds every task until released
  before(async () => {
    backend = await kind.create();
    const failing: Backend = Object.create(backend, { store: { value: storeFailingFor(backend.store, 'broken') } });
    stack = await startStack(failing, {
      services: [echo('quick', 2), held.definition, echo('broken')],
      metrics: newMetrics(),
      // Each scrape reads afresh: the tests wait for figures to change.
      settings: { metricsStats: { concurrency: 2, maxAgeMs: 0 } },
    });
  });
  after(async () => {
    held.release();
    await stack.close();
    await backend.close();
  });
  const read = () => scrape(`${stack.baseUrl}/metrics`);

  test('after 5 tasks ran: none queued or running, 5 arrivals and completions in every window, a sample of 5, 1 slot needed', async () => {
    for (let i = 0; i < 5; i++) {
      const { response, json } = await postTask(stack.baseUrl, 'quick', { i });
      assert.equal(response.status, 201);
      assert.equal((await watchUpdates(json._links.updates.href)).messages.at(-1)?.eventType, 'done');
    }
    const samples = await eventually(async () => {
      const now = await read();
      return now.get('errand_service_sampled_tasks{service="quick"}') === 5 && now;
    }, 'the 5 tasks in the sample');
    const quick = ofService(samples, 'quick');
    assert.deepEqual({
      depth: quick.errand_service_queue_depth, messages: quick.errand_service_queue_messages, consumers: quick.errand_service_consumers,
      running: quick.errand_service_tasks_running, online: quick.errand_service_online, workers: quick.errand_service_workers,
      slots: quick.errand_service_worker_slots, oldest: quick.errand_service_oldest_queued_age_seconds,
      estimatedWait: quick.errand_service_estimated_wait_seconds, target: quick.errand_service_target_wait_seconds, needed: quick.errand_service_slots_needed,
    }, { depth: 0, messages: 0, consumers: 1, running: 0, online: 1, workers: 1, slots: 2, oldest: 0, estimatedWait: 0, target: 60, needed: 1 });
    // Rates per second over each window: 5 tasks in each.
    for (const [window, seconds] of [['1m', 60], ['5m', 300], ['15m', 900]] as const) {
      assert.equal(per(quick[`errand_service_arrivals_per_second{window="${window}"}`], seconds), 5, window);
      assert.equal(per(quick[`errand_service_completions_per_second{window="${window}"}`], seconds), 5, window);
    }
    for (const family of ['errand_service_wait_seconds', 'errand_service_run_seconds']) {
      const [p50, p90, p99] = ['0.5', '0.9', '0.99'].map((q) => quick[`${family}{quantile="${q}"}`]!);
      assert.ok(p50! >= 0 && p50! <= p90! && p90! <= p99!, `${family}: ${p50} ${p90} ${p99}`);
    }
    assert.ok(quick.errand_service_run_mean_seconds! >= 0);
    assert.ok(quick.errand_service_utilization_ratio! > 0);
    // The same figures as GET /services/quick/stats.
    const stats = (await (await fetch(`${stack.baseUrl}/services/quick/stats`)).json()) as { runSeconds: { p50: number }; sample: { tasks: number } };
    assert.equal(stats.sample.tasks, 5);
    assert.equal(quick['errand_service_run_seconds{quantile="0.5"}'], stats.runSeconds.p50);
    assert.equal(samples.get('errand_workers'), 1);
    assert.equal(samples.get('errand_workers_flagged'), 0);
    assert.equal(samples.get('errand_service_stats_omitted'), 0);
  });

  test('a service whose figures cannot be read is left out and counted; the scrape answers 200 with everything else', async () => {
    const response = await fetch(`${stack.baseUrl}/metrics`);
    assert.equal(response.status, 200);
    const first = parseMetrics(await response.text());
    assert.deepEqual(ofService(first, 'broken'), {});
    assert.equal(first.get('errand_info{role="test",version="0.0.0-test"}'), 1);
    assert.equal(first.get('errand_service_consumers{service="quick"}'), 1);
    assert.equal(first.get('errand_service_consumers{service="held"}'), 1);
    const errors = first.get('errand_service_stats_errors_total{service="broken"}')!;
    assert.ok(errors >= 1, String(errors));
    // Each scrape reads again (max age 0 here), and fails again: one more.
    const second = await read();
    assert.equal(second.get('errand_service_stats_errors_total{service="broken"}'), errors + 1);
    assert.ok(![...second.keys()].some((k) => k.startsWith('errand_service_stats_errors_total{service="quick"')), 'quick counted as failing');
    // GET /services/broken/stats fails the same way: the exporter reads what the route reads.
    assert.equal((await fetch(`${stack.baseUrl}/services/broken/stats`)).status, 500);
  });

  test('tasks held: 4 running on 4 slots, 2 queued; no estimate nor slots needed before any ran; all gone once released', async () => {
    for (let i = 0; i < 6; i++) assert.equal((await postTask(stack.baseUrl, 'held', { i })).response.status, 201);
    await held.whenStarted(4);
    // Running once the start reports are recorded (--start-report-after, 250 ms by default).
    const busy = ofService(await eventually(async () => {
      const now = await read();
      return now.get('errand_service_tasks_running{service="held"}') === 4 && now;
    }, 'four tasks running'), 'held');
    assert.equal(busy.errand_service_queue_depth, 2);
    assert.equal(busy.errand_service_worker_slots, 4);
    assert.ok(busy.errand_service_oldest_queued_age_seconds! >= 0);
    assert.equal(per(busy['errand_service_arrivals_per_second{window="1m"}'], 60), 6);
    assert.equal(busy['errand_service_completions_per_second{window="1m"}'], 0);
    for (const absent of ['errand_service_estimated_wait_seconds', 'errand_service_slots_needed', 'errand_service_utilization_ratio', 'errand_service_wait_seconds{quantile="0.5"}']) {
      assert.equal(busy[absent], undefined, absent);
    }
    held.release();
    const idle = ofService(await eventually(async () => {
      const now = await read();
      return now.get('errand_service_sampled_tasks{service="held"}') === 6 && now;
    }, 'the six tasks done'), 'held');
    assert.deepEqual([idle.errand_service_queue_depth, idle.errand_service_tasks_running, idle.errand_service_oldest_queued_age_seconds, per(idle['errand_service_completions_per_second{window="1m"}'], 60)], [0, 0, 0, 6]);
    assert.equal(idle.errand_service_slots_needed, 1);
  });

  test('a service whose only worker left, with a task queued: offline, no consumer, no slot, the task counted as queued', async () => {
    const worker = await startWorker({ broker: backend.broker, services: [echo('lonely')], logger: testLogger });
    await eventually(async () => (await read()).get('errand_service_online{service="lonely"}') === 1, 'lonely announced');
    await worker.close();
    await eventually(async () => (await read()).get('errand_service_online{service="lonely"}') === 0, 'lonely offline');
    // Remembered offline for an hour: submissions are taken (a rolling restart loses none).
    assert.equal((await postTask(stack.baseUrl, 'lonely', { x: 1 })).response.status, 201);
    const lonely = ofService(await eventually(async () => {
      const now = await read();
      return now.get('errand_service_queue_depth{service="lonely"}') === 1 && now;
    }, 'the task queued'), 'lonely');
    assert.deepEqual({
      consumers: lonely.errand_service_consumers, messages: lonely.errand_service_queue_messages, workers: lonely.errand_service_workers,
      slots: lonely.errand_service_worker_slots, online: lonely.errand_service_online, estimatedWait: lonely.errand_service_estimated_wait_seconds,
    }, { consumers: 0, messages: 1, workers: 0, slots: 0, online: 0, estimatedWait: undefined });
  });

  test('a worker running a service at another version: both workers of the tie flagged, none once it left', async () => {
    const other = await startWorker({ broker: backend.broker, services: [service('quick', (input) => input, 1, { version: '2.0.0' })], logger: testLogger });
    try {
      const samples = await eventually(async () => {
        const now = await read();
        return now.get('errand_workers') === 2 && now;
      }, 'the second worker heard');
      // One worker at 1.0.0, one at 2.0.0: neither prevails, both are flagged (as GET /workers says).
      assert.equal(samples.get('errand_workers_flagged'), 2);
      const listed = (await (await fetch(`${stack.baseUrl}/workers`)).json()) as { workers: Array<{ flagged: boolean }> };
      assert.equal(listed.workers.filter((w) => w.flagged).length, 2);
      assert.equal(samples.get('errand_service_workers{service="quick"}'), 2);
      assert.equal(samples.get('errand_service_worker_slots{service="quick"}'), 3);
    } finally {
      await other.close();
    }
    const after = await eventually(async () => {
      const now = await read();
      return now.get('errand_workers') === 1 && now;
    }, 'the second worker gone');
    assert.equal(after.get('errand_workers_flagged'), 0);
  });
});

/** Figures of a service with only `queued` set; the rest as after a few quick tasks. */
function figures(queued: number): ServiceFigures {
  return {
    online: true, queue: { messages: queued, consumers: 1 }, tasks: { queued, running: 0, oldestQueuedSeconds: queued > 0 ? 3 : null },
    workers: { online: 1, slots: 2 }, arrivalsPerSecond: { '1m': 0.1, '5m': 0.02, '15m': 0.01 }, completionsPerSecond: { '1m': 0.1, '5m': 0.02, '15m': 0.01 },
    waitSeconds: { p50: 0.01, p90: 0.02, p99: 0.05, mean: 0.015 }, runSeconds: { p50: 1, p90: 2, p99: 3, mean: 1.2 }, sample: { tasks: 6 },
    model: { utilization: 0.06 }, estimatedWaitSeconds: queued > 0 ? null : 0, targetWaitSeconds: 60, slotsNeeded: 1,
  };
}

describe('capacity figures exporter, on its own', () => {
  test('one read serves every family of a scrape and the scrapes within the max age; then figures are read again', async () => {
    const metrics = newMetrics();
    let clock = 1_000_000;
    const reads: string[] = [];
    let depth = 0;
    serviceMetrics(metrics, {
      names: () => ['a', 'b'],
      figures: async (name) => { reads.push(name); return figures(depth); },
      workers: () => [{ flagged: false }],
    }, { concurrency: 4, maxAgeMs: 1000, now: () => clock });
    const scrapeOnce = async () => parseMetrics((await metrics.text()).body);
    assert.equal((await scrapeOnce()).get('errand_service_queue_depth{service="a"}'), 0);
    assert.deepEqual(reads, ['a', 'b']);
    depth = 7;
    clock += 1000;
    // Within the max age: the same figures, nothing read.
    assert.equal((await scrapeOnce()).get('errand_service_queue_depth{service="a"}'), 0);
    assert.deepEqual(reads, ['a', 'b']);
    clock += 1;
    const fresh = await scrapeOnce();
    assert.equal(fresh.get('errand_service_queue_depth{service="a"}'), 7);
    assert.equal(fresh.get('errand_service_oldest_queued_age_seconds{service="a"}'), 3);
    // An estimate that cannot be told is absent, not 0.
    assert.equal(fresh.get('errand_service_estimated_wait_seconds{service="a"}'), undefined);
    assert.deepEqual(reads, ['a', 'b', 'a', 'b']);
    // Two scrapes at once share one read.
    clock += 5000;
    await Promise.all([scrapeOnce(), scrapeOnce()]);
    assert.deepEqual(reads.length, 6);
  });

  test('reads run at most --metrics-stats-concurrency at once; a failing one is counted and the rest are served', async () => {
    const metrics = newMetrics();
    let inFlight = 0;
    let most = 0;
    const names = Array.from({ length: 10 }, (_, i) => `s${i}`);
    serviceMetrics(metrics, {
      names: () => names,
      figures: async (name) => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight--;
        if (name === 's3') throw new Error('the queue could not be read');
        return name === 's4' ? undefined : figures(1);
      },
      workers: () => [],
    }, { concurrency: 3, maxAgeMs: 0 });
    const samples = parseMetrics((await metrics.text()).body);
    assert.equal(most, 3);
    const reported = [...samples.keys()].filter((k) => k.startsWith('errand_service_queue_depth')).map((k) => /service="(\w+)"/.exec(k)![1]);
    // s3 failed, s4 is no longer known: both left out.
    assert.deepEqual(reported, ['s0', 's1', 's2', 's5', 's6', 's7', 's8', 's9']);
    assert.equal(samples.get('errand_service_stats_errors_total{service="s3"}'), 1);
    assert.equal(samples.get('errand_info{role="test",version="0.0.0-test"}'), 1);
    assert.equal(samples.get('errand_workers'), 0);
  });

  test('services whose names come past --metrics-max-services are left out of the gauges and counted', async () => {
    const metrics = newMetrics(2);
    serviceMetrics(metrics, { names: () => ['a', 'b', 'c'], figures: async () => figures(0), workers: () => [] }, { concurrency: 1, maxAgeMs: 0 });
    const samples = parseMetrics((await metrics.text()).body);
    assert.deepEqual([...samples.keys()].filter((k) => k.startsWith('errand_service_worker_slots')), ['errand_service_worker_slots{service="a"}', 'errand_service_worker_slots{service="b"}']);
    assert.equal(samples.get('errand_service_stats_omitted'), 1);
  });
});
