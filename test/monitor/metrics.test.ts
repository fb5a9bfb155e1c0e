/**
 * Prometheus metrics (issue 14) as a scrape shows them, on both backends: after N tasks each count
 * grew by exactly N, under the expected names and labels, and no label holds a task id; the result
 * cache, lost workers, open streams and executor pools are counted; /metrics is an operator's
 * once callers must sign in; service labels are capped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashApiKey, newApiKey, RESULT_QUEUE, RUN_HEADER, STARTED_TYPE, WORKER_HEADER } from '../../src/core/index.ts';
import { createEventPublisher } from '../../src/broker/index.ts';
import type { Broker } from '../../src/broker/index.ts';
import { createMetrics, executorMetrics, instrumentPublisher, lostWorkerCounts, OTHER_SERVICES, resultCounts } from '../../src/monitor/index.ts';
import type { Metrics } from '../../src/monitor/index.ts';
import { startJanitor } from '../../src/recorder/index.ts';
import type { Janitor } from '../../src/recorder/index.ts';
import { startNodePool } from '../../src/worker/executors/node.ts';
import { inlineManifest } from '../../src/core/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, embeddedBackend, testLogger } from '../support/backends.ts';
import { readEventSource, readEventSocket } from '../support/event-clients.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { growth, parseMetrics, scrape } from '../support/metrics.ts';
import { echo, service } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const NODE_FIXTURES = fileURLToPath(new URL('../fixtures/node/', import.meta.url));

const newMetrics = (maxServices = 200): Metrics => createMetrics({ role: 'test', version: '0.0.0-test', maxServices });

/** A worker that reports the start of every task of `queue`, then is never heard from again. */
async function vanishingWorker(broker: Broker, queue: string) {
  let taken = 0;
  await broker.declareQueue(queue);
  return broker.consume(queue, async (delivery) => {
    taken++;
    await broker.send(RESULT_QUEUE, Buffer.from(JSON.stringify({ worker: 'ghost' })), {
      correlationId: delivery.properties.correlationId!, contentType: 'application/json', type: STARTED_TYPE,
      headers: { [RUN_HEADER]: `ghost-run-${taken}`, [WORKER_HEADER]: `ghost-${taken}` },
    });
    return 'ack';
  }, { prefetch: 1 });
}

