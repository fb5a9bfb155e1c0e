/** Each failure path the pipeline handles, against the real engines and the embedded pair. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { createMemoryBroker } from '../../src/broker/index.ts';
import { FlakeIdGenerator, RESULT_QUEUE } from '../../src/core/index.ts';
import type { Backend } from '../support/backends.ts';
import { countTasks, describeEachBackend } from '../support/backends.ts';
import { readEventSocket } from '../support/event-clients.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { echo, gate, service } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

await describeEachBackend('failure paths', (kind) => {
  let backend: Backend;
  let stack: Stack;
  const held = gate('held');
  before(async () => {
    backend = await kind.create();
    // Tasks of 'manual' are queued though no worker runs it; the tests send its results by hand.
    stack = await startStack(backend, { services: [echo(), held.definition], settings: { allowUnknownServices: true } });
  });
  after(async () => {
    held.release();
    await stack.close();
    await backend.close();
  });

  test('a task the broker does not confirm is not kept: 503, and the row is gone', async () => {
    const broker = kind.name.startsWith('PGlite') ? createMemoryBroker() : await backend.connectBroker();
    const own = await startStack(backend, { services: [echo('flaky')], broker, recorder: false });
    try {
      assert.equal((await postTask(own.baseUrl, 'flaky', {})).response.status, 201); // the service is known now
      const before = await countTasks(backend);
      await broker.close();
      const { response, json } = await postTask(own.baseUrl, 'flaky', {});
      assert.equal(response.status, 503);
      assert.equal(json.error.code, 'broker_unavailable');
      assert.equal(await countTasks(backend), before);
      // A service not looked up yet needs the broker before anything is written: 503 as well.
      const unseen = await postTask(own.baseUrl, 'unseen', {});
      assert.equal(unseen.response.status, 503);
      assert.equal(unseen.json.error.code, 'broker_unavailable');
      assert.equal(await countTasks(backend), before);
    } finally {
      await own.close().catch(() => undefined);
    }
  });

  test('while the database is away, submissions get 503 and results wait; both recover', async () => {
    const { json } = await postTask(stack.baseUrl, 'held', { n: 1 });
    await held.whenStarted(1);
    await backend.db.query('ALTER TABLE task RENAME TO task_away');
    try {
      const refused = await postTask(stack.baseUrl, 'echo', {});
      assert.equal(refused.response.status, 503);
      assert.equal(refused.json.error.code, 'database_unavailable');
      held.release();
      await eventually(() => held.finished.includes(json.id), 'the held task to finish');
      // The recorder cannot write the result now; it must hand it back, not drop it.
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      await backend.db.query('ALTER TABLE task_away RENAME TO task');
    }
    // Had the recorder dropped the result while the table was away, this would never happen.
    await eventually(async () => (await backend.store.getTask(json.id))?.status === 'done', 'the result to be recorded');
    assert.deepEqual(await (await fetch(`${json._links.self.href}/results`)).json(), { n: 1 });
    assert.equal((await postTask(stack.baseUrl, 'echo', {})).response.status, 201);
  });

  test('a task message without a task id is dropped, and the worker goes on', async () => {
    await backend.broker.send('echo', Buffer.from('{}'), { replyTo: RESULT_QUEUE, contentType: 'application/json' });
    const { json } = await postTask(stack.baseUrl, 'echo', { after: 'bad' });
    assert.equal((await watchUpdates(json._links.updates.href)).messages.at(-1)?.eventType, 'done');
    assert.equal((await backend.broker.queueStats('echo'))?.messages, 0);
  });

  test('an input that is not JSON fails its task with invalid_input', async () => {
    const id = new FlakeIdGenerator(9).next();
    await backend.store.insertTask({ id, service: 'echo', input: '{}', owner: null, clientName: null, ttl: null });
    // As Patavi's server published: no content type, and here a body that is not JSON.
    await backend.broker.send('echo', Buffer.from('not json'), { correlationId: id, replyTo: RESULT_QUEUE });
    const task = await eventually(async () => {
      const t = await backend.store.getTask(id);
      return t?.status === 'failed' && t;
    }, 'the task to fail');
    assert.equal(task.error?.code, 'invalid_input');
  });

  test('a result that cannot be read fails its task with invalid_result; one without a task id is dropped', async () => {
    await backend.broker.send(RESULT_QUEUE, Buffer.from('{"orphan": true}'), { contentType: 'application/json' });
    const { json } = await postTask(stack.baseUrl, 'manual', {});
    const watching = watchUpdates(json._links.updates.href);
    await backend.broker.send(RESULT_QUEUE, Buffer.from('plain words'), { correlationId: json.id, contentType: 'text/plain' });
    assert.equal((await watching).messages.at(-1)?.eventType, 'failed');
    const task = (await (await fetch(json._links.self.href)).json()) as { error: { code: string; message: string } };
    assert.equal(task.error.code, 'invalid_result');
    assert.match(task.error.message, /content type "text\/plain"/);
  });

  test('a result for a task that was deleted is acknowledged and ignored', async () => {
    const { json } = await postTask(stack.baseUrl, 'manual', {});
    assert.equal((await fetch(json._links.self.href, { method: 'DELETE' })).status, 200);
    await backend.broker.send(RESULT_QUEUE, Buffer.from('{"late": true}'), { correlationId: json.id, contentType: 'application/json' });
    await eventually(async () => (await backend.broker.queueStats(RESULT_QUEUE))?.messages === 0, 'the late result to be consumed');
    assert.equal((await fetch(json._links.self.href)).status, 404);
  });
  test('a watcher whose task cannot be read once its socket is open gets close 1011 telling it to retry', async () => {
    const { json } = await postTask(stack.baseUrl, 'nobody-runs-this', { w: 1 });
    // The upgrade's check reads the task; an event reaches the server before its socket listens,
    // so that read may be stale and the task is read again: that read fails.
    let reads = 0;
    let own!: Stack;
    let live!: ReturnType<typeof readEventSocket>;
    const store = {
      ...backend.store,
      getTask: async (id: string) => {
        reads++;
        if (reads === 2) throw new Error('database went away');
        const task = await backend.store.getTask(id);
        if (reads === 1) {
          const other = await postTask(own.baseUrl, 'nobody-runs-this', { w: 2 });
          await live.until((events) => events.some((e) => e.taskId === other.json.id), 'the other task\'s event at the server');
        }
        return task;
      },
    };
    own = await startStack({ ...backend, store }, { recorder: false, nodeId: 5, settings: { allowUnknownServices: true } });
    live = readEventSocket(`${own.baseUrl.replace('http', 'ws')}/events`, { filter: { services: ['nobody-runs-this'] }, since: 0 });
    try {
      const closed = await new Promise<{ code: number; reason: string }>((resolve, reject) => {
        const socket = new WebSocket(`${own.baseUrl.replace('http', 'ws')}/task/${json.id}/updates`);
        socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
        socket.on('error', reject);
      });
      assert.deepEqual(closed, { code: 1011, reason: 'cannot watch the task now; retry' });
      assert.equal(reads, 2);
    } finally {
      live.close();
      await own.close();
    }
  });
  test('a result JSON cannot carry (a BigInt) fails its task with invalid_result instead of leaving it running', async () => {
    const own = await startStack(backend, { services: [service('bigint', () => ({ n: 1n }))], recorder: false, nodeId: 6 });
    try {
      const { json } = await postTask(own.baseUrl, 'bigint', {});
      const updates = await watchUpdates(json._links.updates.href);
      assert.equal(updates.messages.at(-1)?.eventType, 'failed');
      const task = await backend.store.getTask(json.id);
      assert.equal(task?.error?.code, 'invalid_result');
      assert.match(task?.error?.message ?? '', /cannot be encoded/);
    } finally {
      await own.close();
    }
  });
});
