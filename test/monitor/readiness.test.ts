/**
 * GET /ready (issue 14): 200 with its checks when the role is up; 503 in Errand's error shape
 * naming the check that failed when PostgreSQL cannot be reached, its schema is behind, RabbitMQ
 * dropped the connection (and will not take it back yet) or the process is starting or stopping;
 * back to 200 once the cause is gone. On both backends where both apply; the outages on the real
 * engines, as reconnect.test.ts makes them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { createMemoryBroker } from '../../src/broker/index.ts';
import { createReadiness, readyAnswer } from '../../src/monitor/index.ts';
import { connectPostgres, createSqlStore } from '../../src/store/index.ts';
import type { Backend } from '../support/backends.ts';
import { createTestDatabase, describeEachBackend, realBackend } from '../support/backends.ts';
import { echo } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { eventually } from '../support/wait.ts';

const run = promisify(execFile);

interface ReadyBody { status?: string; error?: { code: string; message: string; field?: string }; checks: Record<string, { ok: boolean; message?: string }> }

async function ready(baseUrl: string): Promise<{ status: number; body: ReadyBody; retryAfter: string | null }> {
  const response = await fetch(`${baseUrl}/ready`);
  return { status: response.status, body: (await response.json()) as ReadyBody, retryAfter: response.headers.get('retry-after') };
}

await describeEachBackend('readiness', (kind) => {
  let backend: Backend;
  let stack: Stack;
  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { services: [echo()] });
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  test('a server that is up answers /ready 200 with every check, and /health 200', async () => {
    const { status, body } = await ready(stack.baseUrl);
    assert.equal(status, 200);
    assert.equal(body.status, 'ready');
    assert.deepEqual(Object.keys(body.checks), ['lifecycle', 'postgres', 'schema', 'rabbitmq', 'consumers']);
    assert.ok(Object.values(body.checks).every((c) => c.ok), JSON.stringify(body));
    // The server's own consumers (events, control, registry) and the stack's recorder and worker.
    assert.match(body.checks.consumers!.message!, /^\d+ consuming$/);
    const health = await fetch(`${stack.baseUrl}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    assert.equal(health.headers.get('cache-control'), 'no-store');
    // The older route keeps its shape.
    assert.equal(((await (await fetch(`${stack.baseUrl}/healthz`)).json()) as { status: string }).status, 'ok');
  });
});

await describeEachBackend('readiness through outages', () => {
  let backend: Backend;
  before(async () => { backend = await realBackend.create(); });
  after(() => backend.close());

  test('PostgreSQL unreachable: 503 not_ready naming postgres (the schema not checked), then 200 once it is back', async () => {
    const url = new URL(backend.urls!.database);
    const proxy = await startTcpProxy(Number(url.port || 5432), url.hostname);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const db = await connectPostgres({ url: url.toString(), poolSize: 2, connectTimeoutMs: 1000 });
    const cut = await startStack({ ...backend, store: createSqlStore(db) }, { recorder: false, nodeId: 3 });
    try {
      assert.equal((await ready(cut.baseUrl)).status, 200);
      await proxy.down();
      const down = await ready(cut.baseUrl);
      assert.equal(down.status, 503);
      assert.equal(down.retryAfter, '5');
      assert.equal(down.body.error?.code, 'not_ready');
      assert.equal(down.body.error?.field, 'postgres');
      assert.match(down.body.error!.message, /^not ready: postgres: .*; schema: not checked: PostgreSQL did not answer$/);
      assert.deepEqual({ ...down.body.checks, postgres: { ok: down.body.checks.postgres!.ok } }, {
        lifecycle: { ok: true }, postgres: { ok: false }, schema: { ok: false, message: 'not checked: PostgreSQL did not answer' },
        rabbitmq: { ok: true }, consumers: down.body.checks.consumers,
      });
      await proxy.up();
      await eventually(async () => (await ready(cut.baseUrl)).status === 200, '/ready to answer 200 again');
    } finally {
      await cut.close();
      await db.close();
      await proxy.close();
    }
  });

  test('RabbitMQ drops the connection and refuses it back: 503 naming rabbitmq, consumers not consuming; 200 once it takes it back', async () => {
    const stack = await startStack(backend, { services: [echo()], nodeId: 4 });
    const vhost = new URL(backend.urls!.amqp).pathname.slice(1);
    try {
      assert.equal((await ready(stack.baseUrl)).status, 200);
      // Without permissions the client's reconnects are refused, so the outage lasts until they are back.
      await run('rabbitmqctl', ['-q', 'clear_permissions', '-p', vhost, 'guest']);
      await run('rabbitmqctl', ['-q', 'close_all_connections', '--vhost', vhost, 'test: readiness']);
      const down = await eventually(async () => {
        const answer = await ready(stack.baseUrl);
        return answer.status === 503 && answer;
      }, '/ready to answer 503');
      assert.equal(down.body.error?.code, 'not_ready');
      assert.equal(down.body.error?.field, 'rabbitmq');
      assert.match(down.body.checks.rabbitmq!.message!, /^connection lost \(.+\); reconnecting$/);
      assert.equal(down.body.checks.consumers!.ok, false);
      assert.match(down.body.checks.consumers!.message!, /^not consuming: .*\becho\b/);
      assert.equal(down.body.checks.postgres!.ok, true);
      await run('rabbitmqctl', ['-q', 'set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*']);
      const back = await eventually(async () => {
        const answer = await ready(stack.baseUrl);
        return answer.status === 200 && answer;
      }, '/ready to answer 200 again', 60_000);
      assert.ok(back.body.checks.consumers!.ok);
    } finally {
      await run('rabbitmqctl', ['-q', 'set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*']);
      await stack.close();
    }
  });

  test('a database whose schema is behind: 503 naming schema with the migrations it lacks', async () => {
    const database = await createTestDatabase();
    const db = await connectPostgres({ url: database.url, poolSize: 1 });
    try {
      const readiness = createReadiness({ timeoutMs: 2000, role: 'recorder' });
      readiness.use({ store: createSqlStore(db) });
      readiness.started();
      const { status, body } = readyAnswer(await readiness.check());
      assert.equal(status, 503);
      const error = (body as ReadyBody).error!;
      assert.equal(error.field, 'schema');
      assert.match(error.message, /^not ready: schema: the database lacks \d+ migration\(s\) this version needs: 001_initial, 002_console, .* \(run errand migrate\)$/);
      assert.deepEqual((body as ReadyBody).checks.postgres, { ok: true });
    } finally {
      await db.close();
      await database.drop();
    }
  });
}, [realBackend]);

describe('readiness, on its own', () => {
  test('starting, then running, then stopping: 503 naming lifecycle, 200, 503 naming lifecycle; a worker has no database check', async () => {
    const broker = createMemoryBroker();
    const readiness = createReadiness({ timeoutMs: 2000, role: 'worker' });
    readiness.use({ broker });
    const starting = readyAnswer(await readiness.check());
    assert.deepEqual(starting, { status: 503, body: {
      error: { code: 'not_ready', message: 'not ready: lifecycle: starting: this worker is not up yet', field: 'lifecycle' },
      checks: { lifecycle: { ok: false, message: 'starting: this worker is not up yet' }, rabbitmq: { ok: true }, consumers: { ok: true, message: '0 consuming' } },
    } });
    await broker.consume('echo', async () => 'ack', { prefetch: 1 });
    readiness.started();
    assert.deepEqual(readyAnswer(await readiness.check()), { status: 200, body: { status: 'ready', checks: { lifecycle: { ok: true }, rabbitmq: { ok: true }, consumers: { ok: true, message: '1 consuming' } } } });
    readiness.stopping();
    assert.deepEqual(readyAnswer(await readiness.check()), { status: 503, body: {
      error: { code: 'not_ready', message: 'not ready: lifecycle: shutting down: this worker takes no new work', field: 'lifecycle' },
      checks: { lifecycle: { ok: false, message: 'shutting down: this worker takes no new work' } },
    } });
    await broker.close();
  });

  test('a database that does not answer within --ready-timeout counts as unreachable; overlapping checks share one query', async () => {
    let asked = 0;
    const readiness = createReadiness({ timeoutMs: 200, role: 'server' });
    readiness.use({ store: { schemaStatus: () => { asked++; return new Promise(() => undefined); } } });
    readiness.started();
    const [a, b] = await Promise.all([readiness.check(), readiness.check()]);
    assert.equal(a, b);
    assert.equal(asked, 1);
    assert.deepEqual(a.checks.postgres, { ok: false, message: 'PostgreSQL did not answer within 200 ms' });
  });

  test('an in-process broker that was closed is not connected', async () => {
    const broker = createMemoryBroker();
    await broker.close();
    const readiness = createReadiness({ timeoutMs: 2000, role: 'dev' });
    readiness.use({ broker });
    readiness.started();
    const { checks } = await readiness.check();
    assert.deepEqual(checks.rabbitmq, { ok: false, message: 'the in-process broker is closed' });
  });
});
