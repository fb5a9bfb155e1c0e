/**
 * Health, readiness and metrics of the real roles (issue 14), as processes on PostgreSQL and
 * RabbitMQ: a worker and a recorder serve /health, /ready and /metrics on --metrics-port; `errand
 * serve` answers /ready 503 from SIGTERM on, while it still serves, and only then stops
 * listening. Also the flags, and a --metrics-port already taken.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readConfig } from '../../src/cli/config.ts';
import { ErrandError } from '../../src/core/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, realBackend } from '../support/backends.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { scrape } from '../support/metrics.ts';
import { serveAddressArgs, spawnErrand, stopAll } from '../support/processes.ts';
import type { RunningErrand } from '../support/processes.ts';
import { echo } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const FIXTURE_SERVICES = fileURLToPath(new URL('../fixtures/services/', import.meta.url));

/** The --metrics-port listener's address, from the line the role logs. */
async function monitorUrl(role: RunningErrand): Promise<string> {
  return (await role.waitForLog((l) => l.msg === 'health, readiness and metrics listening', 60_000)).address as string;
}

async function getJson(url: string): Promise<{ status: number; body: any }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json() };
}

await describeEachBackend('roles with --metrics-port', () => {
  let backend: Backend;
  let stack: Stack;
  const processes: RunningErrand[] = [];
  before(async () => {
    backend = await realBackend.create();
    // A server and a worker of echo, but no recorder: the recorder under test is the only one.
    stack = await startStack(backend, { recorder: false, services: [echo()] });
  });
  after(async () => {
    await stopAll(processes);
    await stack.close();
    await backend.close();
  });

  test('a worker serves /health, /ready (no database check) and /metrics with its executor pools; other paths and methods are refused in Errand\'s shape', async () => {
    const worker = spawnErrand(['worker', '--amqp-url', backend.urls!.amqp, '--services', FIXTURE_SERVICES, '--metrics-port', '0']);
    processes.push(worker);
    const url = await monitorUrl(worker);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.deepEqual(await getJson(`${url}/health`), { status: 200, body: { status: 'ok' } });
    const ready = await eventually(async () => {
      const answer = await getJson(`${url}/ready`);
      return answer.status === 200 && answer;
    }, 'the worker to be ready', 60_000);
    assert.deepEqual(Object.keys(ready.body.checks), ['lifecycle', 'rabbitmq', 'consumers']);
    const samples = await scrape(`${url}/metrics`);
    assert.equal(samples.get('errand_info{role="worker",version="0.1.0"}'), 1);
    assert.equal(samples.get('errand_executor_process_starts_total{service="hold",runtime="node"}'), 1);
    assert.equal(samples.get('errand_rabbitmq_up'), 1);
    assert.equal(samples.get('errand_ready'), 1);
    assert.equal(samples.get('errand_postgres_up'), undefined, 'a worker has no database');
    assert.ok([...samples.keys()].some((k) => k.startsWith('process_cpu_seconds_total')), 'Node\'s process metrics');
    assert.deepEqual(await getJson(`${url}/nope`), { status: 404, body: { error: { code: 'not_found', message: 'no route GET /nope: this listener serves /health, /ready and /metrics' } } });
    const post = await fetch(`${url}/ready`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    assert.equal(((await post.json()) as { error: { code: string } }).error.code, 'method_not_allowed');
  });

  test('a recorder serves /ready with its database checks, and /metrics counts exactly the results it recorded', async () => {
    const recorder = spawnErrand(['recorder', '--database-url', backend.urls!.database, '--amqp-url', backend.urls!.amqp, '--public-url', stack.baseUrl, '--metrics-port', '0']);
    processes.push(recorder);
    const url = await monitorUrl(recorder);
    // The janitor's ear on the registry channel is set up just after the recorder says it runs.
    const ready = await eventually(async () => {
      const answer = await getJson(`${url}/ready`);
      return answer.status === 200 && answer;
    }, 'the recorder to be ready', 60_000);
    assert.deepEqual(Object.keys(ready.body.checks), ['lifecycle', 'postgres', 'schema', 'rabbitmq', 'consumers']);
    for (let i = 0; i < 3; i++) {
      const { json } = await postTask(stack.baseUrl, 'echo', { i });
      assert.equal((await watchUpdates(json._links.updates.href)).messages.at(-1)?.eventType, 'done');
    }
    const samples = await scrape(`${url}/metrics`);
    assert.equal(samples.get('errand_results_recorded_total{service="echo",status="done"}'), 3);
    assert.equal(samples.get('errand_events_written_total{type="done"}'), 3);
    assert.equal(samples.get('errand_task_attempts_total{service="echo"}'), 3);
    assert.equal(samples.get('errand_events_written_total{type="queued"}'), undefined, 'the server writes those');
    assert.deepEqual([samples.get('errand_postgres_up'), samples.get('errand_rabbitmq_up'), samples.get('errand_ready')], [1, 1, 1]);
  });

  test('errand serve on SIGTERM: /ready answers 503 (lifecycle) while the server still serves, then it stops listening and exits 0', async () => {
    const args = await serveAddressArgs();
    const serve = spawnErrand(['serve', '--database-url', backend.urls!.database, '--amqp-url', backend.urls!.amqp, '--no-auth', '--no-recorder', '--drain-delay', '4000', ...args]);
    processes.push(serve);
    const base = (await serve.waitForLog((l) => l.msg === 'errand serving', 60_000)).address as string;
    assert.equal((await getJson(`${base}/ready`)).status, 200);
    serve.child.kill('SIGTERM');
    // What the load balancer sees, probe after probe, until the port is closed: `not_ready` is
    // Errand's 503, `closing` Fastify's own for a request that reaches a server already closing.
    const seen: string[] = [];
    for (;;) {
      let seenNow: string;
      try {
        const answer = await getJson(`${base}/ready`);
        seenNow = answer.status === 503 ? (answer.body.error?.code === 'not_ready' ? 'not_ready' : 'closing') : String(answer.status);
        if (seenNow === 'not_ready') {
          assert.equal(answer.body.error.field, 'lifecycle');
          assert.equal(answer.body.error.message, 'not ready: lifecycle: shutting down: this serve takes no new work');
          // Everything else is still served meanwhile.
          assert.equal((await fetch(`${base}/health`)).status, 200);
        }
      } catch {
        seenNow = 'refused';
      }
      if (seen.at(-1) !== seenNow) seen.push(seenNow);
      if (seenNow === 'refused') break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // A 200 may come before the signal is handled, never after the first 503.
    const drained = seen.slice(seen.indexOf('not_ready'));
    assert.ok(seen.includes('not_ready') && drained.every((s) => s !== '200') && drained.at(-1) === 'refused', seen.join(' '));
    assert.deepEqual(await serve.exited, { code: 0, signal: null });
    assert.ok(serve.output().includes('"drainDelayMs":4000'), 'the drain is logged');
  });

  test('a --metrics-port already taken stops the role at start with one line naming the flag', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const worker = spawnErrand(['worker', '--amqp-url', backend.urls!.amqp, '--services', FIXTURE_SERVICES, '--metrics-port', String(port)]);
      assert.equal((await worker.exited).code, 1);
      assert.match(worker.output(), new RegExp(`^errand: --metrics-port: cannot listen on 127\\.0\\.0\\.1:${port}: listen EADDRINUSE[^\\n]*\\n$`));
    } finally {
      taken.close();
    }
  });
}, [realBackend]);

