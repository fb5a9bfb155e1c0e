/** Connections that drop are re-established, and work in flight is not lost (real engines only). */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, realBackend } from '../support/backends.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { echo, gate } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { connectPostgres, createSqlStore } from '../../src/store/index.ts';

const run = promisify(execFile);

await describeEachBackend('reconnection', () => {
  let backend: Backend;
  let stack: Stack;
  const held = gate('held');
  before(async () => {
    backend = await realBackend.create();
    stack = await startStack(backend, { services: [echo(), held.definition] });
  });
  after(async () => {
    held.release();
    await stack.close();
    await backend.close();
  });

  test('after RabbitMQ drops every connection, a task in flight still completes and new ones run', async () => {
    const { json } = await postTask(stack.baseUrl, 'held', { n: 1 });
    await held.whenStarted(1);
    const vhost = new URL(backend.urls!.amqp).pathname.slice(1);
    await run('rabbitmqctl', ['-q', 'close_all_connections', '--vhost', vhost, 'test: dropping connections']);
    // The task is still running in the worker. It was acknowledged when it started, so the dead
    // channel gave nothing back to the queue; its result goes out on a new connection.
    held.release();
    // The server's feed may still be re-binding; a watcher retries as a client would.
    const ended = await eventually(async () => {
      const updates = await watchUpdates(json._links.updates.href).catch(() => undefined);
      return updates?.messages.at(-1)?.eventType === 'done' && updates;
    }, 'a done message after the reconnection');
    assert.equal(ended?.messages.at(-1)?.eventType, 'done');
    assert.deepEqual(await (await fetch(`${json._links.self.href}/results`)).json(), { n: 1 });
    assert.deepEqual(held.started, [json.id]);
    const next = await postTask(stack.baseUrl, 'echo', { after: true });
    assert.equal(next.response.status, 201);
    const updates = await watchUpdates(next.json._links.updates.href);
    assert.equal(updates.messages.at(-1)?.eventType, 'done');
  });

  test('while PostgreSQL cannot be reached, reads and writes answer 503 database_unavailable with Retry-After, then recover', async () => {
    const url = new URL(backend.urls!.database);
    const proxy = await startTcpProxy(Number(url.port || 5432), url.hostname);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const db = await connectPostgres({ url: url.toString(), poolSize: 4, connectTimeoutMs: 1000 });
    const cut = await startStack({ ...backend, store: createSqlStore(db) }, { recorder: false, nodeId: 3, settings: { allowUnknownServices: true } });
    try {
      const created = await postTask(cut.baseUrl, 'later', { x: 1 });
      assert.equal(created.response.status, 201);
      const id = created.json.id as string;
      await proxy.down();
      for (const [method, path] of [['GET', `/task/${id}`], ['GET', `/status?task=${id}`], ['GET', `/task/${id}/results`], ['POST', '/task?service=later']] as const) {
        const response = await fetch(`${cut.baseUrl}${path}`, { method, ...(method === 'POST' ? { body: '{}', headers: { 'content-type': 'application/json' } } : {}) });
        const body = await response.json() as { error: { code: string } };
        assert.equal(response.status, 503, `${method} ${path}`);
        assert.equal(body.error.code, 'database_unavailable', `${method} ${path}`);
        assert.equal(response.headers.get('retry-after'), '5');
      }
      await proxy.up();
      const task = await eventually(async () => {
        const response = await fetch(`${cut.baseUrl}/task/${id}`);
        return response.status === 200 && (await response.json() as { id: string });
      }, 'reads to work again once PostgreSQL is back');
      assert.equal(task.id, id);
    } finally {
      await cut.close();
      await db.close();
      await proxy.close();
    }
  });

  test('a connection that drops inside a transaction fails that transaction only: nothing crashes, the pool goes on', async () => {
    const transaction = backend.db.transaction(async (tx) => {
      const pid = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      await backend.db.query('SELECT pg_terminate_backend($1)', [pid]);
      // The drop reaches the client while it is checked out and idle (an 'error' event with,
      // until this was fixed, no listener: an uncaught exception that ended the process).
      await new Promise((resolve) => setTimeout(resolve, 200));
      await tx.query('SELECT 1');
    });
    await assert.rejects(transaction);
    for (let i = 0; i < 12; i++) assert.equal((await backend.db.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n, 1);
  });

  test("after PostgreSQL ends every connection of Errand's pool, requests and results go on", async () => {
    await backend.db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
    let created: Awaited<ReturnType<typeof postTask>> | undefined;
    // The terminated idle connections are dropped by the pool; at most the first use of one fails.
    for (let attempt = 0; attempt < 5 && created?.response.status !== 201; attempt++) {
      created = await postTask(stack.baseUrl, 'echo', { db: 'back' });
    }
    assert.equal(created?.response.status, 201);
    const id = created!.json.id as string;
    const updates = await watchUpdates(`${stack.baseUrl.replace('http', 'ws')}/task/${id}/updates`);
    assert.equal(updates.messages.at(-1)?.eventType, 'done');
  });
}, [realBackend]);
