/**
 * Completion callbacks (issue 14) on both backends, against a receiver the test runs: the signed
 * POST of the task's description, retries with backoff and their record, the limit, refusals at
 * submission, redirects, timeouts, bodies never read, private addresses, and a deliverer that
 * stops mid-attempt (another one takes the callback over once its claim runs out, and delivers once).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { parseCallbackHosts, taskIdToDecimal } from '../../src/core/index.ts';
import type { CallbackRetryPolicy } from '../../src/core/index.ts';
import { startCallbackDelivery } from '../../src/recorder/index.ts';
import type { CallbackDelivery, Resolver } from '../../src/recorder/index.ts';
import { FlakeIdGenerator } from '../../src/core/index.ts';
import { createApp } from '../../src/server/index.ts';
import type { Store } from '../../src/store/index.ts';
import type { Backend } from '../support/backends.ts';
import { countTasks, describeEachBackend, testLogger } from '../support/backends.ts';
import { startReceiver, verifyErrandSignature } from '../support/receiver.ts';
import type { Receiver } from '../support/receiver.ts';
import { echo, service } from '../support/services.ts';
import { startStack } from '../support/stack.ts';
import type { Stack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const SECRET = 'test-callback-secret-0123456789abcdefghijklmnopqrstuvwxyz';
/** A name the tests' resolver answers for, as DNS would for a host an attacker points at the loopback. */
const NAMED = 'hooks.example.test';

