/**
 * GET /services/:name/stats through the HTTP API on both backends: what it says of a service's
 * queue, running tasks, slots and recent runs, what it refuses (naming the field), who may ask,
 * and what it answers with the broker or the database away.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createMemoryBroker } from '../../src/broker/index.ts';
import { slotsForTargetWait } from '../../src/core/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';
import { createKeys } from '../support/access.ts';
import { postTask } from '../support/http.ts';
import { echo, gate, steps } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const response = await fetch(url, { headers });
  return { status: response.status, body: await response.json() };
}

await describeEachBackend('service stats', (kind) => {
  let backend: Backend;
  let stack: Stack;
  const held = gate('held'); // 4 slots, holds every task until released
  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { services: [held.definition, echo('quick', 2), steps()] });
  });
  after(async () => {
    held.release();
    await stack.close();
    await backend.close();
  });

  test('a service with tasks queued and running: counts, slots, the oldest queued task; no run yet, so no model', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await postTask(stack.baseUrl, 'held', { i })).json.id);
    await held.whenStarted(4);
    // Running once the start reports are recorded (--start-report-after, 250 ms by default).
    const { status, body } = await eventually(async () => {
      const answer = await getJson(`${stack.baseUrl}/services/held/stats`);
      return answer.body.tasks?.running === 4 && answer;
    }, 'four tasks recorded as running');
    assert.equal(status, 200);
    assert.equal(body.service, 'held');
    assert.equal(body.announced, true);
    assert.equal(body.online, true);
    assert.deepEqual(body.workers, { online: 1, slots: 4 });
    assert.equal(body.queue.consumers, 1);
    assert.equal(body.tasks.queued, 2);
    assert.ok(body.tasks.oldestQueuedSeconds >= 0, JSON.stringify(body.tasks));
    // Six arrivals within every window; none completed.
    assert.deepEqual(body.arrivalsPerSecond, { '1m': 6 / 60, '5m': 6 / 300, '15m': 6 / 900 });
    assert.deepEqual(body.completionsPerSecond, { '1m': 0, '5m': 0, '15m': 0 });
    assert.deepEqual(body.failureRate, { '1m': null, '5m': null, '15m': null }, 'none ended: no rate');
    assert.equal(body.sample.tasks, 0);
    assert.equal(body.runSeconds, null);
    assert.equal(body.waitSeconds, null);
    assert.equal(body.model, null);
    assert.equal(body.estimate, 'unknown');
    assert.equal(body.estimatedWaitSeconds, null);
    assert.equal(body.slotsNeeded, null);
    assert.equal(body.targetWait, 'PT1M');
    assert.equal(body.targetWaitSeconds, 60);
    assert.ok(Math.abs(Date.parse(body.at) - Date.now()) < 60_000, body.at);

    held.release();
    const done = await eventually(async () => {
      const answer = await getJson(`${stack.baseUrl}/services/held/stats?targetWait=PT0.5S&window=1m`);
      return answer.body.sample?.tasks === 6 && answer.body;
    }, 'all six tasks in the sample');
    assert.deepEqual(done.tasks, { queued: 0, running: 0, oldestQueuedSeconds: null });
    assert.deepEqual(done.completionsPerSecond, { '1m': 6 / 60, '5m': 6 / 300, '15m': 6 / 900 });
    assert.deepEqual(done.failureRate, { '1m': 0, '5m': 0, '15m': 0 });
    assert.equal(done.estimate, 'free-slot');
    assert.equal(done.estimatedWaitSeconds, 0);
    assert.equal(done.model.window, '1m');
    assert.equal(done.model.arrivalRate, 6 / 60);
    assert.equal(done.model.slots, 4);
    assert.equal(done.model.meanRunSeconds, done.runSeconds.mean);
    assert.equal(done.targetWait, 'PT0.5S');
    assert.equal(done.slotsNeeded, slotsForTargetWait(6 / 60, 1 / Math.max(done.runSeconds.mean, 0.001), 0.5));
    for (const spread of [done.runSeconds, done.waitSeconds]) {
      assert.ok(spread.p50 <= spread.p90 && spread.p90 <= spread.p99, JSON.stringify(spread));
    }
  });

  test('the failure rate: the share of the tasks that ran and ended that failed, per window', async () => {
    const ids = [];
    for (const fail of [false, true, false, false]) ids.push((await postTask(stack.baseUrl, 'steps', { fail, pauseMs: 1 })).json.id);
    const body = await eventually(async () => {
      const answer = await getJson(`${stack.baseUrl}/services/steps/stats`);
      return answer.body.sample?.tasks === 4 && answer.body;
    }, 'the four tasks ended');
    assert.deepEqual(body.failureRate, { '1m': 0.25, '5m': 0.25, '15m': 0.25 });
  });

  test('bad input is refused with 400 naming the field; an unknown service is 404', async () => {
    const cases: Array<[string, number, string, string]> = [
      ['/services/quick/stats?targetWait=soon', 400, 'invalid_field', 'targetWait'],
      ['/services/quick/stats?targetWait=PT0S', 400, 'invalid_field', 'targetWait'],
      ['/services/quick/stats?targetWait=P300000Y', 400, 'invalid_field', 'targetWait'],
      ['/services/quick/stats?window=2m', 400, 'invalid_field', 'window'],
      ['/services/amq.x/stats', 400, 'invalid_field', 'name'],
      ['/services/nobody/stats', 404, 'not_found', 'name'],
    ];
    for (const [path, status, code, field] of cases) {
      const { status: got, body } = await getJson(`${stack.baseUrl}${path}`);
      assert.equal(got, status, path);
      assert.equal(body.error.code, code, path);
      assert.equal(body.error.field, field, path);
      assert.equal(typeof body.error.message, 'string');
    }
    const { body } = await getJson(`${stack.baseUrl}/services/quick/stats?targetWait=soon`);
    assert.match(body.error.message, /^targetWait must be an ISO 8601 duration above zero/);
    assert.equal((await getJson(`${stack.baseUrl}/services/quick/stats?window=2m`)).body.error.message, 'window must be one of 1m, 5m, 15m, got "2m"');
    const ok = await getJson(`${stack.baseUrl}/services/quick/stats?targetWait=PT2M&window=15m`);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.targetWaitSeconds, 120);
  });

  test('with authentication on: a credential with a read scope may ask, one without is 403, none is 401', async () => {
    const keys = await createKeys(backend.store, [
      ['reader', 'stats-reader', { scopes: ['read'] }],
      ['operator', 'stats-operator', { scopes: ['read:all'] }],
      ['submitter', 'stats-submitter', { scopes: ['submit'] }],
    ]);
    const guarded = await startStack(backend, { settings: { auth: { required: true } }, recorder: false });
    try {
      const url = `${guarded.baseUrl}/services/held/stats`;
      const none = await getJson(url);
      assert.equal(none.status, 401);
      assert.equal(none.body.error.code, 'unauthorized');
      const submitter = await getJson(url, { authorization: `Bearer ${keys.submitter}` });
      assert.equal(submitter.status, 403);
      assert.match(submitter.body.error.message, /no read scope/);
      // Refused before the query is looked at: a bad value tells nothing to a caller who may not ask.
      assert.equal((await getJson(`${url}?window=x`)).status, 401);
      for (const key of [keys.reader!, keys.operator!]) {
        const allowed = await getJson(url, { authorization: `Bearer ${key}` });
        assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
        assert.equal(allowed.body.workers.slots, 4);
      }
    } finally {
      await guarded.close();
    }
  });

  test('with the broker away: 503 broker_unavailable; with the database away: 503 database_unavailable', async () => {
    const broker = kind.name.startsWith('PGlite') ? createMemoryBroker() : await backend.connectBroker();
    const own = await startStack(backend, { services: [echo('lonely')], broker, recorder: false });
    try {
      assert.equal((await getJson(`${own.baseUrl}/services/lonely/stats`)).status, 200);
      await broker.close();
      const away = await getJson(`${own.baseUrl}/services/lonely/stats`);
      assert.equal(away.status, 503);
      assert.equal(away.body.error.code, 'broker_unavailable');
    } finally {
      await own.close().catch(() => undefined);
    }
    await backend.db.query('ALTER TABLE task RENAME TO task_away');
    try {
      const away = await getJson(`${stack.baseUrl}/services/quick/stats`);
      assert.equal(away.status, 503);
      assert.equal(away.body.error.code, 'database_unavailable');
    } finally {
      await backend.db.query('ALTER TABLE task_away RENAME TO task');
    }
    assert.equal((await getJson(`${stack.baseUrl}/services/quick/stats`)).status, 200);
  });
});
