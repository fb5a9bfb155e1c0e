/**
 * Queue deadlines as a client sees them: `?deadline=` on a submission, the service's
 * `queueTimeout`, the server's `defaultQueueTimeout`. A task still queued at its deadline ends
 * `expired` (by the janitor), is never run (the worker also skips a message whose deadline has
 * passed), and its watchers are told; a task that started in time is left alone.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { startJanitor } from '../../src/recorder/index.ts';
import type { Janitor } from '../../src/recorder/index.ts';
import type { Backend } from '../support/backends.ts';
import { countTasks, describeEachBackend, testLogger } from '../support/backends.ts';
import type { UpdateMessage } from '../support/http.ts';
import { gate } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

// --- helpers: a client's view -------------------------------------------------------------

async function call(method: string, url: string): Promise<{ status: number; json: any }> {
  const response = await fetch(url, { method });
  const text = await response.text();
  return { status: response.status, json: text === '' ? undefined : JSON.parse(text) };
}

async function post(baseUrl: string, service: string, input: unknown, deadline?: string): Promise<{ status: number; json: any }> {
  const query = new URLSearchParams({ service, ...(deadline !== undefined ? { deadline } : {}) });
  const response = await fetch(`${baseUrl}/task?${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(input) });
  return { status: response.status, json: await response.json() };
}

/** Submits and returns the task description, with the time window the request was made in. */
async function submit(baseUrl: string, service: string, input: unknown, deadline?: string): Promise<Record<string, any> & { sentAt: number; answeredAt: number }> {
  const sentAt = Date.now();
  const { status, json } = await post(baseUrl, service, input, deadline);
  assert.equal(status, 201, JSON.stringify(json));
  return { ...json, sentAt, answeredAt: Date.now() };
}

/** The deadline the server gave a task lies `ms` after some moment of its request. */
function assertDeadlineAbout(task: { deadline?: string; sentAt: number; answeredAt: number }, ms: number): void {
  assert.ok(task.deadline, 'the task shows no deadline');
  const at = Date.parse(task.deadline);
  assert.ok(at >= task.sentAt + ms - 5 && at <= task.answeredAt + ms + 5, `deadline ${task.deadline} is not ${ms} ms after the request`);
}

async function describeTask(baseUrl: string, id: string): Promise<Record<string, any>> {
  return (await call('GET', `${baseUrl}/task/${id}`)).json as Record<string, any>;
}

async function statusOf(baseUrl: string, id: string): Promise<string> {
  return (await describeTask(baseUrl, id)).status as string;
}

/** The types of a task's events in the log, once the one expected last is there. */
async function eventTypes(backend: Backend, id: string, last: string): Promise<string[]> {
  const read = async (): Promise<string[]> => (await backend.store.readEvents({ tasks: new Set([id]) }, 0, null, 100)).map((e) => e.type);
  await eventually(async () => (await read()).includes(last), `a ${last} event of task ${id} in the log`);
  return read();
}

/** Patavi's updates socket: every message, and how it closed. */
function watchPatavi(url: string): { messages: UpdateMessage[]; closed: Promise<number> } {
  const socket = new WebSocket(url);
  const messages: UpdateMessage[] = [];
  const closed = new Promise<number>((resolve, reject) => {
    socket.on('message', (data) => messages.push(JSON.parse(data.toString()) as UpdateMessage));
    socket.on('close', (code) => resolve(code));
    socket.on('error', reject);
  });
  return { messages, closed };
}

/** `GET /task/:id/events` as server-sent events, until the server ends the stream. */
async function readSse(url: string): Promise<Array<{ type: string; data: any }>> {
  const response = await fetch(url, { headers: { accept: 'text/event-stream' } });
  assert.equal(response.status, 200, `GET ${url} answered ${response.status}`);
  const events: Array<{ type: string; data: any }> = [];
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of response.body!) {
    text += decoder.decode(chunk as Uint8Array, { stream: true });
    for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
      const block = text.slice(0, end).split('\n');
      text = text.slice(end + 2);
      const type = block.find((line) => line.startsWith('event: '))?.slice(7);
      const data = block.find((line) => line.startsWith('data: '))?.slice(6);
      if (type !== undefined) events.push({ type, data: JSON.parse(data ?? 'null') });
    }
  }
  return events;
}

/** The test gate, taking one task at a time: a second task waits in the queue. */
function oneAtATime(name: string, queueTimeout: string | null = null) {
  const g = gate(name);
  const manifest = { ...g.definition.manifest, concurrency: 1, queueTimeout };
  return { ...g, definition: { ...g.definition, concurrency: 1, manifest } };
}

/** Resolves once the wall clock is past `iso` (a deadline is a time, so this waits on time itself). */
function pastDeadline(iso: string): Promise<boolean> {
  return eventually(() => Date.now() > Date.parse(iso) + 20, `the deadline ${iso} to pass`);
}