describe('health and metrics flags', () => {
  test('defaults: no extra listener, 127.0.0.1, serve drains 5 s and the other roles not at all, 2 s ready timeout, 200 services', () => {
    const serve = readConfig(['serve', '--public-url', 'https://errand.example.org'], {}).config;
    assert.deepEqual([serve.metricsPort, serve.metricsHost, serve.drainDelayMs, serve.readyTimeoutMs, serve.metricsMaxServices], [undefined, '127.0.0.1', 5000, 2000, 200]);
    assert.equal(readConfig(['dev'], {}).config.drainDelayMs, 0);
    assert.equal(readConfig(['worker'], {}).config.drainDelayMs, 0);
    const env = { ERRAND_METRICS_PORT: '9400', ERRAND_METRICS_HOST: '0.0.0.0', ERRAND_DRAIN_DELAY: '15000', ERRAND_READY_TIMEOUT: '500', ERRAND_METRICS_MAX_SERVICES: '20' };
    const set = readConfig(['worker', '--metrics-port', '9401'], env).config;
    assert.deepEqual([set.metricsPort, set.metricsHost, set.drainDelayMs, set.readyTimeoutMs, set.metricsMaxServices], [9401, '0.0.0.0', 15000, 500, 20]);
  });

  test('a bad value is refused naming its flag', () => {
    for (const [flag, value] of [['metrics-port', '70000'], ['metrics-port', 'nine'], ['drain-delay', '-1'], ['ready-timeout', '10'], ['metrics-max-services', '0']] as const) {
      assert.throws(() => readConfig([`worker`, `--${flag}=${value}`], {}), (err: unknown) => err instanceof ErrandError && err.code === 'invalid_field' && err.field === flag, `--${flag} ${value}`);
    }
  });
});
