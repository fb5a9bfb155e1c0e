/**
 * The typed client (`errand/client`, issue 15) against a real stack on both backends: what a
 * program calling Errand sees. Submits, watches, waits, lists, cancels, deletes, reads results and
 * files; errors arrive typed with Errand's codes; a watch whose connection is cut mid-task resumes
 * with nothing missed or repeated; a task link reads its task with no other credential.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createClient, ErrandApiError, ErrandConnectionError, EVENT_TYPES, JsonText } from '../../src/client/index.ts';
import { EventTypes } from '../../src/core/index.ts';
import type { ErrandClient, TaskEvent } from '../../src/client/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';
import { createKeys, hold } from '../support/access.ts';
import { echo, gate, steps } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import type { TcpProxy } from '../support/tcp-proxy.ts';
import { freePort } from '../support/processes.ts';

const collect = async <T>(items: AsyncIterable<T>): Promise<T[]> => {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
};

test('the client knows the same event types as the server', () => {
  assert.deepEqual([...EVENT_TYPES], [...EventTypes]);
});

await describeEachBackend('errand/client', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let client: ErrandClient;
  const held = gate('held');

  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { services: [echo(), steps(), held.definition, hold()] });
    client = createClient({ url: stack.baseUrl, clientName: 'sdk-test' });
  });
  after(async () => {
    held.release();
    await stack?.close();
    await backend?.close();
  });

  test('submit, watch to the end, wait and read the result: every event once, in order, ending at the terminal one', async () => {
    // Progress 150 ms apart: more than the worker's 100 ms coalescing, so each report is an event.
    const task = await client.submit('steps', { pauseMs: 150 });
    assert.match(task.id, /^[0-9a-f]{16}$/);
    assert.equal(task.service, 'steps');
    const events = await collect(client.watch(task.id));
    assert.deepEqual(events.map((e) => e.type), ['queued', 'started', 'progress', 'progress', 'progress', 'done']);
    assert.deepEqual(events.map((e) => (e.data as { percent?: number }).percent).filter((p) => p !== undefined), [10, 50, 90]);
    assert.ok(events.every((e, i) => i === 0 || e.id > events[i - 1]!.id), 'ids grow');
    assert.ok(events.every((e) => e.taskId === task.id));
    const ended = await client.wait(task.id);
    assert.equal(ended.status, 'done');
    assert.deepEqual(await client.results(task.id), { ok: true, input: { pauseMs: 150 } });
    // Watching after the end replays the task, and watching from its last event ends at once.
    assert.deepEqual((await collect(client.watch(task.id))).map((e) => e.id), events.map((e) => e.id));
    assert.deepEqual(await collect(client.watch(task.id, { since: events.at(-1)!.id })), []);
  });

  test('wait hands each event to onEvent and answers the ended task', async () => {
    const task = await client.submit('steps', { pauseMs: 10 });
    const seen: string[] = [];
    const ended = await client.wait(task.id, { onEvent: (e) => seen.push(e.type) });
    assert.equal(ended.status, 'done');
    assert.ok(ended.completedAt);
    assert.equal(seen.at(-1), 'done');
    assert.ok(seen.filter((t) => t === 'progress').length >= 1);
  });

  test('a watch whose connection is cut mid-task resumes from its last event: nothing missed, nothing twice', async () => {
    const port = new URL(stack.baseUrl).port;
    const proxy: TcpProxy = await startTcpProxy(Number(port));
    try {
      const viaProxy = createClient({ url: `http://127.0.0.1:${proxy.port}`, reconnect: { minMs: 20, maxMs: 200 } });
      const task = await client.submit('steps', { pauseMs: 400 });
      const seen: TaskEvent[] = [];
      const reconnects: unknown[] = [];
      let cut = false;
      for await (const event of viaProxy.watch(task.id, { onReconnect: (err) => reconnects.push(err) })) {
        seen.push(event);
        if (event.type === 'progress' && !cut) {
          // Cut every connection and refuse new ones while the task goes on, then come back.
          cut = true;
          await proxy.down();
          await new Promise((resolve) => setTimeout(resolve, 500));
          await proxy.up();
        }
      }
      assert.ok(cut, 'the connection was cut');
      assert.ok(reconnects.length >= 1, 'the client reconnected');
      const all = await collect(client.watch(task.id));
      assert.deepEqual(seen.map((e) => e.id), all.map((e) => e.id));
      assert.deepEqual(seen.map((e) => e.type), ['queued', 'started', 'progress', 'progress', 'progress', 'done']);
    } finally {
      await proxy.close();
    }
  });

  test('input sent as JsonText is stored as written; JSON input is sent as JSON', async () => {
    const text = '{"b": 1.0, "a": [2.50]}';
    const task = await client.submit('echo', new JsonText(text));
    await client.wait(task.id);
    assert.equal(await client.inputText(task.id), text);
    assert.deepEqual(await client.input(task.id), { b: 1, a: [2.5] });
    // The Node service got the parsed value and returned it; its result text is what it wrote.
    assert.equal(await client.resultsText(task.id), '{"b":1,"a":[2.5]}');
  });

  test('files of a multi-file result, and the list of tasks page by page', async () => {
    const task = await client.submit('steps', { file: true, pauseMs: 1 });
    await client.wait(task.id);
    const index = (await client.results(task.id)) as { plot: { href: string } };
    const file = await client.file(task.id, index.plot.href);
    assert.equal(file.headers.get('content-type'), 'image/svg+xml');
    assert.equal(await file.text(), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    await assert.rejects(client.file(task.id, 'nothing.png'), (err: unknown) => err instanceof ErrandApiError && err.status === 404 && err.code === 'not_found');

    const mine = [];
    for (let i = 0; i < 5; i++) mine.push((await client.submit('echo', { i })).id);
    const listed = await collect(client.list({ service: 'echo', limit: 2 }));
    const ids = listed.map((t) => t.id);
    assert.equal(new Set(ids).size, ids.length, 'no task twice');
    for (const id of mine) assert.ok(ids.includes(id), `${id} listed`);
    assert.ok(ids.indexOf(mine[4]!) < ids.indexOf(mine[0]!), 'newest first');
    const page = await client.listPage({ service: 'echo', limit: 2 });
    assert.equal(page.tasks.length, 2);
    assert.ok(page.next);
    const second = await client.listPage({ service: 'echo', limit: 2 }, page.next);
    assert.notDeepEqual(second.tasks.map((t) => t.id), page.tasks.map((t) => t.id));
  });

  test('cancel a running task: the watch ends at canceled; delete removes it; errors carry Errand\'s codes', async () => {
    const task = await client.submit('hold', {});
    const events: TaskEvent[] = [];
    const watching = (async () => {
      for await (const event of client.watch(task.id)) events.push(event);
    })();
    while ((await client.get(task.id)).status !== 'running') await new Promise((resolve) => setTimeout(resolve, 20));
    const canceled = await client.cancel(task.id);
    assert.equal(canceled.status, 'canceled');
    await watching;
    assert.equal(events.at(-1)?.type, 'canceled');
    await assert.rejects(client.cancel(task.id), (err: unknown) => err instanceof ErrandApiError && err.status === 409 && err.code === 'task_ended');
    await client.delete(task.id);
    await assert.rejects(client.get(task.id), (err: unknown) => err instanceof ErrandApiError && err.status === 404 && err.code === 'not_found' && err.field === 'id');
  });

  test('refusals are ErrandApiError with code and field; an unreachable server is ErrandConnectionError', async () => {
    await assert.rejects(client.submit('nosuch', {}), (err: unknown) => err instanceof ErrandApiError && err.status === 400 && err.code === 'unknown_service');
    await assert.rejects(client.listPage({ limit: 100_000 }), (err: unknown) => err instanceof ErrandApiError && err.code === 'invalid_field' && err.field === 'limit');
    assert.throws(() => client.get('not-an-id'), TypeError);
    const nobody = createClient({ url: `http://127.0.0.1:${await freePort()}`, reconnect: { minMs: 1, maxMs: 1, maxAttempts: 3 } });
    await assert.rejects(nobody.services(), (err: unknown) => err instanceof ErrandConnectionError && err.code === 'connection_failed');
    // A watch that never reaches the server gives up after its attempts, with the last error.
    let tries = 0;
    await assert.rejects((async () => { for await (const _ of nobody.watch('0123456789abcdef', { onReconnect: () => tries++ })) { /* none */ } })(), ErrandConnectionError);
    assert.equal(tries, 3);
    assert.throws(() => createClient({ url: stack.baseUrl, key: 'two words' }), /printable ASCII/);
  });

  test('services: the summary and one service in full', async () => {
    const services = await client.services();
    assert.ok(services.some((s) => s.name === 'steps' && s.online));
    const one = await client.service('steps');
    assert.equal(one.name, 'steps');
    await assert.rejects(client.service('nosuch'), (err: unknown) => err instanceof ErrandApiError && err.status === 404);
  });

  test('with authentication on: a key reads its own tasks; a task link reads and watches its task with no key; no key is 401', async () => {
    const secured = await startStack(backend, { services: [echo('echo-secured')], settings: { auth: { required: true } } });
    try {
      const keys = await createKeys(backend.store, [['alice', 'alice-sdk', { scopes: ['submit', 'read', 'cancel'] }]]);
      const alice = createClient({ url: secured.baseUrl, key: keys.alice! });
      const task = await alice.submit('echo-secured', { hello: 'link' });
      assert.equal((await alice.wait(task.id)).status, 'done');
      const link = task._links.self.href;
      assert.match(link, /\/access\/[^/]+\/task\//);
      const viaLink = createClient(link);
      assert.equal(viaLink.linkTaskId, task.id);
      assert.equal((await viaLink.get(task.id)).status, 'done');
      assert.deepEqual(await viaLink.results(task.id), { hello: 'link' });
      assert.equal((await collect(viaLink.watch(task.id))).at(-1)?.type, 'done');
      await assert.rejects(viaLink.cancel(task.id), (err: unknown) => err instanceof ErrandApiError && (err.status === 403 || err.status === 409));
      const anonymous = createClient(secured.baseUrl);
      await assert.rejects(anonymous.get(task.id), (err: unknown) => err instanceof ErrandApiError && err.status === 401 && err.code === 'unauthorized');
      await assert.rejects(anonymous.submit('echo-secured', {}), (err: unknown) => err instanceof ErrandApiError && err.status === 401);
      const wrong = createClient({ url: secured.baseUrl, key: 'errand_wrongwrongwrongwrongwrongwrongwrongwrongwro' });
      await assert.rejects(wrong.services(), (err: unknown) => err instanceof ErrandApiError && err.status === 401 && err.field === 'authorization');
    } finally {
      await secured.close();
    }
  });

  test('a watch is stopped by its AbortSignal, and a held task keeps running', async () => {
    const task = await client.submit('held', {});
    const controller = new AbortController();
    const seen: string[] = [];
    await assert.rejects((async () => {
      for await (const event of client.watch(task.id, { signal: controller.signal })) {
        seen.push(event.type);
        if (event.type === 'started') controller.abort(new Error('enough'));
      }
    })(), /enough/);
    assert.deepEqual(seen, ['queued', 'started']);
    assert.equal((await client.get(task.id)).status, 'running');
  });
});
