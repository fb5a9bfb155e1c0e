/**
 * The production roles as separate processes against PostgreSQL and RabbitMQ: migrate, clear
 * failures when an engine is unreachable, a worker killed mid-task, and two servers started at once.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decomposeTaskId } from '../../src/core/index.ts';
import { startJanitor } from '../../src/recorder/index.ts';
import type { Backend } from '../support/backends.ts';
import { createTestDatabase, describeEachBackend, realBackend, testLogger } from '../support/backends.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { serveAddressArgs, spawnErrand } from '../support/processes.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const run = promisify(execFile);

const FIXTURE_SERVICES = fileURLToPath(new URL('../fixtures/services/', import.meta.url));
const BROKEN_SERVICES = fileURLToPath(new URL('../fixtures/broken-services/', import.meta.url));

await describeEachBackend('errand roles', () => {
  let backend: Backend;
  let stack: Stack;
  before(async () => {
    backend = await realBackend.create();
    stack = await startStack(backend);
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  test('errand migrate creates the database, applies migrations once, and serve then starts', async () => {
    const database = await createTestDatabase();
    await database.drop(); // start from no database at all
    const first = spawnErrand(['migrate', '--database-url', database.url]);
    assert.equal((await first.exited).code, 0, first.output());
    assert.match(first.output(), /created database errand_t_/);
    assert.match(first.output(), /applied 001_initial/);
    const second = spawnErrand(['migrate', '--database-url', database.url]);
    assert.equal((await second.exited).code, 0);
    assert.match(second.output(), /is up to date/);
    await database.drop();
  });

  test('an unreachable database or broker is one clear line naming what was tried', async () => {
    const noDb = spawnErrand(['serve', '--database-url', 'postgres://127.0.0.1:1/errand', '--port', '0', '--public-url', 'http://127.0.0.1:1']);
    assert.equal((await noDb.exited).code, 1);
    assert.match(noDb.output(), /^errand: cannot connect to PostgreSQL at postgres:\/\/\S*127\.0\.0\.1:1\/errand: .*ECONNREFUSED.*\n$/);
    const noBroker = spawnErrand(['worker', '--amqp-url', 'amqp://guest:guest@127.0.0.1:1', '--services', FIXTURE_SERVICES]);
    assert.equal((await noBroker.exited).code, 1);
    assert.match(noBroker.output(), /^errand: cannot connect to RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1.*\n$/);
    assert.doesNotMatch(noBroker.output(), /guest:guest/);
  });

  test('serve will not start without a way to authenticate callers (issue 12), unless --no-auth says so; a stored key is a way', async () => {
    const database = await createTestDatabase();
    try {
      const migrated = spawnErrand(['migrate', '--database-url', database.url]);
      assert.equal((await migrated.exited).code, 0, migrated.output());
      const common = ['--database-url', database.url, '--amqp-url', backend.urls!.amqp];
      const refused = spawnErrand(['serve', ...common, ...(await serveAddressArgs())]);
      assert.equal((await refused.exited).code, 1);
      assert.match(refused.output(), /^errand: serve will not start with no way to authenticate callers: [^\n]*--no-auth[^\n]*\n$/);
      const contradiction = spawnErrand(['serve', ...common, ...(await serveAddressArgs()), '--no-auth', '--api-key', 'k']);
      assert.equal((await contradiction.exited).code, 1);
      assert.match(contradiction.output(), /^errand: --no-auth serves everyone without credentials, yet --api-key is given[^\n]*\n$/);
      const key = spawnErrand(['keys', 'create', 'web', '--scope', 'submit', '--database-url', database.url]);
      assert.equal((await key.exited).code, 0, key.output());
      const keyed = spawnErrand(['serve', ...common, ...(await serveAddressArgs())]);
      try {
        const base = (await keyed.waitForLog((l) => l.msg === 'errand serving')).address as string;
        assert.equal((await fetch(`${base}/task/0123456789abcdef`)).status, 401);
      } finally {
        keyed.child.kill('SIGTERM');
        await keyed.exited;
      }
    } finally {
      await database.drop();
    }
  });

  test('serve without --public-url stops at once with one line saying what to set', async () => {
    const serve = spawnErrand(['serve', '--port', '0'], { ERRAND_PUBLIC_URL: '' });
    assert.equal((await serve.exited).code, 1);
    assert.match(serve.output(), /^errand: serve needs --public-url \(or ERRAND_PUBLIC_URL\): [^\n]*\n$/);
  });

  test('serve refuses a database whose schema is behind, saying what to run', async () => {
    const database = await createTestDatabase();
    const serve = spawnErrand(['serve', '--database-url', database.url, '--amqp-url', backend.urls!.amqp, '--port', '0', '--public-url', 'http://127.0.0.1:1']);
    assert.equal((await serve.exited).code, 1);
    assert.match(serve.output(), /^errand: the database at .* needs migrations \(001_initial, 002_console, 003_events, 004_cache, 005_running, 006_ttl_ceiling, 007_api_keys, 008_owners, 009_events_at_commit, 010_as_written, 011_task_list, 012_service_stats, 013_callbacks\): run `errand migrate` or pass --migrate\n$/);
    await database.drop();
  });

  test('a broken service manifest is reported with file and field; the other services still start', async () => {
    const worker = spawnErrand(['worker', '--amqp-url', backend.urls!.amqp, '--services', BROKEN_SERVICES]);
    try {
      const running = await worker.waitForLog((l) => l.msg === 'errand worker running');
      assert.deepEqual(running.services, ['good']);
      const problems = worker.output().split('\n').filter((l) => l.includes('service not started')).map((l) => JSON.parse(l) as { file: string; field?: string; message: string });
      const byFolder = Object.fromEntries(problems.map((p) => [p.file.split('/').at(-2), p]));
      assert.deepEqual(Object.keys(byFolder).sort(), ['bad-json', 'bad-name', 'no-run']);
      assert.equal(byFolder['bad-name']!.field, 'name');
      assert.match(byFolder['bad-name']!.message, /service name "amq\.bad" is reserved/);
      assert.match(byFolder['bad-json']!.message, /not valid JSON/);
      assert.equal(byFolder['no-run']!.field, 'entry');
      assert.match(byFolder['no-run']!.message, /does not export a function named run/);
    } finally {
      await worker.stop();
    }
  });

  test('a worker killed while running a task: the janitor queues it again for another worker, where it completes', async (t) => {
    // The task was acknowledged when it started, so only the janitor can hand it on: it does once
    // the dead worker has missed three announcements (3 s; a live worker stalled that long on a
    // busy machine would be taken for lost).
    const janitor = startJanitor({ store: backend.store, broker: backend.broker, logger: testLogger, lostCheckIntervalMs: 100, liveness: { unknownGraceMs: 2000 } });
    t.after(() => janitor.stop());
    const args = ['worker', '--amqp-url', backend.urls!.amqp, '--services', FIXTURE_SERVICES, '--announce-interval', '1000'];
    const first = spawnErrand(args);
    const firstId = (await first.waitForLog((l) => l.msg === 'errand worker running')).worker as string;
    // Held for as long as the first worker runs it, so it is still running when that one is killed.
    const { json } = await postTask(stack.baseUrl, 'hold', { holdUnder: first.child.pid });
    // Wait until the first worker has it.
    await eventually(async () => (await backend.store.getTask(json.id))?.worker === firstId, 'the first worker to start the task');
    assert.equal((await backend.store.getTask(json.id))?.status, 'running');
    // Its delivery acknowledged too (that follows the start report): from here only the janitor
    // can hand the task on. Killed before that, RabbitMQ would hand the copy to the next worker.
    const vhost = new URL(backend.urls!.amqp).pathname.slice(1);
    const unacknowledged = async () => (await run('rabbitmqctl', ['-q', 'list_queues', '-p', vhost, 'name', 'messages_unacknowledged'])).stdout;
    await eventually(async () => /^hold\t0$/m.test(await unacknowledged()), 'the first worker to acknowledge the task');
    const watching = watchUpdates(json._links.updates.href);
    first.child.kill('SIGKILL');
    await first.exited;
    const second = spawnErrand(args);
    try {
      const secondId = (await second.waitForLog((l) => l.msg === 'errand worker running')).worker as string;
      const updates = await watching;
      assert.equal(updates.messages.at(-1)!.eventType, 'done');
      const task = await backend.store.getTask(json.id);
      assert.equal(task?.status, 'done');
      assert.equal(task?.worker, secondId);
      assert.equal(task?.attempts, 2);
      assert.deepEqual(await (await fetch(`${json._links.self.href}/results`)).json(), { pid: second.child.pid });
    } finally {
      await second.stop();
    }
  });

  test('two servers started at once lease different node ids, so their task ids never collide', async () => {
    const args = ['serve', '--database-url', backend.urls!.database, '--amqp-url', backend.urls!.amqp, '--no-recorder', '--allow-unknown-services', '--no-auth'];
    const servers = [spawnErrand([...args, ...(await serveAddressArgs())]), spawnErrand([...args, ...(await serveAddressArgs())])];
    try {
      const ready = await Promise.all(servers.map((s) => s.waitForLog((l) => l.msg === 'errand serving')));
      const nodeIds = ready.map((r) => r.nodeId as number);
      assert.notEqual(nodeIds[0], nodeIds[1]);
      const submitted = await Promise.all(
        ready.flatMap((r) => Array.from({ length: 100 }, () => postTask(r.address as string, 'echo', {}))),
      );
      const ids = submitted.map((s) => s.json.id as string);
      assert.equal(new Set(ids).size, 200);
      assert.deepEqual(new Set(ids.map((id) => decomposeTaskId(id).nodeId)), new Set(nodeIds));
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
    // A clean stop releases the lease for the next server.
    const leases = await backend.db.query<{ n: number }>('SELECT count(*)::int AS n FROM node_lease WHERE holder IS NOT NULL');
    assert.equal(leases.rows[0]!.n, 0);
  });
}, [realBackend]);