// --- the tests ------------------------------------------------------------------------------

await describeEachBackend('queue deadlines', (kind) => {
  let backend: Backend;
  let stack: Stack;
  const busy = oneAtATime('expiry-busy');
  const patient = oneAtATime('expiry-patient', 'PT1S');
  const prompt = oneAtATime('expiry-prompt');
  const skipper = oneAtATime('expiry-skipper');
  const janitors: Janitor[] = [];
  const janitor = (expiryIntervalMs: number): Janitor => {
    const j = startJanitor({ store: backend.store, broker: backend.broker, logger: testLogger, expiryIntervalMs });
    janitors.push(j);
    return j;
  };

  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, {
      services: [busy.definition, patient.definition, prompt.definition, skipper.definition],
      settings: { allowUnknownServices: true },
    });
  });
  after(async () => {
    [busy, patient, prompt, skipper].forEach((g) => g.release());
    await Promise.all(janitors.splice(0).map((j) => j.stop()));
    await stack.close();
    await backend.close();
  });

  test('a task still queued at its deadline expires, is never run, and its watchers are told', async () => {
    const a = await submit(stack.baseUrl, 'expiry-busy', { n: 'a' });
    await busy.whenStarted(1);
    const b = await submit(stack.baseUrl, 'expiry-busy', { n: 'b' }, 'PT1S');
    assert.equal(b.status, 'queued');
    assertDeadlineAbout(b, 1000);
    const patavi = watchPatavi(b._links.updates.href);
    const sse = readSse(b._links.events.href);

    const j = janitor(100);
    try {
      await eventually(async () => (await statusOf(stack.baseUrl, b.id)) === 'expired', 'task B to expire');
    } finally {
      await j.stop();
    }
    const expired = await describeTask(stack.baseUrl, b.id);
    assert.equal(expired.status, 'expired');
    assert.equal(expired.error.code, 'expired');
    assert.match(expired.error.message, /still queued at its deadline/);
    assert.equal(expired.deadline, b.deadline, 'the deadline shown is the one given at submission');
    assert.equal(expired.startedAt, undefined);
    assert.ok(Date.parse(expired.completedAt) >= Date.parse(b.deadline), `expired at ${expired.completedAt}, before its deadline ${b.deadline}`);
    assert.equal(expired._links.cancel, undefined);
    assert.equal((await call('GET', expired._links.results.href)).json.status, 'failed', 'Patavi clients read an expired task as failed');

    assert.equal(await patavi.closed, 1000);
    assert.deepEqual(patavi.messages.map((m) => m.eventType), ['failed']);
    const streamed = await sse;
    assert.deepEqual(streamed.map((e) => e.type), ['queued', 'expired']);
    assert.equal(streamed[0]!.data.data.deadline, b.deadline);
    assert.equal(streamed[1]!.data.data.error.code, 'expired');

    busy.release();
    await eventually(async () => (await statusOf(stack.baseUrl, a.id)) === 'done', 'task A to finish');
    // Submitted after B, run after B's message has left the queue (one at a time, in order).
    const c = await submit(stack.baseUrl, 'expiry-busy', { n: 'c' });
    await eventually(async () => (await statusOf(stack.baseUrl, c.id)) === 'done', 'task C to finish');
    assert.deepEqual(busy.started, [a.id, c.id], 'the expired task reached the service');
    assert.equal((await backend.broker.queueStats('expiry-busy'))?.messages, 0);
    assert.equal(await statusOf(stack.baseUrl, b.id), 'expired');
    assert.deepEqual(await eventTypes(backend, b.id, 'expired'), ['queued', 'expired']);
  });

  test("the service's queueTimeout applies when the request gives no deadline; a request's deadline wins; then the server's default", async () => {
    const a = await submit(stack.baseUrl, 'expiry-patient', { n: 'a' });
    await patient.whenStarted(1);
    const b = await submit(stack.baseUrl, 'expiry-patient', { n: 'b' });
    assertDeadlineAbout(b, 1000);
    const c = await submit(stack.baseUrl, 'expiry-patient', { n: 'c' }, 'PT1H');
    assertDeadlineAbout(c, 3600_000);
    assert.equal((await describeTask(stack.baseUrl, b.id)).deadline, b.deadline);

    const j = janitor(100);
    try {
      await eventually(async () => (await statusOf(stack.baseUrl, b.id)) === 'expired', 'task B to expire by its service\'s queueTimeout');
      await j.expire();
    } finally {
      await j.stop();
    }
    assert.equal(await statusOf(stack.baseUrl, c.id), 'queued', 'the request\'s longer deadline did not win');

    patient.release();
    for (const task of [a, c]) await eventually(async () => (await statusOf(stack.baseUrl, task.id)) === 'done', `task ${task.id} to finish`);
    assert.deepEqual(patient.started, [a.id, c.id]);

    // A server with a default: a service's queueTimeout still wins, a request's deadline wins over both.
    const other = await startStack(backend, { settings: { allowUnknownServices: true, defaultQueueTimeout: 'PT10M' }, recorder: false });
    try {
      assertDeadlineAbout(await submit(other.baseUrl, 'expiry-patient', { n: 'd' }), 1000);
      assertDeadlineAbout(await submit(other.baseUrl, 'expiry-unserved', { n: 'e' }), 600_000);
      assertDeadlineAbout(await submit(other.baseUrl, 'expiry-unserved', { n: 'f' }, 'PT2H'), 7200_000);
      const none = await submit(stack.baseUrl, 'expiry-unserved', { n: 'g' });
      assert.equal(none.deadline, undefined, 'a task got a deadline from nowhere');
      assert.equal((await describeTask(stack.baseUrl, none.id)).deadline, undefined);
    } finally {
      await other.close();
    }
  });

  test('a task that starts before its deadline is not expired, however long it runs', async () => {
    // Its worker is idle, but it must take the task before the deadline: far longer than that
    // takes on a busy machine, or the worker would rightly skip it.
    const task = await submit(stack.baseUrl, 'expiry-prompt', { n: 1 }, 'PT3S');
    await prompt.whenStarted(1);
    await eventually(async () => (await statusOf(stack.baseUrl, task.id)) === 'running', 'the task to be recorded as running');
    await pastDeadline(task.deadline);
    const j = janitor(60_000);
    try {
      await j.expire();
    } finally {
      await j.stop();
    }
    assert.equal(await statusOf(stack.baseUrl, task.id), 'running');
    prompt.release();
    await eventually(async () => (await statusOf(stack.baseUrl, task.id)) === 'done', 'the task to finish');
    assert.deepEqual((await call('GET', `${stack.baseUrl}/task/${task.id}/results`)).json, { n: 1 });
    const types = await eventTypes(backend, task.id, 'done');
    assert.deepEqual([types[0], types[1], types.at(-1)], ['queued', 'started', 'done']);
    assert.ok(!types.includes('expired'));
  });

  test('a bad deadline is refused with 400 invalid_deadline, and nothing is written or queued', async () => {
    const before = await countTasks(backend);
    const past = new Date(Date.now() - 60_000).toISOString();
    for (const deadline of ['soon', 'PT0S', 'P0D', '2001-01-01T00:00:00Z', past, '2030-13-45T99:00:00Z', '-PT1S']) {
      const { status, json } = await post(stack.baseUrl, 'expiry-refused', { n: 1 }, deadline);
      assert.equal(status, 400, `${deadline}: ${JSON.stringify(json)}`);
      assert.equal(json.error.code, 'invalid_deadline', deadline);
      assert.equal(json.error.field, 'deadline', deadline);
      assert.equal(typeof json.error.message, 'string');
    }
    assert.equal(await countTasks(backend), before, 'a refused task was written');
    assert.equal((await backend.broker.queueStats('expiry-refused'))?.messages ?? 0, 0, 'a refused task was queued');
  });

  test("a worker skips a message whose deadline has passed, before any janitor has run", async () => {
    const a = await submit(stack.baseUrl, 'expiry-skipper', { n: 'a' });
    await skipper.whenStarted(1);
    const b = await submit(stack.baseUrl, 'expiry-skipper', { n: 'b' }, 'PT1S');
    await pastDeadline(b.deadline);
    // No janitor runs: the database still says queued, and the worker has heard of no cancel.
    assert.equal(await statusOf(stack.baseUrl, b.id), 'queued');
    skipper.release();
    await eventually(async () => (await statusOf(stack.baseUrl, a.id)) === 'done', 'task A to finish');
    const c = await submit(stack.baseUrl, 'expiry-skipper', { n: 'c' });
    await eventually(async () => (await statusOf(stack.baseUrl, c.id)) === 'done', 'task C to finish');
    assert.deepEqual(skipper.started, [a.id, c.id], 'the task past its deadline reached the service');
    assert.equal((await backend.broker.queueStats('expiry-skipper'))?.messages, 0);
    assert.equal(await statusOf(stack.baseUrl, b.id), 'queued', 'something ended the task before the janitor ran');

    // The janitor then ends it as expired.
    const j = janitor(60_000);
    try {
      assert.ok((await j.expire()) >= 1);
    } finally {
      await j.stop();
    }
    assert.equal(await statusOf(stack.baseUrl, b.id), 'expired');
    assert.deepEqual(await eventTypes(backend, b.id, 'expired'), ['queued', 'expired']);
  });
});