await describeEachBackend('metrics', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let metrics: Metrics;
  let janitor: Janitor;
  const cached = service('cached', (input) => input, 2, { cache: { enabled: true, lifetime: 'PT1H', shared: false } });
  before(async () => {
    backend = await kind.create();
    metrics = newMetrics();
    stack = await startStack(backend, { services: [echo(), cached], metrics, settings: { allowUnknownServices: true } });
    // The janitor of `errand serve`, counting into the same registry through the same kind of pipeline.
    const publisher = instrumentPublisher(createEventPublisher(backend.broker, testLogger, { publicUrl: stack.baseUrl }), metrics);
    janitor = startJanitor({ store: backend.store, broker: backend.broker, logger: testLogger, publisher, maxAttempts: 3, lostCheckIntervalMs: 100, liveness: { unknownGraceMs: 500, goodbyeGraceMs: 500 }, observer: lostWorkerCounts(metrics) });
  });
  after(async () => {
    await janitor.stop();
    await stack.close();
    await backend.close();
  });

  test('after 5 tasks every count grew by exactly 5, by route pattern and service; no label holds a task id', async () => {
    const url = `${stack.baseUrl}/metrics`;
    const keys = [
      'errand_http_request_duration_seconds_count{route="/task",method="POST",status="2xx"}',
      'errand_http_request_duration_seconds_count{route="/task/:id",method="GET",status="2xx"}',
      'errand_events_written_total{type="queued"}',
      'errand_events_written_total{type="started"}',
      'errand_events_written_total{type="done"}',
      'errand_task_attempts_total{service="echo"}',
      'errand_task_retries_total{service="echo"}',
      'errand_results_recorded_total{service="echo",status="done"}',
    ];
    const before = await scrape(url);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { response, json } = await postTask(stack.baseUrl, 'echo', { i });
      assert.equal(response.status, 201);
      ids.push(json.id as string);
      assert.equal((await watchUpdates(json._links.updates.href)).messages.at(-1)?.eventType, 'done');
      assert.equal((await fetch(json._links.self.href)).status, 200);
    }
    // The hub hands each event to watchers once: 3 per task (queued, started, done).
    const lag = 'errand_event_delivery_lag_seconds_count';
    const delivered = await eventually(async () => {
      const now = await scrape(url);
      return (now.get(lag) ?? 0) - (before.get(lag) ?? 0) >= 15 && now;
    }, 'the 15 events to be delivered');
    assert.equal((delivered.get(lag) ?? 0) - (before.get(lag) ?? 0), 15);
    const text = await (await fetch(url)).text();
    const after = parseMetrics(text);
    assert.deepEqual(growth(before, after, keys), Object.fromEntries(keys.map((k) => [k, k.includes('retries') ? 0 : 5])));
    for (const id of ids) assert.ok(!text.includes(id), `task id ${id} in /metrics`);
    assert.ok(![...after.keys()].some((k) => k.includes('route="/task/0')), 'a raw URL as a route label');
    assert.equal(after.get('errand_info{role="test",version="0.0.0-test"}'), 1);
    // The buckets hold every observation.
    assert.equal(after.get('errand_http_request_duration_seconds_bucket{le="+Inf",route="/task",method="POST",status="2xx"}'), after.get(keys[0]!));
  });

  test('requests no route matches share one label value; errors count by status class', async () => {
    const before = await scrape(`${stack.baseUrl}/metrics`);
    assert.equal((await fetch(`${stack.baseUrl}/no/such/${'x'.repeat(20)}`)).status, 404);
    assert.equal((await fetch(`${stack.baseUrl}/task/not-an-id`)).status, 400);
    const after = await scrape(`${stack.baseUrl}/metrics`);
    assert.deepEqual(growth(before, after, [
      'errand_http_request_duration_seconds_count{route="unmatched",method="GET",status="4xx"}',
      'errand_http_request_duration_seconds_count{route="/task/:id",method="GET",status="4xx"}',
    ]), {
      'errand_http_request_duration_seconds_count{route="unmatched",method="GET",status="4xx"}': 1,
      'errand_http_request_duration_seconds_count{route="/task/:id",method="GET",status="4xx"}': 1,
    });
  });

  test('the result cache: a miss, a hit and a bypass, each counted once by service', async () => {
    const before = await scrape(`${stack.baseUrl}/metrics`);
    const first = await postTask(stack.baseUrl, 'cached', { n: 1 });
    assert.equal(first.json.cache.status, 'miss');
    await watchUpdates(first.json._links.updates.href);
    assert.equal((await postTask(stack.baseUrl, 'cached', { n: 1 })).json.cache.status, 'hit');
    const fresh = await fetch(`${stack.baseUrl}/task?service=cached&cache=false`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
    assert.equal(((await fresh.json()) as { cache: { status: string } }).cache.status, 'bypass');
    const after = await scrape(`${stack.baseUrl}/metrics`);
    assert.deepEqual(growth(before, after, ['hit', 'joined', 'miss', 'bypass'].map((o) => `errand_cache_lookups_total{service="cached",outcome="${o}"}`)), {
      'errand_cache_lookups_total{service="cached",outcome="hit"}': 1,
      'errand_cache_lookups_total{service="cached",outcome="joined"}': 0,
      'errand_cache_lookups_total{service="cached",outcome="miss"}': 1,
      'errand_cache_lookups_total{service="cached",outcome="bypass"}': 1,
    });
  });

  test('a task whose worker vanishes three times: two requeued, one failed worker_lost, three attempts, two retries', async () => {
    const before = await scrape(`${stack.baseUrl}/metrics`);
    const ghost = await vanishingWorker(backend.broker, 'doomed');
    try {
      const { json } = await postTask(stack.baseUrl, 'doomed', { x: 1 });
      assert.equal((await watchUpdates(json._links.updates.href)).messages.at(-1)?.eventType, 'failed');
    } finally {
      await ghost.close();
    }
    const after = await scrape(`${stack.baseUrl}/metrics`);
    assert.deepEqual(growth(before, after, [
      'errand_lost_worker_tasks_total{service="doomed",outcome="requeued"}',
      'errand_lost_worker_tasks_total{service="doomed",outcome="failed"}',
      'errand_task_attempts_total{service="doomed"}',
      'errand_task_retries_total{service="doomed"}',
    ]), {
      'errand_lost_worker_tasks_total{service="doomed",outcome="requeued"}': 2,
      'errand_lost_worker_tasks_total{service="doomed",outcome="failed"}': 1,
      'errand_task_attempts_total{service="doomed"}': 3,
      'errand_task_retries_total{service="doomed"}': 2,
    });
  });

  test('open WebSockets and SSE streams are a gauge, and their lifetimes are not request durations', async () => {
    const open = (samples: Map<string, number>) => [samples.get('errand_open_streams{kind="websocket"}'), samples.get('errand_open_streams{kind="sse"}')];
    assert.deepEqual(open(await scrape(`${stack.baseUrl}/metrics`)), [0, 0]);
    const socket = readEventSocket(`${stack.baseUrl.replace('http', 'ws')}/events`, {});
    const source = readEventSource(`${stack.baseUrl}/events`);
    assert.equal(await source.status, 200);
    await eventually(async () => JSON.stringify(open(await scrape(`${stack.baseUrl}/metrics`))) === '[1,1]', 'one of each open');
    socket.close();
    source.close();
    const after = await eventually(async () => {
      const samples = await scrape(`${stack.baseUrl}/metrics`);
      return JSON.stringify(open(samples)) === '[0,0]' && samples;
    }, 'both closed');
    assert.ok(![...after.keys()].some((k) => k.startsWith('errand_http_request_duration_seconds') && k.includes('route="/events"')), 'a stream timed as a request');
  });
});

