/**
 * Workers acknowledge a task when it starts, so a long task never holds a delivery (RabbitMQ's
 * consumer_timeout cannot close the channel under it, and a dropped connection does not run it
 * twice), and a worker that vanishes mid-task leaves its task to the janitor: queued again up to
 * the attempt limit, then failed `worker_lost`, every step an event watchers see.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RESULT_QUEUE, RUN_HEADER, STARTED_TYPE, WORKER_HEADER } from '../../src/core/index.ts';
import type { Broker, Subscription } from '../../src/broker/index.ts';
import { startJanitor } from '../../src/recorder/index.ts';
import type { Janitor } from '../../src/recorder/index.ts';
import { startWorker } from '../../src/worker/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, testLogger } from '../support/backends.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { echo, service } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

/**
 * How often the live workers here announce. The janitor takes a worker silent for three of these
 * for lost, so this is how long a stall of the busy test machine may last without a live worker
 * being judged lost (its task would then run twice): long against a stall, short against a test.
 */
const LIVE_ANNOUNCE_MS = 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A worker that takes every task of `queue`, reports its start as Errand's workers do
 * (acknowledging the delivery), then is never heard from again: it never announces, never
 * answers. Each task it takes is one lost attempt.
 */
async function vanishingWorker(broker: Broker, queue: string): Promise<{ taken: string[]; subscription: Subscription }> {
  const taken: string[] = [];
  await broker.declareQueue(queue);
  const subscription = await broker.consume(queue, async (delivery) => {
    const taskId = delivery.properties.correlationId!;
    taken.push(taskId);
    await broker.send(RESULT_QUEUE, Buffer.from(JSON.stringify({ worker: 'ghost' })), {
      correlationId: taskId, contentType: 'application/json', type: STARTED_TYPE,
      headers: { [RUN_HEADER]: `ghost-run-${taken.length}`, [WORKER_HEADER]: `ghost-${taken.length}` },
    });
    return 'ack';
  }, { prefetch: 1 });
  return { taken, subscription };
}

async function eventTypes(backend: Backend, taskId: string): Promise<string[]> {
  return (await backend.store.readEvents({ tasks: new Set([taskId]) }, 0, null, 1000)).map((e) => e.type);
}

