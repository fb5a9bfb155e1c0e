/**
 * Statements kept prepared (sql-client.ts `prepared`): they answer as their text does, for every
 * call's values (the generic plan PostgreSQL settles on after five calls included), PostgreSQL
 * really holds them by name, and one whose result columns a migration changed keeps answering.
 */
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { connectPostgres, DatabaseError, prepared } from '../../src/store/index.ts';
import type { SqlClient } from '../../src/store/index.ts';
import type { Backend } from '../support/backends.ts';
import { BACKENDS, describeEachBackend, realBackend } from '../support/backends.ts';
import { eventually } from '../support/wait.ts';
import { isErrandError } from '../../src/core/index.ts';

const BY_N = prepared('SELECT n, label FROM prepared_probe WHERE n = $1');
const BY_RANGE = prepared('SELECT count(*)::int AS c FROM prepared_probe WHERE n >= $1 AND n < $2');

async function fill(db: SqlClient): Promise<void> {
  await db.exec(`CREATE TABLE prepared_probe (n int PRIMARY KEY, label text NOT NULL);
    INSERT INTO prepared_probe SELECT g, 'row ' || g FROM generate_series(1, 1000) g;`);
}

await describeEachBackend('prepared statements', (kind) => {
  let backend: Backend;
  before(async () => {
    backend = await kind.create();
    await fill(backend.db);
  });
  after(async () => { await backend.close(); });

  test('answer as their text does, for each call\'s values, past the calls after which a generic plan may be used', async () => {
    for (let n = 1; n <= 20; n++) {
      assert.deepEqual((await backend.db.query(BY_N, [n * 37])).rows, [{ n: n * 37, label: `row ${n * 37}` }]);
      // A range that matches almost nothing, then almost everything: the counts follow the values.
      const [from, to] = n % 2 === 0 ? [990, 992] : [1, 1000];
      assert.deepEqual((await backend.db.query(BY_RANGE, [from, to])).rows, [{ c: to - from }]);
    }
    await backend.db.transaction(async (tx) => {
      assert.deepEqual((await tx.query(BY_N, [5])).rows, [{ n: 5, label: 'row 5' }]);
    });
  });

  test('one name per text, the same object for the same text', () => {
    assert.equal(prepared('SELECT n, label FROM prepared_probe WHERE n = $1'), BY_N);
    assert.notEqual(BY_N.name, BY_RANGE.name);
  });
}, BACKENDS);

await describeEachBackend('prepared statements on PostgreSQL', () => {
  let backend: Backend;
  let one: SqlClient;
  before(async () => {
    backend = await realBackend.create();
    await fill(backend.db);
    // One connection, so that the statements below see the session that prepared them.
    one = await connectPostgres({ url: backend.urls!.database, poolSize: 1 });
  });
  after(async () => {
    await one.close();
    await backend.close();
  });

  test('PostgreSQL holds them by name on the connection; plain text is not held', async () => {
    await one.query(BY_N, [1]);
    await one.query('SELECT n FROM prepared_probe WHERE n = $1', [2]);
    const held = (await one.query<{ name: string; statement: string }>('SELECT name, statement FROM pg_prepared_statements')).rows;
    assert.deepEqual(held, [{ name: BY_N.name, statement: BY_N.text }]);
  });

  test('a migration that changes their result columns does not break them: the call answers, the stale connection is replaced', async () => {
    await one.query(BY_N, [3]);
    await one.exec('ALTER TABLE prepared_probe ALTER COLUMN label TYPE varchar(40)');
    assert.deepEqual((await one.query(BY_N, [3])).rows, [{ n: 3, label: 'row 3' }]);
    // The connection that held the stale statement is gone: a fresh one prepares it again.
    assert.deepEqual((await one.query(BY_N, [4])).rows, [{ n: 4, label: 'row 4' }]);
    const held = (await one.query<{ name: string }>('SELECT name FROM pg_prepared_statements')).rows;
    assert.deepEqual(held, [{ name: BY_N.name }]);
  });

  test('in a transaction, a stale one fails the transaction as worth retrying, and the retry passes', async () => {
    await one.query(BY_N, [6]);
    await one.exec('ALTER TABLE prepared_probe ALTER COLUMN label TYPE text');
    await assert.rejects(
      one.transaction((tx) => tx.query(BY_N, [6])),
      (err: unknown) => err instanceof DatabaseError && err.refusal === 'transient',
    );
    assert.deepEqual(await one.transaction(async (tx) => (await tx.query(BY_N, [6])).rows), [{ n: 6, label: 'row 6' }]);
  });

  test('a connection that drops under a prepared statement fails that call as unavailable, and the process lives on', async () => {
    // A TCP proxy in front of PostgreSQL, cut while the statement runs.
    const sockets = new Set<Socket>();
    const proxy = createServer((client) => {
      const server = connect(5432, '127.0.0.1');
      sockets.add(client).add(server);
      client.pipe(server).pipe(client);
      client.on('error', () => server.destroy());
      server.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const url = new URL(backend.urls!.database);
    url.host = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
    const through = await connectPostgres({ url: url.toString(), poolSize: 1 });
    try {
      const sleeping = through.query(prepared('SELECT pg_sleep(30) AS slept, 1 AS marker_for_prepared_drop_test'));
      await eventually(async () => (await backend.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%marker_for_prepared_drop_test%' AND pid <> pg_backend_pid()",
      )).rows[0]!.n > 0, 'the statement to be running');
      sockets.forEach((socket) => socket.destroy());
      await assert.rejects(sleeping, (err: unknown) => isErrandError(err) && err.code === 'database_unavailable');
    } finally {
      await through.close().catch(() => undefined);
      proxy.close();
      await backend.db.query("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%marker_for_prepared_drop_test%' AND pid <> pg_backend_pid()");
    }
  });
}, [realBackend]);
