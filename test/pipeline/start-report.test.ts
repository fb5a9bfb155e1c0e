/**
 * A task's start rides with its result when the task ends before its start report is due
 * (--start-report-after); a longer task reports its start when due and is acknowledged then,
 * so that consumer_timeout can never close the channel under it.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import type { Broker } from '../../src/broker/index.ts';
import { RESULT_QUEUE, STARTED_TYPE } from '../../src/core/index.ts';
import { startWorker } from '../../src/worker/index.ts';
import type { Worker } from '../../src/worker/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, testLogger } from '../support/backends.ts';
import { postTask } from '../support/http.ts';
import { gate, service } from '../support/services.ts';
import { startStack } from '../support/stack.ts';
import type { Stack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

/** The backend's broker, noting the type of every reply a worker sends (undefined: a result). */
function replyRecorder(broker: Broker): { broker: Broker; replies: Array<{ taskId: string | undefined; type: string | undefined }> } {
  const replies: Array<{ taskId: string | undefined; type: string | undefined }> = [];
  return {
    replies,
    broker: {
      ...broker,
      target: broker.target,
      async send(queue, body, options = {}) {
        if (queue === RESULT_QUEUE) replies.push({ taskId: options.correlationId, type: options.type });
        return broker.send(queue, body, options);
      },
    },
  };
}

await describeEachBackend('start reports', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let worker: Worker | undefined;
  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend);
  });
  afterEach(async () => { await worker?.close(); worker = undefined; });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  const eventsOf = async (id: string) => (await backend.store.readEvents({ tasks: new Set([id]) }, 0, null, 100));

  test('a task that ends before its start is due sends only its result, and is recorded with its start and script', async () => {
    const spy = replyRecorder(backend.broker);
    const quick = service('quick-start', (input) => input, 2);
    quick.executor.script = () => 'quick <- function(params) params';
    worker = await startWorker({ broker: spy.broker, services: [quick], logger: testLogger, startReportAfterMs: 60_000 });
    const { json } = await postTask(stack.baseUrl, 'quick-start', { n: 1 });
    const id = json.id as string;
    const task = await eventually(async () => { const t = await backend.store.getTask(id); return t?.status === 'done' && t; }, 'the task done');
    assert.deepEqual(spy.replies.filter((r) => r.taskId === id).map((r) => r.type ?? 'result'), ['result'], 'one message: the result');
    assert.equal(task.attempts, 1);
    assert.equal(task.worker, worker.id);
    assert.ok(task.startedAt && task.completedAt && task.startedAt <= task.completedAt);
    const events = await eventsOf(id);
    assert.deepEqual(events.map((e) => e.type), ['queued', 'started', 'done']);
    assert.deepEqual(events[1]!.data, { worker: worker.id, attempt: 1 });
    const script = await fetch(`${stack.baseUrl}/task/${id}/script`);
    assert.equal(script.status, 200);
    assert.equal(await script.text(), 'quick <- function(params) params');
  });

  test('a script too large for a header goes in a start report sent before the run, even for a quick task', async () => {
    const spy = replyRecorder(backend.broker);
    const big = service('big-script', (input) => input, 1);
    const source = `# ${'x'.repeat(40 * 1024)}\nbig <- function(params) params`;
    big.executor.script = () => source;
    worker = await startWorker({ broker: spy.broker, services: [big], logger: testLogger, startReportAfterMs: 60_000 });
    const { json } = await postTask(stack.baseUrl, 'big-script', { n: 6 });
    const id = json.id as string;
    await eventually(async () => (await backend.store.getTask(id))?.status === 'done', 'the task done');
    assert.deepEqual(spy.replies.filter((r) => r.taskId === id).map((r) => r.type ?? 'result'), [STARTED_TYPE, 'result']);
    assert.equal(await (await fetch(`${stack.baseUrl}/task/${id}/script`)).text(), source);
  });

  test('a task still running when its start is due reports it, and shows running before it ends', async () => {
    const spy = replyRecorder(backend.broker);
    const held = gate('slow-start');
    worker = await startWorker({ broker: spy.broker, services: [held.definition], logger: testLogger, startReportAfterMs: 20 });
    const { json } = await postTask(stack.baseUrl, 'slow-start', { n: 2 });
    const id = json.id as string;
    await held.whenStarted(1);
    await eventually(async () => (await backend.store.getTask(id))?.status === 'running', 'the task running while held');
    assert.deepEqual((await eventsOf(id)).map((e) => e.type), ['queued', 'started']);
    assert.equal(held.finished.length, 0, 'still held: its start came from the report, not from its result');
    held.release();
    await eventually(async () => (await backend.store.getTask(id))?.status === 'done', 'the task done');
    assert.deepEqual(spy.replies.filter((r) => r.taskId === id).map((r) => r.type ?? 'result'), [STARTED_TYPE, 'result']);
    assert.deepEqual((await eventsOf(id)).map((e) => e.type), ['queued', 'started', 'done']);
  });

  test('a worker that stops while a task waits for its start report reports it at once and lets the task finish', async () => {
    const spy = replyRecorder(backend.broker);
    const held = gate('stopping-start');
    worker = await startWorker({ broker: spy.broker, services: [held.definition], logger: testLogger, startReportAfterMs: 600_000, stopGraceMs: 60_000 });
    const { json } = await postTask(stack.baseUrl, 'stopping-start', { n: 3 });
    const id = json.id as string;
    await held.whenStarted(1);
    const closing = worker.close();
    worker = undefined;
    // Not a ten-minute wait: the stop reports the start now, and the task runs on within the grace.
    await eventually(async () => (await backend.store.getTask(id))?.status === 'running', 'the start reported on stop');
    held.release();
    await closing;
    await eventually(async () => (await backend.store.getTask(id))?.status === 'done', 'the task done');
    assert.deepEqual(spy.replies.filter((r) => r.taskId === id).map((r) => r.type ?? 'result'), [STARTED_TYPE, 'result']);
  });

  test('a copy of a task whose first worker was lost before acknowledging it is recorded as a new attempt', async () => {
    // A first worker took the task and its start was recorded, then it died before its
    // acknowledgement reached the broker: the message is still queued, and the task running.
    const quick = service('copied-start', (input) => input, 2);
    // No worker runs the service yet: a server that queues for any name takes the task.
    const open = await startStack(backend, { recorder: false, nodeId: 7, settings: { allowUnknownServices: true } });
    const posted = await postTask(open.baseUrl, 'copied-start', { n: 5 }).finally(() => open.close());
    assert.equal(posted.response.status, 201, JSON.stringify(posted.json));
    const id = posted.json.id as string;
    await eventually(async () => (await backend.store.getTask(id))?.status === 'queued' && (await backend.broker.queueStats('copied-start'))?.messages === 1, 'the task queued');
    await backend.store.markStarted([{ id, worker: 'lost-worker', runId: 'lost-run' }]);
    // The copy goes to a live worker and ends before its start report is due.
    worker = await startWorker({ broker: backend.broker, services: [quick], logger: testLogger, startReportAfterMs: 60_000 });
    const task = await eventually(async () => { const t = await backend.store.getTask(id); return t?.status === 'done' && t; }, 'the copy done');
    assert.equal(task.attempts, 2);
    assert.equal(task.worker, worker.id);
    const events = await eventsOf(id);
    assert.deepEqual(events.map((e) => e.type), ['queued', 'started', 'retried', 'started', 'done']);
    assert.deepEqual(events[2]!.data, { attempt: 2, previousWorker: 'lost-worker' });
    assert.deepEqual(events[3]!.data, { worker: worker.id, attempt: 2 });
  });
});
