/**
 * One service's recent activity as the store reads it for GET /services/:name/stats: counts per
 * window, the queue's oldest task, and wait and run times over the sample, from rows whose times
 * the test sets, on PostgreSQL and on PGlite.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { composeTaskId, taskIdToDecimal } from '../../src/core/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';

const WINDOWS = { windows: [60, 300, 900], sampleSize: 1000, sampleSeconds: 86_400 };
let sequence = 0;

interface Row {
  service?: string;
  status: string;
  /** Seconds before now. */
  created: number;
  started?: number;
  completed?: number;
  attempts?: number;
}

await describeEachBackend('service activity', (kind) => {
  let backend: Backend;
  before(async () => { backend = await kind.create(); });
  after(async () => { await backend.close(); });

  async function insert(rows: Row[]): Promise<void> {
    for (const row of rows) {
      const id = composeTaskId(Date.now() - row.created * 1000, 5, sequence++ % 4096);
      const ago = (s: number | undefined) => (s === undefined ? null : s);
      await backend.db.query(
        `INSERT INTO task (id, service, status, input, created_at, started_at, completed_at, attempts)
         VALUES ($1, $2, $3, '{}', now() - make_interval(secs => $4::float8),
           now() - make_interval(secs => $5::float8), now() - make_interval(secs => $6::float8), $7)`,
        [taskIdToDecimal(id), row.service ?? 'svc', row.status, row.created, ago(row.started), ago(row.completed), row.attempts ?? (row.started === undefined ? 0 : 1)],
      );
    }
  }

  test('a service with no tasks: zeros, nothing queued, no sample', async () => {
    const figures = await backend.store.serviceActivity('nothing', WINDOWS);
    assert.ok(figures.at instanceof Date);
    assert.deepEqual({ ...figures, at: null }, {
      at: null, queued: 0, running: 0, oldestQueuedAt: null, arrivals: [0, 0, 0], completions: [0, 0, 0], failures: [0, 0, 0],
      sample: { tasks: 0, from: null, to: null, wait: null, run: null },
    });
  });

  test('counts per window, the oldest queued task, and wait and run percentiles over the sample', async () => {
    await insert([
      // Queued: two recent, one 7 minutes old, one two hours old (the oldest; no longer an arrival of any window).
      { status: 'queued', created: 10 }, { status: 'queued', created: 20 }, { status: 'queued', created: 420 }, { status: 'queued', created: 7200 },
      // Running, started within the last minute.
      { status: 'running', created: 40, started: 30 }, { status: 'running', created: 50, started: 45 },
      // Done within the last minute: waits 1..5 s, runs 2, 4, 6, 8, 10 s.
      ...[1, 2, 3, 4, 5].map((k) => ({ status: 'done', created: 55, started: 55 - k, completed: 55 - k - 2 * k })),
      // Failed 3 minutes ago after a run (a completion); canceled before it ran (an arrival, no completion).
      { status: 'failed', created: 200, started: 190, completed: 180 },
      { status: 'canceled', created: 100, completed: 90 },
      // A copy of another principal's cached result: done at once, never ran (neither).
      { status: 'done', created: 30, started: 30, completed: 30, attempts: 0 },
      // Done 12 minutes ago, created 20 minutes ago: a completion of the 15 minute window only.
      { status: 'done', created: 1200, started: 1000, completed: 720 },
      // Done two hours ago: in the sample (it is within a day), in no window.
      { status: 'done', created: 7300, started: 7250, completed: 7240 },
      // Another service's tasks count for it, not for svc.
      { service: 'other', status: 'queued', created: 5 }, { service: 'other', status: 'done', created: 5, started: 4, completed: 3 },
    ]);
    const figures = await backend.store.serviceActivity('svc', WINDOWS);
    assert.equal(figures.queued, 4);
    assert.equal(figures.running, 2);
    const oldestAge = (figures.at.getTime() - figures.oldestQueuedAt!.getTime()) / 1000;
    assert.ok(Math.abs(oldestAge - 7200) < 5, `oldest queued ${oldestAge} s ago`);
    // 1 minute: 2 queued + 2 running + 5 done = 9. 5 minutes: + failed + canceled = 11. 15 minutes: + queued 7 min ago = 12.
    assert.deepEqual(figures.arrivals, [9, 11, 12]);
    // 1 minute: 5 done. 5 minutes: + failed. 15 minutes: + done 12 minutes ago.
    assert.deepEqual(figures.completions, [5, 6, 7]);
    // Of those, the one failed 3 minutes ago (the canceled one never ran).
    assert.deepEqual(figures.failures, [0, 1, 1]);
    // The sample: 5 + failed + the two older done ones = 8 tasks.
    assert.equal(figures.sample.tasks, 8);
    const fromAge = (figures.at.getTime() - figures.sample.from!.getTime()) / 1000;
    assert.ok(Math.abs(fromAge - 7240) < 5, `sample from ${fromAge} s ago`);
    // Waits: 1, 2, 3, 4, 5, 10 (failed), 200, 50; runs: 2, 4, 6, 8, 10, 10, 280, 10.
    const near = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-3, `${what}: ${a} not ${b}`);
    const waits = [1, 2, 3, 4, 5, 10, 200, 50];
    const runs = [2, 4, 6, 8, 10, 10, 280, 10];
    near(figures.sample.wait!.mean, waits.reduce((a, b) => a + b) / 8, 'wait mean');
    near(figures.sample.run!.mean, runs.reduce((a, b) => a + b) / 8, 'run mean');
    near(figures.sample.wait!.p50, percentile(waits, 0.5), 'wait p50');
    near(figures.sample.wait!.p90, percentile(waits, 0.9), 'wait p90');
    near(figures.sample.run!.p50, percentile(runs, 0.5), 'run p50');
    near(figures.sample.run!.p99, percentile(runs, 0.99), 'run p99');
  });

  test('the sample is the latest N tasks within its age', async () => {
    const latest = await backend.store.serviceActivity('svc', { ...WINDOWS, sampleSize: 3 });
    assert.equal(latest.sample.tasks, 3);
    // The three that ended last (40, 43 and 46 s ago) ran 10, 8 and 6 s.
    assert.ok(Math.abs(latest.sample.run!.mean - (10 + 8 + 6) / 3) < 1e-3, String(latest.sample.run!.mean));
    const recent = await backend.store.serviceActivity('svc', { ...WINDOWS, sampleSeconds: 600 });
    assert.equal(recent.sample.tasks, 6, 'the tasks ended more than 10 minutes ago are left out');
  });

  test('windows are bounded: none empty, none longer than a day', async () => {
    await assert.rejects(backend.store.serviceActivity('svc', { ...WINDOWS, windows: [] }), RangeError);
    await assert.rejects(backend.store.serviceActivity('svc', { ...WINDOWS, windows: [60, 86_401] }), RangeError);
  });
});

/** percentile_cont: linear interpolation between the closest ranks. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = p * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}
