/**
 * The service registry through the HTTP API: workers announce, servers list and validate, a
 * departed or silent worker's services go offline, unknown services are refused unless the
 * server queues for any name.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FlakeIdGenerator } from '../../src/core/index.ts';
import { createApp } from '../../src/server/index.ts';
import { startServiceRegistry, VIEW_TTL_MS } from '../../src/server/registry.ts';
import { startWorker } from '../../src/worker/index.ts';
import type { Backend } from '../support/backends.ts';
import { countTasks, describeEachBackend, testLogger } from '../support/backends.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { service } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const SCHEMA = {
  type: 'object',
  required: ['n'],
  additionalProperties: false,
  properties: { n: { type: 'integer', minimum: 0 }, rows: { type: 'array', items: { type: 'object', properties: { x: { type: 'number' } } } } },
};

const square = service('square', (input) => ({ square: (input as { n: number }).n ** 2 }), 3, {
  version: '2.1.0',
  description: 'Squares n.',
  inputSchema: SCHEMA,
  example: { value: { n: 4 } },
  timeout: 'PT1M',
  timeoutMs: 60_000,
  ttl: 'PT1H',
});
const squareDocs = { ...square, docs: '# square\n\nSquares a number.' };

async function getJson(url: string): Promise<{ status: number; body: any }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json() };
}

await describeEachBackend('service registry', (kind) => {
  let backend: Backend;
  let stack: Stack;
  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { services: [squareDocs] });
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  test('GET /services lists what workers announced, with their capacity', async () => {
    const { status, body } = await getJson(`${stack.baseUrl}/services`);
    assert.equal(status, 200);
    assert.deepEqual(body.services, [{
      name: 'square', version: '2.1.0', description: 'Squares n.', runtime: 'node', online: true, workers: 1, capacity: 3, busy: 0,
      _links: { self: { href: `${stack.baseUrl}/services/square` }, submit: { href: `${stack.baseUrl}/task?service=square` } },
    }]);
  });

  test('GET /services/:name gives the schema, example, docs, workers and queue depth', async () => {
    const { status, body } = await getJson(`${stack.baseUrl}/services/square`);
    assert.equal(status, 200);
    assert.deepEqual(body.inputSchema, SCHEMA);
    assert.deepEqual(body.example, { n: 4 });
    assert.equal(body.docs, '# square\n\nSquares a number.');
    assert.equal(body.timeout, 'PT1M');
    assert.equal(body.ttl, 'PT1H');
    assert.deepEqual(body.versions, ['2.1.0']);
    assert.equal(body.workers.length, 1);
    assert.equal(body.workers[0].id, stack.worker!.id);
    assert.equal(body.workers[0].concurrency, 3);
    assert.deepEqual(body.queue, { messages: 0, consumers: 1 });
    const missing = await getJson(`${stack.baseUrl}/services/nothing`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'not_found');
    const bad = await getJson(`${stack.baseUrl}/services/amq.x`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'name');
  });

  test('an input that breaks the schema gets 400 naming the field, and nothing is written', async () => {
    const before = await countTasks(backend);
    const cases: Array<[unknown, string]> = [
      [{ n: -1 }, 'n'],
      [{}, 'n'],
      [{ n: 1, extra: true }, 'extra'],
      [{ n: 1, rows: [{ x: 1 }, { x: 'two' }] }, 'rows.1.x'],
      [[1, 2], 'input'],
    ];
    for (const [input, field] of cases) {
      const { response, json } = await postTask(stack.baseUrl, 'square', input);
      assert.equal(response.status, 400, JSON.stringify(input));
      assert.equal(json.error.code, 'invalid_input');
      assert.equal(json.error.field, field);
      assert.match(json.error.message, new RegExp(`square service's schema: ${field.replace(/\./g, '\\.')} `));
    }
    assert.equal(await countTasks(backend), before);
    const ok = await postTask(stack.baseUrl, 'square', { n: 5 });
    assert.equal(ok.response.status, 201);
    await watchUpdates(ok.json._links.updates.href);
    assert.deepEqual(await (await fetch(`${ok.json._links.self.href}/results`)).json(), { square: 25 });
  });

  test("a task without a ttl takes the service's default ttl", async () => {
    const { json } = await postTask(stack.baseUrl, 'square', { n: 2 });
    await watchUpdates(json._links.updates.href);
    const task = await backend.store.getTask(json.id);
    const kept = task!.expiresAt!.getTime() - task!.completedAt!.getTime();
    assert.equal(kept, 3600_000);
  });

  test('a service no worker announced is refused, naming the field; Patavi mode queues it', async () => {
    const before = await countTasks(backend);
    const { response, json } = await postTask(stack.baseUrl, 'nobody', {});
    assert.equal(response.status, 400);
    assert.deepEqual(json.error, { code: 'unknown_service', message: 'no worker runs a service named "nobody" (GET /services lists those that do)', field: 'service' });
    assert.equal(await countTasks(backend), before);
    const patavi = await startStack(backend, { settings: { allowUnknownServices: true }, recorder: false, nodeId: 2 });
    try {
      const queued = await postTask(patavi.baseUrl, 'nobody', {});
      assert.equal(queued.response.status, 201);
      assert.equal(queued.json.status, 'no-workers');
    } finally {
      await patavi.close();
    }
  });

  test('a server started after the workers knows their services at once (it asks)', async () => {
    const app = await createApp({
      store: backend.store, broker: backend.broker, ids: new FlakeIdGenerator(3), logger: testLogger,
      settings: { bodyLimit: 1 << 20, maxJsonDepth: 64, allowUnknownServices: false },
    });
    try {
      const response = await app.inject({ method: 'GET', url: '/services' });
      assert.deepEqual(response.json().services.map((s: { name: string }) => s.name), ['square']);
    } finally {
      await app.close();
    }
  });

  test("a worker that stops says goodbye: its service shows offline and still takes tasks until it is back", async () => {
    const extra = await startWorker({ broker: backend.broker, services: [service('transient', (x) => x)], logger: testLogger });
    await eventually(async () => (await getJson(`${stack.baseUrl}/services/transient`)).status === 200, 'the transient service to be announced');
    await extra.close();
    const gone = await eventually(async () => {
      const { body } = await getJson(`${stack.baseUrl}/services/transient`);
      return body.online === false ? body : undefined;
    }, 'the service to go offline');
    assert.deepEqual(gone.workers, []);
    const queued = await postTask(stack.baseUrl, 'transient', { still: 'accepted' });
    assert.equal(queued.response.status, 201);
    assert.equal(queued.json.status, 'no-workers');
    const back = await startWorker({ broker: backend.broker, services: [service('transient', (x) => x)], logger: testLogger });
    try {
      const updates = await watchUpdates(queued.json._links.updates.href);
      assert.equal(updates.messages.at(-1)!.eventType, 'done');
    } finally {
      await back.close();
    }
  });

  test('a worker that goes silent is forgotten after three of its intervals, not before', async () => {
    // The registry on the test's clock: "three intervals" is then what the clock says, however
    // long the busy machine takes to deliver the announcement.
    let now = 1_000_000;
    const registry = await startServiceRegistry({ broker: backend.broker, logger: testLogger, now: () => now, discoverWaitMs: 0 });
    try {
      const announce = {
        kind: 'announce',
        worker: { id: 'silent-worker', host: 'h', pid: 1, startedAt: new Date().toISOString(), intervalMs: 100 },
        services: [{ name: 'ghost', version: '1.0.0', description: '', runtime: 'r', inputSchema: null, example: null, timeout: null, ttl: null, cache: { enabled: false, lifetime: 'PT24H' }, docs: null, concurrency: 1, busy: 0 }],
      };
      await backend.broker.broadcast('services', Buffer.from(JSON.stringify(announce)));
      await eventually(() => registry.service('ghost')?.online === true, 'the ghost service to be listed online');
      now += 300;
      assert.equal(registry.service('ghost')?.online, true, 'still online after exactly three intervals of silence');
      // The registry's view is computed again at most every VIEW_TTL_MS: the silence shows that late.
      now += 1 + VIEW_TTL_MS;
      assert.equal(registry.service('ghost')?.online, false, 'forgotten once three intervals have passed');
      // The server the stack runs, on the real clock, forgets it too.
      await eventually(async () => (await getJson(`${stack.baseUrl}/services/ghost`)).body.online === false, 'the silent worker to be forgotten by the server');
    } finally {
      await registry.close();
    }
  });
});
