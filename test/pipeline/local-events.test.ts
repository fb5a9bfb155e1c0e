/**
 * A server hears what its own process commits (its submissions, its recorder's results) from its
 * event pipeline, not only by the broker's broadcast: with every event broadcast lost, a watcher of
 * a task the server's own recorder records still gets its end, and the hub never had to read the
 * database to catch up.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { FlakeIdGenerator } from '../../src/core/index.ts';
import type { Broker } from '../../src/broker/index.ts';
import type { Store } from '../../src/store/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';
import { openUpdates, postTask, watchUpdates } from '../support/http.ts';
import { gate } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

await describeEachBackend('events heard from the process\'s own pipeline', (kind) => {
  let backend: Backend;
  let stack: Stack;
  const held = gate();
  let catchUpReads = 0;
  let dropped = 0;
  const origins = new Set<number | undefined>();
  const ignored: Array<number | undefined> = [];
  before(async () => {
    backend = await kind.create();
    const real = await backend.connectBroker();
    const silent: Broker = {
      ...real,
      target: real.target,
      async broadcast(channel, body, announcement) {
        if (channel === 'events') { dropped++; origins.add(announcement?.origin); return; }
        return real.broadcast(channel, body, announcement);
      },
      async listen(channel, onMessage, listening) {
        if (channel === 'events') ignored.push(listening?.ignoreOrigin);
        return real.listen(channel, onMessage, listening);
      },
    };
    // The hub catches up from the database with readEvents: counted, to show it never had to.
    const store: Store = { ...backend.store, readEvents: (...args) => { catchUpReads++; return backend.store.readEvents(...args); } };
    stack = await startStack({ ...backend, store }, { services: [held.definition], broker: silent, sharedPipeline: true });
  });
  after(async () => {
    held.release();
    await stack.close();
    await backend.close();
  });

  test('with every event broadcast lost, a watcher gets the end its server\'s recorder recorded, with no catch-up read', async () => {
    const task = await postTask(stack.baseUrl, 'gate', { n: 1 });
    assert.equal(task.response.status, 201);
    await held.whenStarted(1);
    const watcher = openUpdates(task.json._links.updates.href as string);
    await watcher.opened;
    const readsBefore = catchUpReads;
    held.release();
    const { code, messages } = await watcher.closed;
    assert.equal(code, 1000);
    assert.deepEqual(messages.map((m) => m.eventType), ['done']);
    assert.ok(dropped >= 2, `the queued, started and done broadcasts were lost (${dropped})`);
    assert.equal(catchUpReads - readsBefore, 0, 'the hub read no events from the database');
  });

  test('the hub does not ask the broker for its own pipeline\'s broadcasts', () => {
    // One pipeline, one origin on every broadcast; the hub's subscription ignores exactly it.
    assert.equal(origins.size, 1);
    const [origin] = [...origins];
    assert.equal(typeof origin, 'number');
    assert.deepEqual(ignored, [origin]);
  });
});

await describeEachBackend('a watcher of a task its server has followed from the start', (kind) => {
  let backend: Backend;
  let stack: Stack;
  const held = gate('held');
  let taskReads = 0;
  before(async () => {
    backend = await kind.create();
    const store: Store = { ...backend.store, getTask: (id) => { taskReads++; return backend.store.getTask(id); } };
    stack = await startStack({ ...backend, store }, { services: [held.definition] });
  });
  after(async () => {
    held.release();
    await stack.close();
    await backend.close();
  });

  test('is answered from the event hub, with no read of the task, and gets the end', async () => {
    const task = await postTask(stack.baseUrl, 'held', { n: 1 });
    await held.whenStarted(1);
    const readsBefore = taskReads;
    const watcher = openUpdates(task.json._links.updates.href as string);
    await watcher.opened;
    assert.equal(taskReads - readsBefore, 0, 'the task was not read from the database');
    held.release();
    const { code, messages } = await watcher.closed;
    assert.equal(code, 1000);
    assert.deepEqual(messages.map((m) => m.eventType), ['done']);
  });

  test('a task the hub has not followed (written by another process, never announced) still ends for its watcher', async () => {
    const id = new FlakeIdGenerator(9).next();
    await backend.store.insertTask({ id, service: 'held', input: '{}', owner: null, clientName: null, ttl: null });
    await backend.store.completeTasks([{ id, status: 'done', index: {}, files: [], error: null }]);
    const { code, messages } = await watchUpdates(`${stack.baseUrl.replace('http', 'ws')}/task/${id}/updates`);
    assert.equal(code, 1000);
    assert.deepEqual(messages.map((m) => m.eventType), ['done']);
  });

  test('a task it followed that ended and was removed at its ttl is gone for a new watcher (404), not reported from memory', async () => {
    const task = await postTask(stack.baseUrl, 'held', { n: 2 }, { ttl: 'PT0S' });
    held.release();
    const first = await watchUpdates(task.json._links.updates.href as string);
    assert.deepEqual(first.messages.map((m) => m.eventType), ['done']);
    await eventually(async () => (await backend.store.deleteExpired(100)) > 0 || (await backend.store.getTask(task.json.id as string)) === undefined, 'the task to be removed at its ttl');
    const status = await new Promise<string>((resolve) => {
      const socket = new WebSocket(task.json._links.updates.href as string);
      socket.on('unexpected-response', (_req, res) => resolve(String(res.statusCode)));
      socket.on('open', () => { resolve('opened'); socket.terminate(); });
    });
    assert.equal(status, '404');
  });

  test('a task it followed that was deleted is gone for a new watcher (404)', async () => {
    held.release();
    const task = await postTask(stack.baseUrl, 'held', { n: 3 });
    const first = await watchUpdates(task.json._links.updates.href as string);
    assert.deepEqual(first.messages.map((m) => m.eventType), ['done']);
    assert.equal((await fetch(`${stack.baseUrl}/task/${task.json.id as string}`, { method: 'DELETE' })).status, 200);
    const status = await new Promise<string>((resolve) => {
      const socket = new WebSocket(task.json._links.updates.href as string);
      socket.on('unexpected-response', (_req, res) => resolve(String(res.statusCode)));
      socket.on('open', () => { resolve('opened'); socket.terminate(); });
    });
    assert.equal(status, '404');
  });
});