await describeEachBackend('lost workers', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let janitor: Janitor;
  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { settings: { allowUnknownServices: true } });
    // Workers never heard from count as lost half a second after the janitor began listening.
    janitor = startJanitor({ store: backend.store, broker: backend.broker, logger: testLogger, maxAttempts: 3, lostCheckIntervalMs: 100, liveness: { unknownGraceMs: 500, goodbyeGraceMs: 500 } });
  });
  after(async () => {
    await janitor.stop();
    await stack.close();
    await backend.close();
  });

  test('a task whose worker vanishes each time is queued again up to the limit, then fails worker_lost; watchers see it', async () => {
    const ghost = await vanishingWorker(backend.broker, 'doomed');
    try {
      const { json } = await postTask(stack.baseUrl, 'doomed', { x: 1 });
      const updates = await watchUpdates(json._links.updates.href);
      assert.equal(updates.messages.at(-1)?.eventType, 'failed');
      const task = await backend.store.getTask(json.id);
      assert.equal(task?.status, 'failed');
      assert.equal(task?.error?.code, 'worker_lost');
      assert.equal(task?.attempts, 3);
      assert.deepEqual(ghost.taken, [json.id, json.id, json.id]);
      assert.equal(JSON.parse((await backend.store.getResult(json.id))!).status, 'failed');
      assert.deepEqual(await eventTypes(backend, json.id), [
        'queued', 'started', 'queued', 'retried', 'started', 'queued', 'retried', 'started', 'failed',
      ]);
    } finally {
      await ghost.subscription.close();
    }
  });

  test('a task whose worker vanished runs on a live worker, as attempt 2', async () => {
    const ghost = await vanishingWorker(backend.broker, 'rescued');
    const { json } = await postTask(stack.baseUrl, 'rescued', { y: 2 });
    await eventually(() => ghost.taken.length === 1, 'the vanishing worker to take the task');
    await ghost.subscription.close();
    const live = await startWorker({ broker: backend.broker, services: [echo('rescued', 1)], logger: testLogger, announceIntervalMs: LIVE_ANNOUNCE_MS });
    try {
      const updates = await watchUpdates(json._links.updates.href);
      assert.equal(updates.messages.at(-1)?.eventType, 'done');
      const task = await backend.store.getTask(json.id);
      assert.equal(task?.attempts, 2);
      assert.equal(task?.worker, live.id);
      assert.deepEqual(await (await fetch(`${json._links.self.href}/results`)).json(), { y: 2 });
    } finally {
      await live.close();
    }
  });

  test('a stopping worker lets a task run for its stop grace, then stops it without reporting; the task runs again elsewhere', async () => {
    const stopped: string[] = [];
    const leaving = await startWorker({
      broker: backend.broker, logger: testLogger, announceIntervalMs: LIVE_ANNOUNCE_MS, stopGraceMs: 300,
      services: [service('graceful', (_input, ctx) => new Promise((resolve) => {
        ctx.signal.addEventListener('abort', () => { stopped.push((ctx.signal.reason as { code: string }).code); resolve({ stopped: true }); });
      }))],
    });
    const { json } = await postTask(stack.baseUrl, 'graceful', { g: 1 });
    await eventually(async () => (await backend.store.getTask(json.id))?.worker === leaving.id, 'the task to start on the leaving worker');
    await leaving.close();
    assert.deepEqual(stopped, ['shutdown']);
    // Its run was stopped, not failed: no result went out, the task is still the janitor's to hand on.
    assert.equal((await backend.store.getTask(json.id))?.status, 'running');
    const next = await startWorker({ broker: backend.broker, services: [echo('graceful', 1)], logger: testLogger, announceIntervalMs: LIVE_ANNOUNCE_MS });
    try {
      const updates = await watchUpdates(json._links.updates.href);
      assert.equal(updates.messages.at(-1)?.eventType, 'done');
      const task = await backend.store.getTask(json.id);
      assert.equal(task?.worker, next.id);
      assert.equal(task?.attempts, 2);
    } finally {
      await next.close();
    }
  });

  test('a copy of a task reaching the worker still running it is not run again: the task is running under that worker once more', async () => {
    let runs = 0;
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    const live = await startWorker({
      broker: backend.broker, logger: testLogger, announceIntervalMs: LIVE_ANNOUNCE_MS,
      services: [service('adopted', async (input) => { runs++; await released; return input; })],
    });
    try {
      const { json } = await postTask(stack.baseUrl, 'adopted', { a: 1 });
      await eventually(async () => (await backend.store.getTask(json.id))?.status === 'running', 'the task to start');
      // What the janitor does when it takes a live worker for lost: queued again, and a copy sent.
      const running = (await backend.store.listRunning(null, 1000)).find((t) => t.id === json.id)!;
      await backend.store.requeueLost(running, 3, async (t) => {
        await backend.broker.send(t.service, Buffer.from(t.input), { correlationId: t.id, replyTo: RESULT_QUEUE, contentType: 'application/json' });
      });
      assert.equal((await backend.store.getTask(json.id))?.status, 'queued');
      await eventually(async () => (await backend.store.getTask(json.id))?.status === 'running', 'the worker to take the task back');
      assert.equal((await backend.broker.queueStats('adopted'))?.messages, 0);
      release();
      const updates = await watchUpdates(json._links.updates.href);
      assert.equal(updates.messages.at(-1)?.eventType, 'done');
      assert.equal(runs, 1);
      const task = await backend.store.getTask(json.id);
      assert.equal(task?.attempts, 1);
      assert.equal(task?.worker, live.id);
      assert.deepEqual(await eventTypes(backend, json.id), ['queued', 'started', 'queued', 'started', 'done']);
    } finally {
      release();
      await live.close();
    }
  });

  test('a delivery that finds every slot of its worker busy goes back after the slot wait and runs on a free worker', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    const busy = await startWorker({
      broker: backend.broker, logger: testLogger, announceIntervalMs: LIVE_ANNOUNCE_MS, slotWaitMs: 200,
      services: [service('crowded', async (input) => { await released; return input; }, 1)],
    });
    let free: Awaited<ReturnType<typeof startWorker>> | undefined;
    try {
      const first = await postTask(stack.baseUrl, 'crowded', { n: 1 });
      await eventually(async () => (await backend.store.getTask(first.json.id))?.status === 'running', 'the first task to take the only slot');
      // The second is acknowledged by nobody yet: the busy worker holds it, waiting for its slot.
      const second = await postTask(stack.baseUrl, 'crowded', { n: 2 });
      await eventually(async () => (await backend.broker.queueStats('crowded'))?.messages === 0, 'the busy worker to take the second delivery');
      free = await startWorker({ broker: backend.broker, services: [echo('crowded', 1)], logger: testLogger, announceIntervalMs: LIVE_ANNOUNCE_MS });
      const updates = await watchUpdates(second.json._links.updates.href);
      assert.equal(updates.messages.at(-1)?.eventType, 'done');
      const task = await backend.store.getTask(second.json.id);
      assert.equal(task?.worker, free.id);
      assert.equal(task?.attempts, 1);
    } finally {
      release();
      await free?.close();
      await busy.close();
    }
  });

  test('with --start-report-after 0, a start report the broker refuses hands the task back; it starts again and runs once', async () => {
    let refused = 0;
    let runs = 0;
    // The worker's broker refuses its first start report (say, a publish not confirmed).
    const flaky: Broker = Object.assign(Object.create(backend.broker) as Broker, {
      send: (queue: string, body: Buffer, options?: Parameters<Broker['send']>[2]) =>
        options?.type === STARTED_TYPE && refused++ === 0 ? Promise.reject(new Error('not confirmed')) : backend.broker.send(queue, body, options),
    });
    const worker = await startWorker({ broker: flaky, logger: testLogger, announceIntervalMs: LIVE_ANNOUNCE_MS, startReportAfterMs: 0, services: [service('refused-start', (input) => { runs++; return input; })] });
    try {
      const { json } = await postTask(stack.baseUrl, 'refused-start', { r: 1 });
      const updates = await watchUpdates(json._links.updates.href);
      assert.equal(updates.messages.at(-1)?.eventType, 'done');
      assert.equal(refused, 2, 'refused once, then accepted');
      assert.equal(runs, 1, 'not run before its start was reported');
      assert.equal((await backend.store.getTask(json.id))?.attempts, 1);
    } finally {
      await worker.close();
    }
  });

  test('a start report due mid-run that the broker refuses leaves the task running once: its delivery is held until its result', async () => {
    let refused = 0;
    let runs = 0;
    const flaky: Broker = Object.assign(Object.create(backend.broker) as Broker, {
      send: (queue: string, body: Buffer, options?: Parameters<Broker['send']>[2]) =>
        options?.type === STARTED_TYPE ? (refused++, Promise.reject(new Error('not confirmed'))) : backend.broker.send(queue, body, options),
    });
    const worker = await startWorker({
      broker: flaky, logger: testLogger, announceIntervalMs: LIVE_ANNOUNCE_MS, startReportAfterMs: 20,
      services: [service('refused-late-start', async (input) => { runs++; await sleep(300); return input; })],
    });
    try {
      const { json } = await postTask(stack.baseUrl, 'refused-late-start', { r: 2 });
      const updates = await watchUpdates(json._links.updates.href);
      assert.equal(updates.messages.at(-1)?.eventType, 'done');
      assert.equal(refused, 1, 'the start report was due and refused');
      assert.equal(runs, 1, 'never handed back: it ran once');
      assert.equal((await backend.store.getTask(json.id))?.attempts, 1);
      assert.deepEqual(await eventTypes(backend, json.id), ['queued', 'started', 'done']);
    } finally {
      await worker.close();
    }
  });

  test('a live worker running a task longer than three of its intervals is not judged lost: it keeps announcing', async () => {
    let runs = 0;
    let running!: () => void;
    const started = new Promise<void>((resolve) => { running = resolve; });
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    const live = await startWorker({
      broker: backend.broker, logger: testLogger, announceIntervalMs: LIVE_ANNOUNCE_MS,
      services: [service('steady', async (input) => { runs++; running(); await released; return input; })],
    });
    let heard = 0;
    const listening = await backend.broker.listen('services', (body) => {
      const message = JSON.parse(body.toString()) as { kind?: string; worker?: { id?: string } };
      if (message.kind === 'announce' && message.worker?.id === live.id) heard++;
    });
    try {
      const { json } = await postTask(stack.baseUrl, 'steady', { z: 3 });
      await started;
      // Four more announcements: the task has outlived three intervals since the last one before
      // it started, which is when a worker that stopped announcing would have been taken for lost.
      const before = heard;
      await eventually(() => heard >= before + 4, 'four announcements while the task runs', 60_000);
      release();
      const updates = await watchUpdates(json._links.updates.href);
      assert.equal(updates.messages.at(-1)?.eventType, 'done');
      assert.equal(runs, 1);
      assert.equal((await backend.store.getTask(json.id))?.attempts, 1);
      assert.deepEqual(await eventTypes(backend, json.id), ['queued', 'started', 'done']);
    } finally {
      release();
      await listening.close();
      await live.close();
    }
  });
});
