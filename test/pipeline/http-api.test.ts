/** Patavi's HTTP and WebSocket contract through the whole pipeline, on both backends. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { RESULT_QUEUE } from '../../src/core/index.ts';
import type { Backend } from '../support/backends.ts';
import { countTasks, describeEachBackend } from '../support/backends.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { echo, service, steps } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

await describeEachBackend('HTTP API', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let base: string;
  /** A server that queues for any service name, as Patavi's does: tasks nobody runs, results sent by hand. */
  let open: Stack;
  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { services: [echo(), steps(), service('text', () => 'just text')], settings: { bodyLimit: 64 * 1024, corsOrigins: { origins: ['https://app.example'], any: false } } });
    base = stack.baseUrl;
    open = await startStack(backend, { settings: { allowUnknownServices: true }, recorder: false, nodeId: 2 });
  });
  after(async () => {
    await open.close();
    await stack.close();
    await backend.close();
  });

  describe('a task that succeeds', () => {
    let created: Awaited<ReturnType<typeof postTask>>;
    let updates: Awaited<ReturnType<typeof watchUpdates>>;
    before(async () => {
      created = await postTask(base, 'steps', { pauseMs: 30 });
      updates = await watchUpdates(created.json._links.updates.href, ['ws']);
    });

    test('POST answers 201 with Location and the task description', () => {
      const { response, json } = created;
      assert.equal(response.status, 201);
      assert.match(json.id, /^[0-9a-f]{16}$/);
      assert.equal(response.headers.get('location'), `${base}/task/${json.id}`);
      assert.deepEqual(Object.keys(json).slice(0, 4), ['id', 'service', 'status', '_links']);
      assert.equal(json.service, 'steps');
      assert.equal(json.status, 'queued');
      assert.deepEqual(json._links, {
        self: { href: `${base}/task/${json.id}` },
        updates: { href: `${base.replace('http', 'ws')}/task/${json.id}/updates` },
        task: { href: `${base}/task/${json.id}/task` },
        events: { href: `${base}/task/${json.id}/events` },
        cancel: { href: `${base}/task/${json.id}/cancel` },
      });
    });

    test('the updates socket echoes the offered subprotocol, sends progress, then done, then closes', () => {
      assert.equal(updates.protocol, 'ws');
      const types = updates.messages.map((m) => m.eventType);
      assert.equal(types.at(-1), 'done');
      assert.ok(types.slice(0, -1).every((t) => t === 'progress'));
      for (const m of updates.messages) assert.equal(m.taskId, created.json.id);
      const progress = updates.messages.filter((m) => m.eventType === 'progress').map((m) => m.eventData);
      // A watcher may join after the first events, and the worker coalesces quick ones: whatever it
      // sees comes in order, and the last value always arrives.
      const order = progress.map((p) => [{ progress: 10 }, { progress: 50 }, { progress: 90 }].findIndex((v) => JSON.stringify(v) === JSON.stringify(p)));
      assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1]!)), JSON.stringify(progress));
      assert.deepEqual(progress.at(-1), { progress: 90 });
      assert.deepEqual(updates.messages.at(-1)!.eventData, { href: `${base}/task/${created.json.id}/results` });
      assert.equal(updates.code, 1000);
    });

    test('the finished task links its results and may be cached', async () => {
      const response = await fetch(`${base}/task/${created.json.id}`);
      const task = (await response.json()) as Record<string, any>;
      assert.equal(task.status, 'done');
      assert.equal(task._links.results.href, `${base}/task/${created.json.id}/results`);
      assert.equal(response.headers.get('cache-control'), 'public, max-age=31557600');
      assert.ok(task.completedAt >= task.startedAt && task.startedAt >= task.createdAt);
      assert.equal(task.attempts, 1);
    });

    test('results and input are served as JSON, immutable, with conditional requests answered 304', async () => {
      const results = await fetch(`${base}/task/${created.json.id}/results`);
      assert.equal(results.status, 200);
      assert.deepEqual(await results.json(), { ok: true, input: { pauseMs: 30 } });
      const etag = results.headers.get('etag')!;
      const again = await fetch(`${base}/task/${created.json.id}/results`, { headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304);
      const input = await fetch(`${base}/task/${created.json.id}/task`);
      assert.deepEqual(await input.json(), { pauseMs: 30 });
      assert.equal(input.headers.get('cache-control'), 'public, max-age=31557600');
    });

    test('a socket opened after the end gets the terminal message at once', async () => {
      const late = await watchUpdates(created.json._links.updates.href);
      assert.deepEqual(late.messages, [{ taskId: created.json.id, eventType: 'done', eventData: { href: `${base}/task/${created.json.id}/results` } }]);
    });
  });

  test('a failing task ends failed, with its cause as the result', async () => {
    const { json } = await postTask(base, 'steps', { fail: true, pauseMs: 1 });
    const updates = await watchUpdates(json._links.updates.href);
    assert.equal(updates.messages.at(-1)!.eventType, 'failed');
    const result = (await (await fetch(`${base}/task/${json.id}/results`)).json()) as Record<string, any>;
    assert.equal(result.status, 'failed');
    assert.equal(result.cause, 'asked to fail');
    const task = (await (await fetch(`${base}/task/${json.id}`)).json()) as Record<string, any>;
    assert.equal(task.status, 'failed');
    assert.deepEqual(task.error, { code: 'script_error', message: 'asked to fail' });
  });

  test('a multi-file result serves its index and each file with its type', async () => {
    const { json } = await postTask(base, 'steps', { file: true, pauseMs: 1 });
    await watchUpdates(json._links.updates.href);
    const index = (await (await fetch(`${base}/task/${json.id}/results`)).json()) as Record<string, any>;
    assert.deepEqual(index, { plot: { href: 'plot.svg', 'content-type': 'image/svg+xml' } });
    // Clients resolve the relative href against <task url>/results/.
    const file = await fetch(new URL(index.plot.href, `${base}/task/${json.id}/results/`));
    assert.equal(file.status, 200);
    assert.equal(file.headers.get('content-type'), 'image/svg+xml');
    assert.equal(await file.text(), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    assert.equal((await fetch(`${base}/task/${json.id}/results/other.png`)).status, 404);
  });

  test('a result may be any JSON value, a bare string included', async () => {
    const { json } = await postTask(base, 'text', {});
    await watchUpdates(json._links.updates.href);
    const results = await fetch(`${base}/task/${json.id}/results`);
    assert.equal(await results.text(), '"just text"');
    const echoed = await postTask(base, 'echo', JSON.stringify('a string input'));
    await watchUpdates(echoed.json._links.updates.href);
    assert.equal(await (await fetch(`${base}/task/${echoed.json.id}/results`)).text(), '"a string input"');
  });

  test('results are 404 until the task has finished', async () => {
    const { json } = await postTask(open.baseUrl, 'idle', {}); // a service nobody runs
    assert.equal(json.status, 'no-workers');
    const results = await fetch(`${base}/task/${json.id}/results`);
    assert.equal(results.status, 404);
    assert.equal(((await results.json()) as any).error.code, 'not_found');
    assert.equal(((await (await fetch(`${base}/task/${json.id}`)).json()) as any)._links.results, undefined);
  });

  test('GET /status describes several tasks, leaving out unknown ids', async () => {
    const [a, b] = await Promise.all([postTask(base, 'echo', { n: 1 }), postTask(base, 'echo', { n: 2 })]);
    const response = await fetch(`${base}/status?task=${b.json.id}&task=0000000000000001&task=${a.json.id}`);
    const list = (await response.json()) as Array<Record<string, any>>;
    assert.deepEqual(list.map((t) => t.id), [b.json.id, a.json.id]);
    const one = (await (await fetch(`${base}/status?task=${a.json.id}`)).json()) as unknown[];
    assert.equal(one.length, 1);
    const missing = await fetch(`${base}/status`);
    assert.equal(missing.status, 400);
    assert.deepEqual(((await missing.json()) as any).error.field, 'task');
    assert.equal((await fetch(`${base}/status?task=nothex`)).status, 400);
  });

  test('DELETE removes the task and its results', async () => {
    const { json } = await postTask(base, 'steps', { file: true, pauseMs: 1 });
    await watchUpdates(json._links.updates.href);
    const response = await fetch(`${base}/task/${json.id}`, { method: 'DELETE' });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), '');
    assert.equal((await fetch(`${base}/task/${json.id}`)).status, 404);
    assert.equal((await fetch(`${base}/task/${json.id}/results/plot.svg`)).status, 404);
    assert.equal((await fetch(`${base}/task/${json.id}`, { method: 'DELETE' })).status, 404);
  });

  test('ids that are not 16 hex digits get 400 on every route, unknown ones 404', async () => {
    for (const path of ['/task/abc', '/task/abc/results', '/task/abc/task', '/task/abc/script', '/task/abc/results/f', '/task/550e35d7974000001', '/task/550E35D797400000']) {
      const response = await fetch(base + path);
      assert.equal(response.status, 400, path);
      assert.equal(((await response.json()) as any).error.code, 'invalid_id', path);
    }
    assert.equal((await fetch(`${base}/task/abc`, { method: 'DELETE' })).status, 400);
    for (const path of ['/task/00000000000000ff', '/task/00000000000000ff/results', '/task/00000000000000ff/task', '/task/00000000000000ff/script']) {
      assert.equal((await fetch(base + path)).status, 404, path);
    }
    const bad = await new Promise<string>((resolve) => {
      const socket = new WebSocket(`${base.replace('http', 'ws')}/task/abc/updates`);
      socket.on('unexpected-response', (_req, res) => resolve(String(res.statusCode)));
      socket.on('open', () => resolve('opened'));
    });
    assert.equal(bad, '400');
    const unknown = await new Promise<string>((resolve) => {
      const socket = new WebSocket(`${base.replace('http', 'ws')}/task/00000000000000ff/updates`);
      socket.on('unexpected-response', (_req, res) => resolve(String(res.statusCode)));
      socket.on('open', () => resolve('opened'));
    });
    assert.equal(unknown, '404');
  });

  test('bad submissions get a clear error and write nothing', async () => {
    const before = await countTasks(backend);
    const statsBefore = await backend.broker.queueStats('echo');
    const cases: Array<[string, RequestInit, number, string, string | undefined]> = [
      ['/task', { method: 'POST', body: '{}' }, 400, 'missing_field', 'service'],
      ['/task?service=', { method: 'POST', body: '{}' }, 400, 'missing_field', 'service'],
      ['/task?service=no%20such', { method: 'POST', body: '{}' }, 400, 'invalid_field', 'service'],
      ['/task?service=amq.direct', { method: 'POST', body: '{}' }, 400, 'invalid_field', 'service'],
      ['/task?service=nobody', { method: 'POST', body: '{}' }, 400, 'unknown_service', 'service'],
      ['/task?service=echo', { method: 'POST', body: '{"a":', headers: { 'content-type': 'application/json' } }, 400, 'invalid_json', 'body'],
      ['/task?service=echo', { method: 'POST', body: 'plain words', headers: { 'content-type': 'text/plain' } }, 400, 'invalid_json', 'body'],
      ['/task?service=echo', { method: 'POST', body: '{"a":"\\u0000"}', headers: { 'content-type': 'application/json' } }, 400, 'invalid_json', 'body'],
      ['/task?service=echo', { method: 'POST', body: '['.repeat(300) + ']'.repeat(300) }, 400, 'invalid_json', 'body'],
      ['/task?service=echo', { method: 'POST', body: JSON.stringify({ big: 'x'.repeat(70 * 1024) }), headers: { 'content-type': 'application/json' } }, 413, 'body_too_large', 'body'],
      ['/task?service=echo&ttl=5M', { method: 'POST', body: '{}' }, 400, 'invalid_ttl', 'ttl'],
      ['/task?service=echo&ttl=PT', { method: 'POST', body: '{}' }, 400, 'invalid_ttl', 'ttl'],
      ['/task?service=echo&ttl=forever', { method: 'POST', body: '{}' }, 400, 'invalid_ttl', 'ttl'],
    ];
    for (const [path, init, status, code, field] of cases) {
      const response = await fetch(base + path, init);
      const body = (await response.json()) as { error: { code: string; message: string; field?: string } };
      assert.equal(response.status, status, `${path} ${String(init.body).slice(0, 20)}`);
      assert.equal(body.error.code, code, path);
      assert.equal(body.error.field, field, path);
      assert.ok(body.error.message.length > 10, path);
    }
    assert.equal(await countTasks(backend), before);
    assert.deepEqual(await backend.broker.queueStats('echo'), statsBefore);
    assert.equal(await backend.broker.queueStats('nobody'), undefined);
  });

  test('a body without JSON content type, or none at all, is still JSON input (as Patavi)', async () => {
    const typed = await fetch(`${base}/task?service=echo`, { method: 'POST', body: '[1,2]', headers: { 'content-type': 'text/plain' } });
    assert.equal(typed.status, 201);
    const empty = await fetch(`${base}/task?service=echo`, { method: 'POST' });
    assert.equal(empty.status, 201);
    const id = ((await empty.json()) as any).id;
    assert.deepEqual(await (await fetch(`${base}/task/${id}/task`)).json(), {});
  });

  test('CORS gives a listed origin itself with credentials and allows the API key header', async () => {
    const response = await fetch(`${base}/task/00000000000000ff`, { headers: { origin: 'https://app.example' } });
    assert.equal(response.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.equal(response.headers.get('access-control-allow-credentials'), 'true');
    const preflight = await fetch(`${base}/task?service=echo`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key, content-type' },
    });
    assert.equal(preflight.status, 200);
    assert.match(preflight.headers.get('access-control-allow-headers')!, /X-API-Key/i);
    assert.match(preflight.headers.get('access-control-allow-methods')!, /DELETE/);
  });

  test('the dashboard answers GET /: its shell, which loads the bundled script and styles', async () => {
    const response = await fetch(`${base}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-security-policy')!, /script-src 'self'/);
    const html = await response.text();
    const script = /<script type="module" src="(dashboard\/app\.js\?v=[0-9a-f]{16})">/.exec(html);
    assert.ok(script, html);
    const asset = await fetch(`${base}/${script[1]}`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('content-type')!, /^text\/javascript/);
    assert.match(asset.headers.get('cache-control')!, /immutable/);
    assert.equal((await fetch(`${base}/dashboard/nothing.js`)).status, 404);
  });

  test('unknown routes get the JSON error shape', async () => {
    const response = await fetch(`${base}/nope`);
    assert.equal(response.status, 404);
    assert.equal(((await response.json()) as any).error.code, 'not_found');
  });

  test('a result arriving twice is recorded once', async () => {
    const { json } = await postTask(open.baseUrl, 'manual', { n: 1 });
    const watching = watchUpdates(json._links.updates.href);
    const send = (value: unknown) => backend.broker.send(RESULT_QUEUE, Buffer.from(JSON.stringify(value)), { correlationId: json.id, contentType: 'application/json' });
    await send({ first: true });
    await send({ second: true });
    const updates = await watching;
    assert.deepEqual(updates.messages.map((m) => m.eventType), ['done']);
    // The second result was consumed (the queue drains) and ignored.
    await eventually(async () => (await backend.broker.queueStats(RESULT_QUEUE))!.messages === 0, 'the second result to be consumed');
    assert.deepEqual(await (await fetch(`${base}/task/${json.id}/results`)).json(), { first: true });
  });
});