describe('metrics, on their own', () => {
  test('past --metrics-max-services, further service names are counted as _other', async () => {
    const metrics = newMetrics(2);
    assert.deepEqual(['a', 'b', 'c', 'a', 'd', 'b'].map((s) => metrics.service(s)), ['a', 'b', OTHER_SERVICES, 'a', OTHER_SERVICES, 'b']);
    const results = resultCounts(metrics);
    for (const name of ['a', 'x', 'y', 'z', 'a']) results.recorded(name, 'done');
    results.recorded('w', 'failed');
    const samples = [...parseMetrics((await metrics.text()).body)].filter(([k]) => k.startsWith('errand_results_recorded_total'));
    assert.deepEqual(samples, [
      ['errand_results_recorded_total{service="a",status="done"}', 2],
      ['errand_results_recorded_total{service="_other",status="done"}', 3],
      ['errand_results_recorded_total{service="_other",status="failed"}', 1],
    ]);
  });

  test('a figure read at scrape time that fails leaves its family empty; the rest is served', async () => {
    const metrics = newMetrics();
    metrics.readAtScrape({ name: 'errand_test_broken', help: 'fails', labelNames: [] }, () => { throw new Error('away'); });
    metrics.readAtScrape({ name: 'errand_test_depth', help: 'works', labelNames: ['service'] }, async () => [{ labels: { service: 'echo' }, value: 7 }]);
    const samples = parseMetrics((await metrics.text()).body);
    assert.equal(samples.get('errand_test_depth{service="echo"}'), 7);
    assert.ok(![...samples.keys()].some((k) => k.startsWith('errand_test_broken')));
    assert.throws(() => metrics.readAtScrape({ name: 'errand_test_depth', help: 'again', labelNames: [] }, () => []), /already registered/);
  });

  test('a Node service\'s pool: its process starts, crashes and restarts, read from the pool', async () => {
    const metrics = newMetrics();
    const pool = await startNodePool({ entryPath: join(NODE_FIXTURES, 'gather.ts'), service: 'gather', maxProcesses: 2, logger: testLogger });
    try {
      executorMetrics(metrics, [{ name: 'gather', manifest: inlineManifest('gather', { runtime: 'node' }), executor: pool }, echo()]);
      const read = async () => parseMetrics((await metrics.text()).body);
      const labels = '{service="gather",runtime="node"}';
      let samples = await read();
      assert.deepEqual([samples.get(`errand_executor_process_starts_total${labels}`), samples.get(`errand_executor_process_crashes_total${labels}`), samples.get(`errand_executor_process_restarts_total${labels}`)], [1, 0, 0]);
      assert.equal(samples.get('errand_executor_processes{service="gather",runtime="node",state="idle"}'), 1);
      assert.ok(![...samples.keys()].some((k) => k.includes('service="echo"')), 'a service without a pool reports nothing');
      const progress: Array<{ pid: number }> = [];
      const running = pool.run({ taskId: '00000000000003a0', service: 'gather', input: { action: 'sleep', seconds: 120 }, signal: new AbortController().signal, progress: (p) => progress.push(p as { pid: number }) });
      await eventually(() => progress.length === 1, 'the task to run');
      process.kill(progress[0]!.pid, 'SIGKILL');
      assert.equal((await running).status, 'failed');
      await eventually(() => pool.stats().started === 2, 'a replacement process');
      samples = await read();
      assert.deepEqual([samples.get(`errand_executor_process_starts_total${labels}`), samples.get(`errand_executor_process_crashes_total${labels}`), samples.get(`errand_executor_process_restarts_total${labels}`)], [2, 1, 1]);
    } finally {
      await pool.close();
    }
  });
});

await describeEachBackend('/metrics with authentication on', () => {
  let backend: Backend;
  let stack: Stack;
  const reader = newApiKey();
  before(async () => {
    backend = await embeddedBackend.create();
    await backend.store.createApiKey({ name: 'reader', scopes: ['read', 'submit'], secretSha256: hashApiKey(reader), expires: null });
    stack = await startStack(backend, {
      metrics: newMetrics(),
      settings: { auth: { required: true, single: { key: 'k-operator', name: 'ops', scopes: ['read:all'] } } },
    });
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  test('needs read:all or admin: 401 without a credential, 403 with a reader\'s, 200 with an operator\'s; /health and /ready answer anyone', async () => {
    const none = await fetch(`${stack.baseUrl}/metrics`);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'unauthorized');
    const user = await fetch(`${stack.baseUrl}/metrics`, { headers: { authorization: `Bearer ${reader}` } });
    assert.equal(user.status, 403);
    assert.deepEqual(await user.json(), { error: { code: 'forbidden', message: 'key:reader may not read metrics: that needs read:all or admin' } });
    const operator = await fetch(`${stack.baseUrl}/metrics`, { headers: { authorization: 'Bearer k-operator' } });
    assert.equal(operator.status, 200);
    assert.match(operator.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(await operator.text(), /^# HELP errand_info /m);
    assert.equal((await fetch(`${stack.baseUrl}/health`)).status, 200);
    assert.equal((await fetch(`${stack.baseUrl}/ready`)).status, 200);
  });
}, [embeddedBackend]);
