/**
 * Canceling a task as a client does it: `POST /task/:id/cancel` and Patavi's `DELETE /task/:id`.
 * A queued task never runs (not even on a worker that starts after the cancel); a running one is
 * stopped whatever its runtime (Node, command, R), and every watcher hears it. The programs run
 * until they are stopped, so that they end at all shows the cancel; no test times the machine.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { inlineManifest } from '../../src/core/index.ts';
import type { EventJson } from '../../src/core/index.ts';
import { createCommandExecutor, loadServiceDir, startWorker } from '../../src/worker/index.ts';
import type { RExecutor, ServiceDefinition, Worker } from '../../src/worker/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, testLogger } from '../support/backends.ts';
import type { UpdateMessage } from '../support/http.ts';
import { rUnavailable } from '../support/r.ts';
import { gate, service } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const COMMANDS = fileURLToPath(new URL('../fixtures/commands/', import.meta.url));
const R_SERVICES = fileURLToPath(new URL('../fixtures/r-cancel/', import.meta.url));
const noR = await rUnavailable();
const skipR = noR !== undefined && process.env.CI !== 'true' ? noR : false;

// --- helpers: a client's view -------------------------------------------------------------

async function call(method: string, url: string, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const response = await fetch(url, { method, headers });
  const text = await response.text();
  return { status: response.status, json: text === '' ? undefined : JSON.parse(text) };
}

/** Every task submitted and every process seen, so that a failed test leaves nothing running behind it. */
const submitted: string[] = [];
const processes: Array<{ pid: number; command: string | undefined }> = [];

const commandOf = (pid: number): string | undefined => {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { return undefined; }
};

function remember(pids: number[]): void {
  processes.push(...pids.map((pid) => ({ pid, command: commandOf(pid) })));
}

/** After a failure: stops what still runs here, so that closing the worker does not wait for it. */
function stopLeftovers(worker: Worker | undefined): void {
  for (const id of submitted.splice(0)) worker?.cancel(id);
  // Only a process still running the same command: never another that came to hold the pid.
  for (const { pid, command } of processes.splice(0)) if (alive(pid) && command !== undefined && commandOf(pid) === command) process.kill(pid, 'SIGKILL');
}

async function submit(baseUrl: string, service: string, input: unknown, headers: Record<string, string> = {}): Promise<Record<string, any>> {
  const response = await fetch(`${baseUrl}/task?service=${service}`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(input),
  });
  const json = (await response.json()) as Record<string, any>;
  assert.equal(response.status, 201, JSON.stringify(json));
  submitted.push(json.id as string);
  return json;
}

async function statusOf(baseUrl: string, id: string, headers: Record<string, string> = {}): Promise<string> {
  return (await call('GET', `${baseUrl}/task/${id}`, headers)).json.status as string;
}

/** The types of a task's events in the log, once the one expected last is there. */
async function eventTypes(backend: Backend, id: string, last: string): Promise<string[]> {
  const read = async (): Promise<string[]> => (await backend.store.readEvents({ tasks: new Set([id]) }, 0, null, 100)).map((e) => e.type);
  await eventually(async () => (await read()).includes(last), `a ${last} event of task ${id} in the log`);
  return read();
}

/**
 * Whether the process still runs. A killed child whose parent died is reparented to pid 1, which
 * may take its time to reap it; until then it is a zombie: dead, though `kill(pid, 0)` succeeds.
 */
function alive(pid: number): boolean {
  try { process.kill(pid, 0); } catch { return false; }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return !existsSync('/proc/self'); // no entry in /proc: gone; no /proc at all: kill(pid, 0) said it runs
  }
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

interface SseEvent { type: string; data: any }

/** `GET /task/:id/events` read as server-sent events; `ended` resolves when the server ends the stream. */
function readSse(url: string): { events: SseEvent[]; ended: Promise<SseEvent[]> } {
  const events: SseEvent[] = [];
  const ended = (async () => {
    const response = await fetch(url, { headers: { accept: 'text/event-stream' } });
    assert.equal(response.status, 200, `GET ${url} answered ${response.status}`);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of response.body!) {
      text += decoder.decode(chunk as Uint8Array, { stream: true });
      for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
        const block = text.slice(0, end);
        text = text.slice(end + 2);
        const field = (name: string) => block.split('\n').find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2);
        const type = field('event');
        if (type !== undefined) events.push({ type, data: JSON.parse(field('data') ?? 'null') });
      }
    }
    return events;
  })();
  ended.catch(() => undefined); // awaited (and its failure reported) by the test
  return { events, ended };
}