await describeEachBackend('completion callbacks', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let receiver: Receiver;
  let trap: Receiver;
  const delivering: CallbackDelivery[] = [];
  const toLoopback: Resolver = async () => [{ address: '127.0.0.1', family: 4 }];
  let allowed: string[];

  const deliverer = (retry: Partial<CallbackRetryPolicy> = {}, extra: { timeoutMs?: number; allowPrivate?: boolean; store?: Store; leaseMs?: number } = {}): CallbackDelivery => {
    const delivery = startCallbackDelivery({
      store: extra.store ?? backend.store, logger: testLogger, ...(extra.leaseMs !== undefined ? { leaseMs: extra.leaseMs } : {}), publicUrl: stack.baseUrl, secret: SECRET,
      allowlist: parseCallbackHosts(allowed, extra.allowPrivate ?? false),
      retry: { maxAttempts: 5, baseDelayMs: 20, maxDelayMs: 1000, ...retry },
      timeoutMs: extra.timeoutMs ?? 10_000, pollIntervalMs: 20, concurrency: 4, userAgent: 'errand/test', resolve: toLoopback,
    });
    delivering.push(delivery);
    return delivery;
  };
  const stopDeliverers = async () => { await Promise.all(delivering.splice(0).map((d) => d.stop())); };

  const submit = async (callback: string | string[], input: unknown = { n: 1 }, name = 'echo') => {
    const query = new URLSearchParams({ service: name });
    for (const c of [callback].flat()) query.append('callback', c);
    const response = await fetch(`${stack.baseUrl}/task?${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(input) });
    return { status: response.status, body: (await response.json()) as any };
  };
  const describe = async (id: string) => (await (await fetch(`${stack.baseUrl}/task/${id}`)).json()) as any;
  const settled = (id: string) => eventually(async () => {
    const task = await describe(id);
    return task.callbacks?.every((c: any) => c.state !== 'pending') ? task : undefined;
  }, `the callbacks of task ${id} to be settled`);

  before(async () => {
    backend = await kind.create();
    receiver = await startReceiver();
    trap = await startReceiver();
    receiver.redirectTo = trap.url('/trap');
    allowed = [`127.0.0.1:${receiver.port}`, `http://${NAMED}:${receiver.port}`];
    const cached = service('cached', (input) => input, 2, { cache: { enabled: true, lifetime: 'PT1H', shared: false } });
    stack = await startStack(backend, { services: [echo(), cached], settings: { callbackHosts: parseCallbackHosts(allowed) } });
  });
  after(async () => {
    await stopDeliverers();
    await stack.close();
    await receiver.close();
    await trap.close();
    await backend.close();
  });

  test('a task ending POSTs its description, signed: the receiver verifies it as docs/api.md shows; the task shows the delivery', async (t) => {
    t.after(stopDeliverers);
    deliverer();
    const { status, body: submitted } = await submit(receiver.url('/ok?token=abc'));
    assert.equal(status, 201);
    assert.deepEqual(submitted.callbacks, [{ url: receiver.url('/ok?token=abc'), state: 'pending', attempts: [] }]);
    const task = await settled(submitted.id);
    const [delivery, ...more] = receiver.forTask(submitted.id);
    assert.equal(more.length, 0);
    assert.equal(delivery!.path, '/ok');
    assert.ok(verifyErrandSignature(SECRET, delivery!.headers['errand-signature'] as string, delivery!.body), 'the signature verifies');
    assert.equal(verifyErrandSignature('another-secret-0123456789abcdefghijklmnopqrstuvwxyz', delivery!.headers['errand-signature'] as string, delivery!.body), false);
    assert.equal(verifyErrandSignature(SECRET, delivery!.headers['errand-signature'] as string, delivery!.body.replace('done', 'fail')), false, 'a changed body does not verify');
    assert.match(delivery!.headers['errand-signature'] as string, /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.deepEqual([delivery!.headers['content-type'], delivery!.headers['user-agent'], delivery!.headers['errand-task'], delivery!.headers['errand-attempt']], ['application/json', 'errand/test', submitted.id, '1']);
    // The description as GET /task/:id gives it, less the callbacks themselves.
    const { callbacks, ...described } = task;
    assert.deepEqual(JSON.parse(delivery!.body), described);
    assert.equal(described.status, 'done');
    assert.equal(callbacks.length, 1);
    assert.deepEqual(Object.keys(callbacks[0]).sort(), ['attempts', 'state', 'url']);
    assert.equal(callbacks[0].state, 'delivered');
    assert.equal(callbacks[0].attempts.length, 1);
    assert.deepEqual({ ...callbacks[0].attempts[0], at: undefined, durationMs: undefined }, { attempt: 1, at: undefined, durationMs: undefined, statusCode: 200 });
    assert.equal(typeof callbacks[0].attempts[0].durationMs, 'number');
  });

  test('a receiver that fails twice then answers 200: three attempts recorded, in order, each after the last one\'s backoff, doubling', async (t) => {
    t.after(stopDeliverers);
    deliverer({ baseDelayMs: 50, maxDelayMs: 1000 });
    const { body: submitted } = await submit(receiver.url('/fail-twice'));
    const task = await settled(submitted.id);
    assert.deepEqual(receiver.forTask(submitted.id).map((r) => r.attempt), [1, 2, 3]);
    const [callback] = task.callbacks;
    assert.equal(callback.state, 'delivered');
    assert.deepEqual(callback.attempts.map((a: any) => [a.attempt, a.statusCode ?? null, a.error ?? null]), [[1, 500, null], [2, 500, null], [3, 200, null]]);
    const [first, second, third] = callback.attempts.map((a: any) => ({ at: Date.parse(a.at), retryAt: a.retryAt && Date.parse(a.retryAt) }));
    // Each retry was scheduled its backoff after the attempt before it (50 ms, then 100 ms), and made no sooner.
    assert.ok(first.retryAt - first.at >= 50, `first retry ${first.retryAt - first.at} ms after the first attempt`);
    assert.ok(second.retryAt - second.at >= 100, `second retry ${second.retryAt - second.at} ms after the second attempt`);
    assert.ok(second.at >= first.retryAt && third.at >= second.retryAt, 'no attempt before it was due');
    assert.equal(third.retryAt, undefined);
  });

  test('a receiver that always answers 500: attempts stop at the limit and the callback fails; the task itself stays done', async (t) => {
    t.after(stopDeliverers);
    deliverer({ maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 20 });
    const { body: submitted } = await submit(receiver.url('/always-500'));
    const task = await settled(submitted.id);
    assert.equal(task.status, 'done');
    assert.equal(task.callbacks[0].state, 'failed');
    assert.deepEqual(task.callbacks[0].attempts.map((a: any) => a.statusCode), [500, 500, 500]);
    assert.equal(receiver.forTask(submitted.id).length, 3);
    assert.deepEqual(await backend.store.claimCallbacks(10, 1000, 3), [], 'nothing left to claim');
    const row = await backend.db.query<{ callbacks: string }>('SELECT callbacks FROM task WHERE id = $1', [taskIdToDecimal(submitted.id)]);
    assert.equal(row.rows[0]!.callbacks, 'settled');
  });

  test('a callback to a host not allowed, over plain http where https is required, malformed, or given twice: 400 naming callback, nothing kept', async () => {
    const before = await countTasks(backend);
    const cases: Array<[string | string[], RegExp]> = [
      ['https://elsewhere.example.org/hook', /callback host elsewhere\.example\.org is not one this server sends callbacks to/],
      [`https://127.0.0.1:${receiver.port + 1}/x`, /is not one this server sends callbacks to/],
      ['not a url', /callback must be an absolute http\(s\) URL/],
      ['file:///etc/passwd', /must be an https URL, got the scheme file/],
      [[receiver.url('/ok'), receiver.url('/ok')], /callback must be given once/],
    ];
    for (const [callback, message] of cases) {
      const { status, body } = await submit(callback);
      assert.equal(status, 400, JSON.stringify(callback));
      assert.equal(body.error.code, 'invalid_field');
      assert.equal(body.error.field, 'callback');
      assert.match(body.error.message, message);
    }
    const plain = parseCallbackHosts(['hooks.example.org']);
    const strict = await startStack(backend, { settings: { callbackHosts: plain }, recorder: false, nodeId: 2 });
    const none = await startStack(backend, { recorder: false, nodeId: 3 });
    try {
      const http = await fetch(`${strict.baseUrl}/task?service=echo&callback=${encodeURIComponent('http://hooks.example.org/x')}`, { method: 'POST', body: '{}' });
      assert.equal(http.status, 400);
      assert.match(((await http.json()) as any).error.message, /callback must be https: plain http to hooks\.example\.org is not allowed \(list it as http:\/\/hooks\.example\.org to allow it\)/);
      const off = await fetch(`${none.baseUrl}/task?service=echo&callback=${encodeURIComponent(receiver.url('/ok'))}`, { method: 'POST', body: '{}' });
      assert.equal(off.status, 400);
      assert.deepEqual((await off.json() as any).error, { code: 'invalid_field', field: 'callback', message: 'callback is not accepted by this server: it allows callbacks to no host (see --callback-hosts)' });
    } finally {
      await strict.close();
      await none.close();
    }
    assert.equal(await countTasks(backend), before, 'a refused submission writes nothing');
  });

  test('a redirect is not followed: the attempt fails with the 302 and where it pointed, and the other host hears nothing', async (t) => {
    t.after(stopDeliverers);
    deliverer({ maxAttempts: 1 });
    const { body: submitted } = await submit(receiver.url('/redirect'));
    const task = await settled(submitted.id);
    assert.equal(task.callbacks[0].state, 'failed');
    assert.deepEqual(task.callbacks[0].attempts.map((a: any) => [a.statusCode, a.error]), [[302, `redirects are not followed (Location: ${trap.url('/trap')})`]]);
    assert.equal(trap.received.length, 0);
  });

  test('an attempt without an answer within the timeout fails and is tried again; a body that never ends is not read', async (t) => {
    t.after(stopDeliverers);
    deliverer({}, { timeoutMs: 1000 });
    const { body: hung } = await submit(receiver.url('/hang-once'));
    const task = await settled(hung.id);
    assert.deepEqual(task.callbacks[0].attempts.map((a: any) => [a.statusCode ?? null, a.error ?? null]), [[null, 'no answer within 1000 ms'], [200, null]]);
    const { body: streamed } = await submit(receiver.url('/stream'));
    const delivered = await settled(streamed.id);
    assert.equal(delivered.callbacks[0].state, 'delivered');
    await receiver.streamClosed; // Errand closed the connection rather than read the endless body
  });

  test('a name resolving to a private address is refused unless private addresses are allowed; the connection goes to the address checked', async (t) => {
    t.after(stopDeliverers);
    deliverer({ maxAttempts: 1 });
    const { body: refused } = await submit(`http://${NAMED}:${receiver.port}/ok`);
    const failed = await settled(refused.id);
    assert.deepEqual(failed.callbacks[0].attempts.map((a: any) => [a.statusCode ?? null, a.error]), [[null,
      `${NAMED} resolves to 127.0.0.1, a loopback address: callbacks go to public addresses only, unless the allowlist names the address or --callback-allow-private is given`]]);
    assert.equal(receiver.forTask(refused.id).length, 0);
    await stopDeliverers();
    deliverer({ maxAttempts: 1 }, { allowPrivate: true });
    const { body: allowedTask } = await submit(`http://${NAMED}:${receiver.port}/ok`);
    assert.equal((await settled(allowedTask.id)).callbacks[0].state, 'delivered');
    assert.equal(receiver.forTask(allowedTask.id)[0]!.headers.host, `${NAMED}:${receiver.port}`);
  });

  test('a deliverer that stops mid-attempt: once its claim runs out another takes the callback over, records the lost attempt, and delivers once', async (t) => {
    t.after(stopDeliverers);
    const { body: submitted } = await submit(receiver.url('/ok'));
    await eventually(async () => (await describe(submitted.id)).status === 'done', 'the task to end');
    // A deliverer claims the attempt (short lease) and is never heard of again: as if its process died.
    const [claim] = await backend.store.claimCallbacks(10, 200, 5);
    assert.equal(claim?.taskId, submitted.id);
    assert.equal(claim?.attempt, 1);
    assert.deepEqual(await backend.store.claimCallbacks(10, 200, 5), [], 'a claimed callback is not claimed again while its lease lasts');
    deliverer();
    const task = await settled(submitted.id);
    assert.equal(task.callbacks[0].state, 'delivered');
    assert.deepEqual(task.callbacks[0].attempts.map((a: any) => [a.attempt, a.statusCode ?? null, a.error ?? null]), [
      [1, null, 'interrupted: no outcome was recorded (its deliverer stopped, or lost the database)'], [2, 200, null],
    ]);
    assert.deepEqual(receiver.forTask(submitted.id).map((r) => r.attempt), [2], 'delivered once');
  });

  test('a callback added to a task that has ended is delivered at once; a second one to the same URL adds none', async (t) => {
    t.after(stopDeliverers);
    deliverer();
    const first = await submit(receiver.url('/ok'), { n: 1 });
    await settled(first.body.id);
    assert.equal(await backend.store.addCallback(first.body.id, receiver.url('/ok?second')), true);
    assert.equal(await backend.store.addCallback(first.body.id, receiver.url('/ok')), true);
    const task = await settled(first.body.id);
    assert.deepEqual(task.callbacks.map((c: any) => [c.url, c.state, c.attempts.length]), [[receiver.url('/ok'), 'delivered', 1], [receiver.url('/ok?second'), 'delivered', 1]]);
    assert.equal(receiver.forTask(first.body.id).length, 2);
    assert.equal(await backend.store.addCallback('7fffffffffffffff', receiver.url('/ok')), false, 'no such task');
  });

  test('a submission the result cache answers with an ended task: that task gets the callback too, delivered at once', async (t) => {
    t.after(stopDeliverers);
    deliverer();
    const first = await submit(receiver.url('/ok?first'), { n: 42 }, 'cached');
    await settled(first.body.id);
    const hit = await submit(receiver.url('/ok?hit'), { n: 42 }, 'cached');
    assert.equal(hit.status, 201);
    assert.equal(hit.body.cache.status, 'hit');
    assert.equal(hit.body.id, first.body.id);
    assert.deepEqual(hit.body.callbacks.map((c: any) => c.url), [receiver.url('/ok?first'), receiver.url('/ok?hit')]);
    assert.equal(hit.body.callbacks[0].state, 'delivered');
    const task = await settled(first.body.id);
    assert.deepEqual(task.callbacks.map((c: any) => c.state), ['delivered', 'delivered']);
    assert.deepEqual(receiver.forTask(first.body.id).map((r) => r.path), ['/ok', '/ok']);
  });

  test('a database that fails while a callback is added: 503, and the task is not kept', async () => {
    const before = await countTasks(backend);
    const failing: Store = { ...backend.store, addCallback: () => Promise.reject(new Error('Connection terminated unexpectedly')) };
    const app = await createApp({ store: failing, broker: backend.broker, ids: new FlakeIdGenerator(4), logger: testLogger, settings: { bodyLimit: 1 << 20, maxJsonDepth: 64, allowUnknownServices: false, callbackHosts: parseCallbackHosts(allowed) } });
    try {
      const response = await app.inject({ method: 'POST', url: `/task?service=echo&callback=${encodeURIComponent(receiver.url('/ok'))}`, payload: '{}' });
      assert.equal(response.statusCode, 503);
      assert.equal(response.headers['retry-after'], '5');
      assert.equal(response.json().error.code, 'database_unavailable');
      assert.match(response.json().error.message, /^the task could not be saved: Connection terminated unexpectedly/);
    } finally {
      await app.close();
    }
    assert.equal(await countTasks(backend), before);
  });

  test('an attempt whose outcome cannot be recorded (the database away) is made again once its claim runs out', async (t) => {
    t.after(stopDeliverers);
    let failures = 1;
    const flaky: Store = {
      ...backend.store,
      finishCallbackAttempt: (end) => (failures-- > 0 ? Promise.reject(new Error('Connection terminated unexpectedly')) : backend.store.finishCallbackAttempt(end)),
    };
    deliverer({}, { store: flaky, leaseMs: 300 });
    const { body: submitted } = await submit(receiver.url('/ok'));
    const task = await settled(submitted.id);
    assert.deepEqual(task.callbacks[0].attempts.map((a: any) => [a.attempt, a.statusCode ?? null, a.error ?? null]), [
      [1, null, 'interrupted: no outcome was recorded (its deliverer stopped, or lost the database)'], [2, 200, null],
    ]);
    assert.deepEqual(receiver.forTask(submitted.id).map((r) => r.attempt), [1, 2], 'the receiver got it twice: at least once, never lost');
  });
});
