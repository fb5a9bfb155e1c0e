/**
 * The result cache as a client meets it: a repeated submission gets the finished task at once, or
 * joins the one under way; `?cache=false` and `Cache-Control: no-cache` run anew; failures and
 * results a script marks not cacheable (Node, R, command) are never served; deleting a task or the
 * end of the lifetime (enforced by the janitor) lets the next submission run again. Across
 * principals (issue 12): entries are each owner's own unless the service shares them, and a shared
 * hit is a new task of the caller's, never another principal's id.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { hashApiKey, newApiKey, taskIdToDecimal } from '../../src/core/index.ts';
import type { Manifest } from '../../src/core/index.ts';
import { startJanitor } from '../../src/recorder/index.ts';
import { loadServiceDir } from '../../src/worker/index.ts';
import type { ServiceDefinition } from '../../src/worker/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, testLogger } from '../support/backends.ts';
import { readEventSource } from '../support/event-clients.ts';
import { watchUpdates } from '../support/http.ts';
import { rUnavailable } from '../support/r.ts';
import { gate, service } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const CACHE_SERVICES = fileURLToPath(new URL('../fixtures/cache-services/', import.meta.url));
const noR = await rUnavailable();
if (noR !== undefined && process.env.CI === 'true') throw new Error(`R is required in CI: ${noR}`);

const caching = (lifetime = 'PT24H'): Partial<Manifest> => ({ cache: { enabled: true, lifetime, shared: false } });

interface Submitted { status: number; location: string | null; json: Record<string, any> }

async function submit(baseUrl: string, serviceName: string, body: string, options: { query?: string; headers?: Record<string, string> } = {}): Promise<Submitted> {
  const response = await fetch(`${baseUrl}/task?service=${serviceName}${options.query ?? ''}`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...options.headers }, body,
  });
  return { status: response.status, location: response.headers.get('location'), json: (await response.json()) as Record<string, any> };
}

await describeEachBackend('result cache', (kind) => {
  let backend: Backend;
  let stack: Stack;
  const runs = new Map<string, number>();
  const count = (name: string) => runs.get(name) ?? 0;
  const counted = (name: string, run: (input: any, ctx: Parameters<Parameters<typeof service>[1]>[1]) => unknown, manifest: Partial<Manifest>): ServiceDefinition =>
    service(name, async (input, ctx) => {
      runs.set(name, count(name) + 1);
      return run(input, ctx);
    }, 4, manifest);
  const held = gate('held');
  held.definition.manifest.cache = { enabled: true, lifetime: 'PT24H', shared: false };

  before(async () => {
    backend = await kind.create();
    const folder = await loadServiceDir(CACHE_SERVICES, { defaultConcurrency: 1, logger: testLogger });
    assert.deepEqual(folder.problems, []);
    const services = [
      counted('doubler', (input: { n: number }) => ({ double: input.n * 2 }), caching()),
      counted('flaky', () => { throw new Error('always fails'); }, caching()),
      counted('clock', (_input, ctx) => { ctx.noCache(); return { at: Date.now() }; }, caching()),
      counted('brief', () => ({ ok: true }), caching('PT1S')),
      counted('plain', () => ({ ok: true }), {}),
      held.definition,
      // R is needed in CI (checked above); elsewhere the R service is left out when R is missing.
      ...folder.services.filter((s) => noR === undefined || s.manifest.runtime !== 'r'),
    ];
    stack = await startStack(backend, { services });
    // The server caches what the registry says a service declares: wait until it has heard.
    for (const s of services) {
      await eventually(async () => (await (await fetch(`${stack.baseUrl}/services/${s.name}`)).json() as { cache?: { enabled: boolean } }).cache !== undefined, `the registry to know ${s.name}`);
    }
  });
  after(async () => {
    held.release();
    await stack.close();
    await backend.close();
  });

  async function untilEnded(id: string): Promise<Record<string, any>> {
    return eventually(async () => {
      const task = (await (await fetch(`${stack.baseUrl}/task/${id}`)).json()) as Record<string, any>;
      return ['done', 'failed', 'canceled', 'expired'].includes(task.status as string) ? task : undefined;
    }, `task ${id} to end`);
  }

  test('a repeated submission gets the finished task at once: 201, same id, marked a hit, original completion time', async () => {
    const first = await submit(stack.baseUrl, 'doubler', '{"n": 21, "tags": ["a", "b"]}');
    assert.equal(first.status, 201);
    assert.deepEqual(first.json.cache, { status: 'miss' });
    const done = await untilEnded(first.json.id);
    assert.equal(done.status, 'done');
    // Same value, other key order and spacing: the same key.
    const again = await submit(stack.baseUrl, 'doubler', '{ "tags" : [ "a","b" ], "n":21 }');
    assert.equal(again.status, 201);
    assert.equal(again.json.id, first.json.id);
    assert.equal(again.location, `${stack.baseUrl}/task/${first.json.id}`);
    assert.deepEqual(again.json.cache, { status: 'hit' });
    assert.equal(again.json.status, 'done');
    assert.equal(again.json.completedAt, done.completedAt);
    assert.ok(again.json._links.results, 'the results link is there at once');
    assert.deepEqual(await (await fetch(again.json._links.results.href)).json(), { double: 42 });
    assert.equal(count('doubler'), 1);
    // A Patavi client opens the updates socket of the task it got: it hears the end at once.
    const updates = await watchUpdates(again.json._links.updates.href);
    assert.equal(updates.messages.at(-1)?.eventType, 'done');
  });

  test('inputs that differ to a script never share a result: 1 and 1.0, other values, other services', async () => {
    const one = await submit(stack.baseUrl, 'doubler', '{"n": 1}');
    await untilEnded(one.json.id);
    const onePointZero = await submit(stack.baseUrl, 'doubler', '{"n": 1.0}');
    assert.notEqual(onePointZero.json.id, one.json.id);
    assert.deepEqual(onePointZero.json.cache, { status: 'miss' });
    const two = await submit(stack.baseUrl, 'doubler', '{"n": 2}');
    assert.notEqual(two.json.id, one.json.id);
    const plainA = await submit(stack.baseUrl, 'plain', '{"n": 1}');
    await untilEnded(plainA.json.id);
    const plainB = await submit(stack.baseUrl, 'plain', '{"n": 1}');
    assert.notEqual(plainB.json.id, plainA.json.id);
    assert.equal(plainB.json.cache, undefined, 'a service that does not cache says nothing about the cache');
  });

  test('a submission that matches a task still running joins it: one run, and every watcher hears its end', async () => {
    const first = await submit(stack.baseUrl, 'held', '{"job": 7}');
    await held.whenStarted(1);
    await eventually(async () => ((await (await fetch(`${stack.baseUrl}/task/${first.json.id}`)).json()) as { status: string }).status === 'running', 'the start to be recorded');
    const second = await submit(stack.baseUrl, 'held', '{"job":7}');
    assert.equal(second.status, 201);
    assert.equal(second.json.id, first.json.id);
    assert.deepEqual(second.json.cache, { status: 'joined' });
    assert.equal(second.json.status, 'running');
    const watchers = [watchUpdates(first.json._links.updates.href), watchUpdates(second.json._links.updates.href)];
    held.release();
    for (const watcher of await Promise.all(watchers)) assert.equal(watcher.messages.at(-1)?.eventType, 'done');
    assert.equal(held.started.length, 1);
  });

  test('?cache=false and Cache-Control: no-cache run anew, and the new result is the one served next', async () => {
    const first = await submit(stack.baseUrl, 'doubler', '{"n": 5}');
    await untilEnded(first.json.id);
    const bypass = await submit(stack.baseUrl, 'doubler', '{"n": 5}', { query: '&cache=false' });
    assert.equal(bypass.status, 201);
    assert.notEqual(bypass.json.id, first.json.id);
    assert.deepEqual(bypass.json.cache, { status: 'bypass' });
    await untilEnded(bypass.json.id);
    const noCache = await submit(stack.baseUrl, 'doubler', '{"n": 5}', { headers: { 'cache-control': 'max-age=0, no-cache' } });
    assert.notEqual(noCache.json.id, bypass.json.id);
    assert.deepEqual(noCache.json.cache, { status: 'bypass' });
    await untilEnded(noCache.json.id);
    const next = await submit(stack.baseUrl, 'doubler', '{"n": 5}', { query: '&cache=true' });
    assert.deepEqual([next.json.id, next.json.cache], [noCache.json.id, { status: 'hit' }]);
  });

  test('a bad cache parameter is refused, naming the field, and nothing is queued', async () => {
    const before = count('doubler');
    const tasks = async () => Number(((await backend.db.query(`SELECT count(*)::int AS n FROM task WHERE service = 'doubler'`)).rows[0] as { n: number }).n);
    const stored = await tasks();
    const bad = await submit(stack.baseUrl, 'doubler', '{"n": 9}', { query: '&cache=sometimes' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'invalid_field');
    assert.equal(bad.json.error.field, 'cache');
    assert.match(bad.json.error.message, /cache must be true or false/);
    assert.equal(await tasks(), stored);
    assert.equal(count('doubler'), before);
  });

  test('a failed result is never served: the next submission runs again', async () => {
    const first = await submit(stack.baseUrl, 'flaky', '{}');
    assert.equal((await untilEnded(first.json.id)).status, 'failed');
    const again = await submit(stack.baseUrl, 'flaky', '{}');
    assert.notEqual(again.json.id, first.json.id);
    assert.deepEqual(again.json.cache, { status: 'miss' });
    await untilEnded(again.json.id);
    assert.equal(count('flaky'), 2);
  });

  test('a Node result marked with ctx.noCache() is never served', async () => {
    const first = await submit(stack.baseUrl, 'clock', '{}');
    assert.equal((await untilEnded(first.json.id)).status, 'done');
    const again = await submit(stack.baseUrl, 'clock', '{}');
    assert.notEqual(again.json.id, first.json.id);
    await untilEnded(again.json.id);
    assert.equal(count('clock'), 2);
  });

  test('a command that creates $ERRAND_NO_CACHE_FILE is never served; one that does not is', async () => {
    const stable = await submit(stack.baseUrl, 'shdouble', '{"n": 1}');
    assert.equal((await untilEnded(stable.json.id)).status, 'done');
    assert.equal((await submit(stack.baseUrl, 'shdouble', '{"n": 1}')).json.id, stable.json.id);
    const volatile = await submit(stack.baseUrl, 'shdouble', '{"volatile": true}');
    assert.equal((await untilEnded(volatile.json.id)).status, 'done');
    assert.notEqual((await submit(stack.baseUrl, 'shdouble', '{"volatile": true}')).json.id, volatile.json.id);
  });

  test('an R result marked with no.cache() is never served; an unmarked one is', { skip: noR ?? false }, async () => {
    const stable = await submit(stack.baseUrl, 'rdouble', '{"n": 4}');
    const done = await untilEnded(stable.json.id);
    assert.equal(done.status, 'done', JSON.stringify(done));
    const hit = await submit(stack.baseUrl, 'rdouble', '{"n": 4}');
    assert.deepEqual([hit.json.id, hit.json.cache], [stable.json.id, { status: 'hit' }]);
    const volatile = await submit(stack.baseUrl, 'rdouble', '{"n": 4, "volatile": true}');
    assert.equal((await untilEnded(volatile.json.id)).status, 'done');
    assert.notEqual((await submit(stack.baseUrl, 'rdouble', '{"n": 4, "volatile": true}')).json.id, volatile.json.id);
  });

  test('deleting a task removes its entry: the next submission runs again', async () => {
    const first = await submit(stack.baseUrl, 'doubler', '{"n": 77}');
    await untilEnded(first.json.id);
    assert.equal((await fetch(`${stack.baseUrl}/task/${first.json.id}`, { method: 'DELETE' })).status, 200);
    const again = await submit(stack.baseUrl, 'doubler', '{"n": 77}');
    assert.notEqual(again.json.id, first.json.id);
    assert.deepEqual(again.json.cache, { status: 'miss' });
  });

  test('past its lifetime a result is not served, and the janitor removes its entry', async () => {
    const janitor = startJanitor({ store: backend.store, broker: backend.broker, logger: testLogger, intervalMs: 3_600_000 });
    try {
      const first = await submit(stack.baseUrl, 'brief', '{}');
      const done = await untilEnded(first.json.id);
      const entries = async () => (await backend.db.query('SELECT 1 FROM task_cache WHERE task_id = $1', [taskIdToDecimal(first.json.id)])).rowCount;
      assert.equal(await entries(), 1);
      // Lifetime PT1S from completion.
      await eventually(() => Date.now() > Date.parse(done.completedAt) + 1500, 'the lifetime to pass');
      await janitor.sweep();
      assert.equal(await entries(), 0);
      assert.equal((await (await fetch(`${stack.baseUrl}/task/${first.json.id}`)).json() as { status: string }).status, 'done', 'the task itself stays');
      const again = await submit(stack.baseUrl, 'brief', '{}');
      assert.notEqual(again.json.id, first.json.id);
    } finally {
      await janitor.stop();
    }
  });
});

await describeEachBackend('result cache across owners', (kind) => {
  let backend: Backend;
  let stack: Stack;
  const runs = new Map<string, number>();
  const count = (name: string) => runs.get(name) ?? 0;
  const keys: Record<'alice' | 'bob', Record<string, string>> = { alice: {}, bob: {} };
  /** Draws a plot (a result file) of its input; shares its results across principals or not. */
  const plotter = (name: string, shared: boolean): ServiceDefinition => service(name, async (raw, ctx) => {
    const input = raw as { n: number };
    runs.set(name, count(name) + 1);
    ctx.saveFile('plot.svg', `<svg xmlns="http://www.w3.org/2000/svg"><text>${input.n}</text></svg>`, 'image/svg+xml');
    return { n: input.n, plot: { href: 'plot.svg', 'content-type': 'image/svg+xml' } };
  }, 4, { cache: { enabled: true, lifetime: 'PT24H', shared } });
  const held = gate('sharedheld');
  held.definition.manifest.cache = { enabled: true, lifetime: 'PT24H', shared: true };

  before(async () => {
    backend = await kind.create();
    for (const who of ['alice', 'bob'] as const) {
      const key = newApiKey();
      await backend.store.createApiKey({ name: `${who}-${process.pid}`, scopes: ['submit', 'read'], secretSha256: hashApiKey(key), expires: null });
      keys[who] = { authorization: `Bearer ${key}` };
    }
    const services = [plotter('sharedplot', true), plotter('ownplot', false), held.definition];
    stack = await startStack(backend, { services, settings: { auth: { required: true } } });
    for (const s of services) {
      await eventually(async () => (await (await fetch(`${stack.baseUrl}/services/${s.name}`, { headers: keys.alice })).json() as { cache?: unknown }).cache !== undefined, `the registry to know ${s.name}`);
    }
  });
  after(async () => {
    held.release();
    await stack.close();
    await backend.close();
  });

  const get = (who: 'alice' | 'bob', path: string) => fetch(`${stack.baseUrl}${path}`, { headers: keys[who] });
  async function untilDone(who: 'alice' | 'bob', id: string): Promise<Record<string, any>> {
    return eventually(async () => {
      const task = (await (await get(who, `/task/${id}`)).json()) as Record<string, any>;
      return task.status === 'done' ? task : undefined;
    }, `task ${id} to be done`);
  }

  test('without sharing, the same input runs once per owner: neither is given the other\'s task', async () => {
    const alice = await submit(stack.baseUrl, 'ownplot', '{"n": 3}', { headers: keys.alice });
    await untilDone('alice', alice.json.id);
    const bob = await submit(stack.baseUrl, 'ownplot', '{"n": 3}', { headers: keys.bob });
    assert.equal(bob.status, 201);
    assert.notEqual(bob.json.id, alice.json.id);
    assert.deepEqual(bob.json.cache, { status: 'miss' });
    await untilDone('bob', bob.json.id);
    assert.equal(count('ownplot'), 2);
    // Each owner's next submission is a hit on its own task.
    assert.deepEqual([(await submit(stack.baseUrl, 'ownplot', '{"n": 3}', { headers: keys.alice })).json.id], [alice.json.id]);
    assert.deepEqual([(await submit(stack.baseUrl, 'ownplot', '{"n": 3}', { headers: keys.bob })).json.id], [bob.json.id]);
  });

  test('a shared result answers another owner with a new task of its own: its results, files and events, while the first stays unreadable to it', async () => {
    const alice = await submit(stack.baseUrl, 'sharedplot', '{"n": 8}', { headers: keys.alice });
    const done = await untilDone('alice', alice.json.id);
    const bobEvents = readEventSource(`${stack.baseUrl}/events`, keys.bob);
    try {
      assert.equal(await bobEvents.status, 200);
      const bob = await submit(stack.baseUrl, 'sharedplot', '{ "n" : 8 }', { headers: keys.bob });
      assert.equal(bob.status, 201);
      assert.deepEqual(bob.json.cache, { status: 'hit' });
      assert.notEqual(bob.json.id, alice.json.id);
      assert.ok(bob.location?.endsWith(`/task/${bob.json.id}`), bob.location ?? 'no Location');
      assert.equal(bob.json.status, 'done');
      assert.notEqual(bob.json.completedAt, done.completedAt, 'its own task, done now');
      assert.equal(count('sharedplot'), 1, 'nothing ran again');
      // Bob reads his task's result and file with his key, and through the links he was given.
      const expected = { n: 8, plot: { href: 'plot.svg', 'content-type': 'image/svg+xml' } };
      assert.deepEqual(await (await get('bob', `/task/${bob.json.id}/results`)).json(), expected);
      assert.deepEqual(await (await fetch(bob.json._links.results.href)).json(), expected);
      const file = await get('bob', `/task/${bob.json.id}/results/plot.svg`);
      assert.equal(file.status, 200);
      assert.equal(await file.text(), '<svg xmlns="http://www.w3.org/2000/svg"><text>8</text></svg>');
      // Alice's task is as absent to bob as ever; bob's is to alice.
      for (const path of [`/task/${alice.json.id}`, `/task/${alice.json.id}/results`, `/task/${alice.json.id}/results/plot.svg`]) {
        assert.equal((await get('bob', path)).status, 404, path);
      }
      assert.equal((await get('alice', `/task/${bob.json.id}`)).status, 404);
      // Bob's stream carries his new task's events, none of alice's task.
      await bobEvents.until((events) => events.some((e) => e.taskId === bob.json.id && e.type === 'done'), 'bob\'s task to be done on his stream');
      assert.deepEqual(bobEvents.events.filter((e) => e.taskId === bob.json.id).map((e) => e.type), ['queued', 'done']);
      assert.equal(bobEvents.events.filter((e) => e.taskId === alice.json.id).length, 0);
      // A Patavi client opening the updates socket of the task it got hears the end at once.
      const updates = await watchUpdates(bob.json._links.updates.href);
      assert.equal(updates.messages.at(-1)?.eventType, 'done');
      assert.equal(updates.messages.at(-1)?.taskId, bob.json.id);
    } finally {
      bobEvents.close();
    }
    // Alice's own next submission still gets her task.
    const aliceAgain = await submit(stack.baseUrl, 'sharedplot', '{"n": 8}', { headers: keys.alice });
    assert.deepEqual([aliceAgain.json.id, aliceAgain.json.cache], [alice.json.id, { status: 'hit' }]);
  });

  test('a shared task still running for another owner is not joined: the caller\'s submission runs on its own', async () => {
    const alice = await submit(stack.baseUrl, 'sharedheld', '{"job": 1}', { headers: keys.alice });
    await held.whenStarted(1);
    const bob = await submit(stack.baseUrl, 'sharedheld', '{"job": 1}', { headers: keys.bob });
    assert.equal(bob.status, 201);
    assert.notEqual(bob.json.id, alice.json.id);
    assert.deepEqual(bob.json.cache, { status: 'miss' });
    await held.whenStarted(2);
    held.release();
    await untilDone('alice', alice.json.id);
    await untilDone('bob', bob.json.id);
    assert.deepEqual([...held.started].sort(), [alice.json.id, bob.json.id].sort());
  });
});
