/**
 * GET /workers (issue 14): real worker processes announce their services, slots, load, tasks done,
 * Errand's version, host and times; a worker running a service at another version than the others
 * is flagged; older workers' announcements (no version, no count) still list; only operators see it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, realBackend } from '../support/backends.ts';
import { createKeys } from '../support/access.ts';
import { spawnErrand } from '../support/processes.ts';
import type { RunningErrand } from '../support/processes.ts';
import { startStack, TEST_CAPABILITIES } from '../support/stack.ts';
import type { Stack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const V1 = fileURLToPath(new URL('../fixtures/versioned/v1/', import.meta.url));
const V2 = fileURLToPath(new URL('../fixtures/versioned/v2/', import.meta.url));
const ERRAND_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

await describeEachBackend('GET /workers', () => {
  let backend: Backend;
  let stack: Stack;
  let keys: Record<string, string>;
  const workers: RunningErrand[] = [];
  let ids: { v1: string; v2: string };

  const get = async (key: string | undefined, path = '/workers') => {
    const response = await fetch(`${stack.baseUrl}${path}`, { headers: key === undefined ? {} : { authorization: `Bearer ${key}` } });
    return { status: response.status, body: (await response.json()) as any };
  };
  const post = async (body: unknown) => {
    const response = await fetch(`${stack.baseUrl}/task?service=square`, { method: 'POST', headers: { authorization: `Bearer ${keys.submitter}` }, body: JSON.stringify(body) });
    return (await response.json()) as any;
  };

  before(async () => {
    backend = await realBackend.create();
    stack = await startStack(backend, { settings: { auth: { required: true }, capabilities: TEST_CAPABILITIES } });
    keys = await createKeys(backend.store, [
      ['operator', 'operator', { scopes: ['read:all'] }],
      ['admin', 'admin', { scopes: ['admin'] }],
      ['submitter', 'submitter', { scopes: ['submit', 'read', 'cancel'] }],
    ]);
    const args = (dir: string) => ['worker', '--amqp-url', backend.urls!.amqp, '--services', dir, '--announce-interval', '200'];
    workers.push(spawnErrand(args(V1)), spawnErrand(args(V2)));
    const [v1, v2] = await Promise.all(workers.map(async (w) => (await w.waitForLog((l) => l.msg === 'errand worker running')).worker as string));
    ids = { v1: v1!, v2: v2! };
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await stack.close();
    await backend.close();
  });

  test('each worker with its services, slots, load, versions, host and times; the one at another version is flagged', async () => {
    const { status, body } = await eventually(async () => {
      const answer = await get(keys.operator);
      return answer.body.workers?.length === 2 ? answer : undefined;
    }, 'both workers to be heard');
    assert.equal(status, 200);
    const byId = Object.fromEntries(body.workers.map((w: any) => [w.id, w]));
    const v1 = byId[ids.v1];
    const v2 = byId[ids.v2];
    assert.deepEqual(Object.keys(v1).sort(), ['announceIntervalMs', 'done', 'errandVersion', 'flagged', 'host', 'id', 'lastSeen', 'pid', 'running', 'services', 'slots', 'startedAt']);
    assert.equal(v1.pid, workers[0]!.child.pid);
    assert.equal(v2.pid, workers[1]!.child.pid);
    for (const w of [v1, v2]) {
      assert.equal(w.errandVersion, ERRAND_VERSION);
      assert.equal(w.announceIntervalMs, 200);
      assert.equal(typeof w.host, 'string');
      assert.ok(w.host.length > 0);
      assert.ok(!Number.isNaN(Date.parse(w.startedAt)) && !Number.isNaN(Date.parse(w.lastSeen)));
      assert.ok(Date.parse(w.startedAt) <= Date.parse(w.lastSeen));
      assert.equal(w.flagged, true, 'one worker each at 1.0.0 and 2.0.0: no version prevails, both differ');
    }
    assert.deepEqual(v1.services, [{ name: 'square', version: '1.0.0', slots: 2, running: 0, done: 0, versionDiffers: true, otherVersions: { '2.0.0': 1 } }]);
    assert.deepEqual(v2.services, [{ name: 'square', version: '2.0.0', slots: 3, running: 0, done: 0, versionDiffers: true, otherVersions: { '1.0.0': 1 } }]);
    assert.deepEqual([v1.slots, v1.running, v1.done, v2.slots, v2.running, v2.done], [2, 0, 0, 3, 0, 0]);
  });

  test('tasks running and tasks done follow what the workers ran', async () => {
    const held = await post({ hold: true });
    await eventually(async () => {
      const { body } = await get(keys.operator);
      return body.workers.reduce((n: number, w: any) => n + w.running, 0) === 1;
    }, 'the held task to show as running on one worker');
    const cancel = await fetch(`${stack.baseUrl}/task/${held.id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${keys.submitter}` } });
    assert.equal(cancel.status, 200);
    const tasks = await Promise.all([1, 2, 3, 4].map((n) => post({ n })));
    await eventually(async () => {
      const states = await Promise.all(tasks.map(async (t) => (await backend.store.getTask(t.id))?.status));
      return states.every((s) => s === 'done');
    }, 'the four tasks to be done');
    // Four results and the canceled run (its worker sends its result too): five tasks finished in all.
    const { body } = await eventually(async () => {
      const answer = await get(keys.operator);
      const total = answer.body.workers.reduce((n: number, w: any) => n + w.done, 0);
      const running = answer.body.workers.reduce((n: number, w: any) => n + w.running, 0);
      return total === 5 && running === 0 ? answer : undefined;
    }, 'five tasks done over both workers, none running');
    for (const w of body.workers) assert.equal(w.done, w.services[0].done);
  });

  test('an older worker that sends neither version nor count still lists, with nulls; a majority version is not flagged', async () => {
    // A worker from before issue 14 (or another language's), running square 2.0.0: now two of three run 2.0.0.
    const announce = {
      kind: 'announce',
      worker: { id: 'old-worker', host: 'elsewhere', pid: 7, startedAt: '2026-11-23T10:00:00.000Z', intervalMs: 60_000 },
      services: [{ name: 'square', version: '2.0.0', description: '', runtime: 'node', inputSchema: null, example: null, timeout: null, ttl: null, cache: { enabled: false, lifetime: 'PT24H' }, docs: null, concurrency: 1, busy: 0 }],
    };
    await backend.broker.broadcast('services', Buffer.from(JSON.stringify(announce)));
    const { body } = await eventually(async () => {
      const answer = await get(keys.admin);
      return answer.body.workers.length === 3 ? answer : undefined;
    }, 'the old worker to be listed');
    const byId = Object.fromEntries(body.workers.map((w: any) => [w.id, w]));
    assert.deepEqual(byId['old-worker'], {
      id: 'old-worker', host: 'elsewhere', pid: 7, errandVersion: null, startedAt: '2026-11-23T10:00:00.000Z', lastSeen: byId['old-worker'].lastSeen,
      announceIntervalMs: 60_000, slots: 1, running: 0, done: null, flagged: false,
      services: [{ name: 'square', version: '2.0.0', slots: 1, running: 0, done: null, versionDiffers: false }],
    });
    assert.equal(byId[ids.v2].flagged, false, '2.0.0 now prevails');
    assert.equal(byId[ids.v1].flagged, true);
    assert.deepEqual(byId[ids.v1].services[0].otherVersions, { '2.0.0': 2 });
    await backend.broker.broadcast('services', Buffer.from(JSON.stringify({ kind: 'goodbye', worker: { id: 'old-worker' } })));
    await eventually(async () => (await get(keys.operator)).body.workers.length === 2, 'the old worker to leave');
  });

  test('only operators see the workers: read:all or admin; others 403, no credential or a task link 401', async () => {
    const none = await get(undefined);
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'unauthorized');
    const reader = await get(keys.submitter);
    assert.equal(reader.status, 403);
    assert.deepEqual(reader.body, { error: { code: 'forbidden', message: 'key:submitter may not see the workers: that needs read:all or admin' } });
    const task = await post({ n: 2 });
    const link = new URL(task._links.self.href);
    const viaLink = await get(undefined, `${link.pathname.replace(/\/task\/.*$/, '')}/workers`);
    assert.equal(viaLink.status, 401);
    assert.equal((await get(keys.operator)).status, 200);
  });
}, [realBackend]);