/** One `WS /events` subscription to a task's events, from its first. */
function subscribeToTask(baseUrl: string, taskId: string): { events: EventJson[]; close(): void } {
  const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/events`);
  const events: EventJson[] = [];
  socket.on('open', () => socket.send(JSON.stringify({ type: 'subscribe', subscription: 'task', filter: { tasks: [taskId] }, since: 0 })));
  socket.on('message', (raw) => {
    const message = JSON.parse(raw.toString()) as { type: string; event?: EventJson };
    if (message.type === 'event') events.push(message.event!);
  });
  socket.on('error', () => undefined);
  return { events, close: () => socket.close() };
}

/** All three watchers of a task, opened while it runs and confirmed listening (each has seen progress). */
async function watchRunning(baseUrl: string, task: Record<string, any>) {
  const patavi = watchPatavi(task._links.updates.href);
  const sse = readSse(task._links.events.href);
  const socket = subscribeToTask(baseUrl, task.id);
  await eventually(() => patavi.messages.some((m) => m.eventType === 'progress'), 'progress on the updates socket');
  await eventually(() => sse.events.some((e) => e.type === 'progress'), 'progress on the SSE stream');
  await eventually(() => socket.events.some((e) => e.type === 'progress'), 'progress on the events socket');
  return { patavi, sse, socket };
}

/** Every watcher heard the end: Patavi's socket as `failed` (then closed), the event streams as `canceled`. */
async function assertToldCanceled(watchers: Awaited<ReturnType<typeof watchRunning>>): Promise<void> {
  assert.equal(await watchers.patavi.closed, 1000);
  assert.equal(watchers.patavi.messages.at(-1)!.eventType, 'failed');
  assert.ok(watchers.patavi.messages.slice(0, -1).every((m) => m.eventType === 'progress'), JSON.stringify(watchers.patavi.messages.map((m) => m.eventType)));
  const sse = await watchers.sse.ended;
  assert.equal(sse.at(-1)!.type, 'canceled');
  assert.equal(sse.at(-1)!.data.data.error.code, 'canceled');
  await eventually(() => watchers.socket.events.some((e) => e.type === 'canceled'), 'canceled on the events socket');
  watchers.socket.close();
}

/** The test gate, taking one task at a time: a second task waits in the queue. */
function oneAtATime(name: string) {
  const g = gate(name);
  return { ...g, definition: { ...g.definition, concurrency: 1, manifest: { ...g.definition.manifest, concurrency: 1 } } };
}

/** A Node service that runs until its signal says stop, reporting progress meanwhile. */
function untilStopped(name: string) {
  const stopped = new Set<string>();
  const definition = service(name, (_input, ctx) => new Promise((_resolve, reject) => {
    let n = 0;
    const timer = setInterval(() => ctx.progress({ progress: ++n }), 50);
    ctx.signal.addEventListener('abort', () => { clearInterval(timer); stopped.add(ctx.taskId); reject(new Error('stopped')); }, { once: true });
  }), 1);
  return { definition, stopped };
}

/** The ticker.sh fixture: a program and the child it started, both recorded in `pidFile`. */
function ticker(name: string, pidFile: string): ServiceDefinition {
  const manifest = inlineManifest(name, { runtime: 'command', command: ['./ticker.sh', pidFile], concurrency: 1 });
  return { manifest, name, concurrency: 1, executor: createCommandExecutor({ manifest, folder: COMMANDS, logger: testLogger }), docs: null };
}

async function pidsIn(file: string): Promise<number[]> {
  const text = await eventually(() => readFile(file, 'utf8').catch(() => undefined), `the program to write ${file}`);
  const pids = text.trim().split(' ').map(Number);
  remember(pids);
  return pids;
}

// --- the tests ------------------------------------------------------------------------------

await describeEachBackend('canceling tasks', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let scratch: string;
  const held = oneAtATime('cancel-held');
  const node = untilStopped('cancel-node');
  let cancelPids: string;
  let deletePids: string;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'errand-cancel-test-'));
    cancelPids = join(scratch, 'cancel.pids');
    deletePids = join(scratch, 'delete.pids');
    backend = await kind.create();
    stack = await startStack(backend, {
      services: [held.definition, node.definition, ticker('cancel-command', cancelPids), ticker('delete-command', deletePids)],
      settings: { allowUnknownServices: true },
    });
  });
  after(async () => {
    held.release();
    stopLeftovers(stack.worker);
    await stack.close();
    await backend.close();
    await rm(scratch, { recursive: true, force: true });
  });

  test('a queued task that is canceled never runs; its status stays canceled; a second cancel is refused', async () => {
    const a = await submit(stack.baseUrl, 'cancel-held', { n: 'a' });
    await held.whenStarted(1);
    const b = await submit(stack.baseUrl, 'cancel-held', { n: 'b' });
    assert.equal(await statusOf(stack.baseUrl, b.id), 'queued');

    const canceled = await call('POST', b._links.cancel.href);
    assert.equal(canceled.status, 200, JSON.stringify(canceled.json));
    assert.equal(canceled.json.id, b.id);
    assert.equal(canceled.json.status, 'canceled');
    assert.deepEqual(canceled.json.error, { code: 'canceled', message: 'the task was canceled' });
    assert.equal(canceled.json._links.cancel, undefined, 'an ended task offers no cancel');
    assert.ok(canceled.json.completedAt);
    assert.equal(canceled.json.startedAt, undefined);

    held.release();
    await eventually(async () => (await statusOf(stack.baseUrl, a.id)) === 'done', 'task A to finish');
    // A task submitted after B runs after B's message was taken off the queue (one at a time, in order).
    const c = await submit(stack.baseUrl, 'cancel-held', { n: 'c' });
    await eventually(async () => (await statusOf(stack.baseUrl, c.id)) === 'done', 'task C to finish');
    assert.deepEqual(held.started, [a.id, c.id], 'the canceled task reached the service');
    assert.equal((await backend.broker.queueStats('cancel-held'))?.messages, 0);

    const after = await call('GET', b._links.self.href);
    assert.equal(after.json.status, 'canceled');
    assert.equal(after.json.error.code, 'canceled');
    assert.deepEqual(await eventTypes(backend, b.id, 'canceled'), ['queued', 'canceled']);
    const results = await call('GET', `${b._links.self.href}/results`);
    assert.equal(results.status, 200);
    assert.equal(results.json.status, 'failed', 'Patavi clients read a canceled task as failed');

    const again = await call('POST', b._links.cancel.href);
    assert.equal(again.status, 409);
    assert.equal(again.json.error.code, 'task_ended');
    const done = await call('POST', `${a._links.self.href}/cancel`);
    assert.equal(done.status, 409, 'a finished task cannot be canceled either');
    assert.equal(done.json.error.code, 'task_ended');
    assert.equal(await statusOf(stack.baseUrl, a.id), 'done');
  });

  test('a worker that starts after the cancel never runs the task', async () => {
    const seen: string[] = [];
    const late = service('cancel-late', (input, ctx) => { seen.push(ctx.taskId); return input; }, 1);
    // No worker serves the service yet: the tasks wait in its queue.
    const canceledTask = await submit(stack.baseUrl, 'cancel-late', { n: 1 });
    assert.equal(canceledTask.status, 'no-workers');
    const keptTask = await submit(stack.baseUrl, 'cancel-late', { n: 2 });
    const response = await call('POST', canceledTask._links.cancel.href);
    assert.equal(response.status, 200);
    assert.equal(response.json.status, 'canceled');
    await eventually(async () => (await backend.broker.queueStats('cancel-late'))?.messages === 2, 'both messages to wait in the queue');

    // Another process's worker, on a connection of its own.
    let worker: Worker | undefined;
    try {
      worker = await startWorker({ broker: await backend.connectBroker(), services: [late], logger: testLogger });
      const laterTask = await submit(stack.baseUrl, 'cancel-late', { n: 3 });
      for (const task of [keptTask, laterTask]) {
        await eventually(async () => (await statusOf(stack.baseUrl, task.id)) === 'done', `task ${task.id} to finish`);
      }
      assert.deepEqual(seen, [keptTask.id, laterTask.id], 'the canceled task reached the service');
      assert.equal((await backend.broker.queueStats('cancel-late'))?.messages, 0, 'the canceled task was left in the queue');
      assert.equal(await statusOf(stack.baseUrl, canceledTask.id), 'canceled');
      assert.deepEqual(await eventTypes(backend, canceledTask.id, 'canceled'), ['queued', 'canceled']);
    } finally {
      await worker?.close();
    }
  });

  test('a running Node task is stopped on its cancel, and every watcher is told', async () => {
    const task = await submit(stack.baseUrl, 'cancel-node', {});
    const watchers = await watchRunning(stack.baseUrl, task);
    assert.equal(await statusOf(stack.baseUrl, task.id), 'running');

    const response = await call('POST', task._links.cancel.href);
    assert.equal(response.status, 200);
    assert.equal(response.json.status, 'canceled');
    assert.equal(response.json.error.code, 'canceled');
    await eventually(() => node.stopped.has(task.id), 'the service to be told to stop');

    await assertToldCanceled(watchers);
    assert.equal(await statusOf(stack.baseUrl, task.id), 'canceled');
    const types = await eventTypes(backend, task.id, 'canceled');
    assert.deepEqual(types.slice(0, 2), ['queued', 'started']);
    assert.equal(types.at(-1), 'canceled');
    assert.equal(types.filter((t) => t === 'failed' || t === 'done').length, 0, types.join());
  });

  test('a running command is stopped on its cancel, with the process it started', async () => {
    const task = await submit(stack.baseUrl, 'cancel-command', {});
    const watchers = await watchRunning(stack.baseUrl, task);
    const [program, child] = (await pidsIn(cancelPids)) as [number, number];
    assert.ok(alive(program) && alive(child));

    const response = await call('POST', task._links.cancel.href);
    assert.equal(response.status, 200);
    assert.equal(response.json.status, 'canceled');
    await eventually(() => !alive(program) && !alive(child), 'the program and its child to be gone');

    await assertToldCanceled(watchers);
    assert.equal(await statusOf(stack.baseUrl, task.id), 'canceled');
    assert.equal((await eventTypes(backend, task.id, 'canceled')).at(-1), 'canceled');
  });

  test('DELETE of a running task stops it, tells its watchers, then removes it', async () => {
    const task = await submit(stack.baseUrl, 'delete-command', {});
    const watchers = await watchRunning(stack.baseUrl, task);
    const [program, child] = (await pidsIn(deletePids)) as [number, number];
    assert.ok(alive(program) && alive(child));

    const response = await call('DELETE', task._links.self.href);
    assert.equal(response.status, 200);
    await eventually(() => !alive(program) && !alive(child), 'the program and its child to be gone');

    await assertToldCanceled(watchers);
    assert.equal((await call('GET', task._links.self.href)).status, 404);
    assert.equal((await call('GET', task._links.events.href)).status, 404);
    assert.equal((await call('DELETE', task._links.self.href)).status, 404);
    const types = await eventTypes(backend, task.id, 'deleted');
    assert.deepEqual(types.slice(-2), ['canceled', 'deleted']);
  });

  test('cancel is a write route: it needs the API key when one is set; unknown ids are 404, malformed ones 400', async () => {
    const keyed = await startStack(backend, { settings: { apiKey: 'open-sesame', allowUnknownServices: true }, recorder: false });
    try {
      const key = { 'x-api-key': 'open-sesame' };
      const task = await submit(keyed.baseUrl, 'cancel-keyed', {}, key);
      const url = `${keyed.baseUrl}/task/${task.id}/cancel`;

      for (const [headers, field] of [[{}, 'authorization'], [{ 'x-api-key': 'wrong' }, 'x-api-key']] as Array<[Record<string, string>, string]>) {
        const refused = await call('POST', url, headers);
        assert.equal(refused.status, 401);
        assert.equal(refused.json.error.code, 'unauthorized');
        assert.equal(refused.json.error.field, field);
      }
      assert.equal((await call('DELETE', `${keyed.baseUrl}/task/${task.id}`)).status, 401);
      assert.equal(await statusOf(keyed.baseUrl, task.id, key), 'queued', 'a refused cancel changed the task');
      assert.deepEqual(await eventTypes(backend, task.id, 'queued'), ['queued']);

      const accepted = await call('POST', url, key);
      assert.equal(accepted.status, 200);
      assert.equal(accepted.json.status, 'canceled');

      const unknown = await call('POST', `${keyed.baseUrl}/task/0123456789abcdef/cancel`, key);
      assert.equal(unknown.status, 404);
      assert.equal(unknown.json.error.code, 'not_found');
      for (const bad of ['not-an-id', '0123456789ABCDEF', '0123456789abcde']) {
        const malformed = await call('POST', `${keyed.baseUrl}/task/${bad}/cancel`, key);
        assert.equal(malformed.status, 400, bad);
        assert.equal(malformed.json.error.code, 'invalid_id', bad);
      }
    } finally {
      await keyed.close();
    }
  });
});

await describeEachBackend('canceling a running R task', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let executor: RExecutor;

  before(async () => {
    if (skipR) return;
    backend = await kind.create();
    const { services, problems } = await loadServiceDir(R_SERVICES, { defaultConcurrency: 1, logger: testLogger });
    assert.deepEqual(problems, []);
    executor = services.find((s) => s.name === 'spinner')!.executor as RExecutor;
    stack = await startStack(backend, { services });
  });
  after(async () => {
    if (skipR) return;
    stopLeftovers(stack.worker);
    await stack.close();
    await backend.close();
  });

  test('a running R task is stopped on its cancel: its R process is gone, and every watcher is told', { skip: skipR }, async () => {
    const task = await submit(stack.baseUrl, 'spinner', {});
    const watchers = await watchRunning(stack.baseUrl, task);
    const pids = executor.pids();
    remember(pids);
    assert.equal(pids.length, 1, `one warm R process, running the task: ${pids.join()}`);

    const response = await call('POST', task._links.cancel.href);
    assert.equal(response.status, 200);
    assert.equal(response.json.status, 'canceled');
    await eventually(() => pids.every((pid) => !alive(pid)), 'the R process to be gone');

    await assertToldCanceled(watchers);
    assert.equal(await statusOf(stack.baseUrl, task.id), 'canceled');
    assert.equal((await eventTypes(backend, task.id, 'canceled')).at(-1), 'canceled');
  });
});
