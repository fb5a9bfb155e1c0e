/** The Store contract: the same behaviour on PostgreSQL and on PGlite. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FlakeIdGenerator } from '../../src/core/index.ts';
import { DatabaseError, errorNature } from '../../src/store/index.ts';
import type { NewTask } from '../../src/store/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';

const ids = new FlakeIdGenerator(3);
const withoutEvents = <T extends object>(outcome: T): Omit<T, 'events'> => {
  const { events: _events, ...rest } = outcome as T & { events?: unknown };
  return rest;
};
const newTask = (extra: Partial<NewTask> = {}): NewTask => ({ id: ids.next(), service: 'svc', input: '{"a":1}', owner: 'me', clientName: 'abc', ttl: null, ...extra });

await describeEachBackend('store', (kind) => {
  let backend: Backend;
  before(async () => { backend = await kind.create(); });
  after(async () => { await backend.close(); });

  test('a task is stored queued, with its input as submitted', async () => {
    const task = newTask({ input: '[1, {"b": "ü"}]' });
    await backend.store.insertTask(task);
    const info = await backend.store.getTask(task.id);
    assert.equal(info?.id, task.id);
    assert.equal(info?.status, 'queued');
    assert.equal(info?.owner, 'me');
    assert.ok(info?.createdAt instanceof Date);
    assert.deepEqual(JSON.parse((await backend.store.getInput(task.id))!), [1, { b: 'ü' }]);
    assert.equal(await backend.store.getTask(ids.next()), undefined);
  });

  test('concurrent inserts are all stored (group commit), and one bad row fails alone', async () => {
    const tasks = Array.from({ length: 300 }, () => newTask());
    const bad = newTask({ ttl: '999999999 years' }); // an interval PostgreSQL refuses
    const outcomes = await Promise.allSettled([...tasks, bad].map((t) => backend.store.insertTask(t)));
    assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 300);
    const refused = outcomes.at(-1)!;
    assert.equal(refused.status, 'rejected');
    assert.ok(refused.reason instanceof DatabaseError && refused.reason.refusal === 'invalid-value', String(refused.reason));
    assert.equal((await backend.store.getTasks(tasks.map((t) => t.id))).length, 300);
    assert.equal(await backend.store.getTask(bad.id), undefined);
  });

  test("the driver's errors reach callers as Errand's own, saying what kind of refusal each is", async () => {
    const refusal = async (work: Promise<unknown>): Promise<[string, string, string | undefined]> => {
      const err = await work.then(() => assert.fail('the statement was not refused'), (e: unknown) => e);
      assert.ok(err instanceof DatabaseError, `not a DatabaseError: ${String(err)}`);
      return [err.refusal, errorNature(err), err.constraint];
    };
    assert.deepEqual(await refusal(backend.db.query('SELECT 1 / 0')), ['invalid-value', 'data', undefined]);
    assert.deepEqual(await refusal(backend.db.query('SELECT * FROM no_such_table')), ['transient', 'unavailable', undefined]);
    assert.deepEqual(await refusal(backend.db.exec('SELECT * FROM no_such_table')), ['transient', 'unavailable', undefined]);
    const task = newTask();
    await backend.store.insertTask(task);
    const duplicate = backend.db.transaction((tx) => tx.query("INSERT INTO task (id, service, input) VALUES ((SELECT id FROM task LIMIT 1), 'svc', '{}')"));
    assert.deepEqual(await refusal(duplicate), ['constraint', 'data', 'task_pkey']);
    // What the caller's own work throws inside a transaction is not the driver's: it passes as it is.
    const own = new Error('not a database error');
    await assert.rejects(backend.db.transaction(async () => { throw own; }), (err: unknown) => err === own);
  });

  test('reads limited to an owner (issue 12): another owner\'s task is as absent as an unknown one', async () => {
    const mine = newTask({ owner: 'key:a', input: '{"mine":1}' });
    const theirs = newTask({ owner: 'key:b', input: '{"theirs":1}' });
    const ownerless = newTask({ owner: null });
    await Promise.all([mine, theirs, ownerless].map((t) => backend.store.insertTask(t)));
    await backend.store.completeTasks([mine, theirs, ownerless].map((t) => ({
      id: t.id, status: 'done' as const, index: { of: t.owner }, files: [{ name: 'f.txt', contentType: 'text/plain', content: Buffer.from('x') }], error: null, console: 'printed',
    })));
    await backend.store.saveScript(theirs.id, 'script');
    assert.equal(await backend.store.getInput(theirs.id, 'key:a'), undefined);
    assert.equal(await backend.store.getResult(theirs.id, 'key:a'), undefined);
    assert.equal(await backend.store.getConsole(theirs.id, 'key:a'), undefined);
    assert.equal(await backend.store.getScript(theirs.id, 'key:a'), undefined);
    assert.equal(await backend.store.getFile(theirs.id, 'f.txt', 'key:a'), undefined);
    assert.equal(await backend.store.getResult(ownerless.id, 'key:a'), undefined, 'a task from before owners is no one\'s');
    assert.deepEqual(JSON.parse((await backend.store.getInput(mine.id, 'key:a'))!), { mine: 1 });
    assert.deepEqual(JSON.parse((await backend.store.getResult(mine.id, 'key:a'))!), { of: 'key:a' });
    assert.equal(await backend.store.getConsole(mine.id, 'key:a'), 'printed');
    assert.equal((await backend.store.getFile(mine.id, 'f.txt', 'key:a'))?.content.toString(), 'x');
    // Without an owner, any task.
    assert.equal(await backend.store.getScript(theirs.id), 'script');
    assert.deepEqual((await backend.store.getTasks([theirs.id, mine.id, ownerless.id], 'key:a')).map((t) => t.id), [mine.id]);
    assert.deepEqual((await backend.store.getTasks([theirs.id, mine.id])).map((t) => t.owner), ['key:b', 'key:a']);
  });

  test('getTasks keeps the order asked for and leaves unknown ids out', async () => {
    const [a, b] = [newTask(), newTask()];
    await Promise.all([backend.store.insertTask(a), backend.store.insertTask(b)]);
    const got = await backend.store.getTasks([b.id, ids.next(), a.id]);
    assert.deepEqual(got.map((t) => t.id), [b.id, a.id]);
  });

  test('the first result wins; later ones and duplicates in one batch change nothing', async () => {
    const task = newTask();
    await backend.store.insertTask(task);
    await backend.store.markStarted([{ id: task.id, worker: 'w1' }]);
    assert.equal((await backend.store.getTask(task.id))?.status, 'running');
    const outcomes = await backend.store.completeTasks([
      { id: task.id, status: 'done', index: { n: 1 }, files: [], error: null },
      { id: task.id, status: 'done', index: { n: 2 }, files: [], error: null },
    ]);
    assert.deepEqual(outcomes.map(withoutEvents), [{ kind: 'recorded', status: 'done' }, { kind: 'already-ended', status: 'done' }]);
    const again = await backend.store.completeTasks([{ id: task.id, status: 'failed', index: { status: 'failed' }, files: [], error: { code: 'x', message: 'y' } }]);
    assert.deepEqual(again, [{ kind: 'already-ended', status: 'done' }]);
    assert.deepEqual(JSON.parse((await backend.store.getResult(task.id))!), { n: 1 });
    const info = await backend.store.getTask(task.id);
    assert.equal(info?.attempts, 1);
    assert.equal(info?.worker, 'w1');
    assert.ok(info?.completedAt);
    // A late "started" does not bring an ended task back to running.
    await backend.store.markStarted([{ id: task.id, worker: 'w2' }]);
    assert.equal((await backend.store.getTask(task.id))?.status, 'done');
  });

  test('results may be any JSON, including arrays and strings (Patavi could store neither)', async () => {
    const [a, b] = [newTask(), newTask()];
    await Promise.all([backend.store.insertTask(a), backend.store.insertTask(b)]);
    await backend.store.completeTasks([
      { id: a.id, status: 'done', index: [1, 2, 3], files: [], error: null },
      { id: b.id, status: 'done', index: 'just text', files: [], error: null },
    ]);
    assert.equal(await backend.store.getResult(a.id), '[1,2,3]');
    assert.equal(await backend.store.getResult(b.id), '"just text"');
  });

  test('input and result are kept as written: key order, spacing and number spelling', async () => {
    const input = '{"z": 1, "a": [1.50, 1e3, 12345678901234567890], "z": 2}';
    const task = newTask({ input });
    await backend.store.insertTask(task);
    const index = '{ "b": 1.0, "a": -0.0, "big": 98765432109876543210 }';
    await backend.store.completeTasks([{ id: task.id, status: 'done', index: JSON.parse(index), indexText: index, files: [], error: null }]);
    assert.equal(await backend.store.getInput(task.id), input);
    assert.equal(await backend.store.getResult(task.id), index);
  });

  test('a result PostgreSQL cannot store fails its task, and the rest of the batch is recorded', async () => {
    const [good, bad] = [newTask(), newTask()];
    await Promise.all([backend.store.insertTask(good), backend.store.insertTask(bad)]);
    const outcomes = await backend.store.completeTasks([
      { id: good.id, status: 'done', index: { ok: true }, files: [], error: null },
      // The recorder hands over only text that parses; this stands for whatever the database refuses.
      { id: bad.id, status: 'done', index: { broken: true }, indexText: '{"broken": tru', files: [], error: null },
    ]);
    assert.deepEqual(outcomes.map(withoutEvents), [{ kind: 'recorded', status: 'done' }, { kind: 'recorded', status: 'failed' }]);
    assert.equal((await backend.store.getTask(bad.id))?.error?.code, 'invalid_result');
  });

  test('files are stored with their types and go with their task', async () => {
    const task = newTask();
    await backend.store.insertTask(task);
    const content = Buffer.from([0, 1, 2, 254, 255]);
    await backend.store.completeTasks([{ id: task.id, status: 'done', index: {}, files: [{ name: 'a.png', contentType: 'image/png', content }], error: null }]);
    assert.deepEqual(await backend.store.getFile(task.id, 'a.png'), { contentType: 'image/png', content });
    assert.equal(await backend.store.getFile(task.id, 'b.png'), undefined);
    assert.equal((await backend.store.deleteTask(task.id)).deleted, true);
    assert.equal(await backend.store.getFile(task.id, 'a.png'), undefined);
    assert.deepEqual(await backend.store.deleteTask(task.id), { deleted: false, events: [] });
  });

  test('results for unknown tasks are reported as such', async () => {
    assert.deepEqual(await backend.store.completeTasks([{ id: ids.next(), status: 'done', index: {}, files: [], error: null }]), [{ kind: 'unknown-task' }]);
  });

  test('the janitor removes tasks past completion + ttl, in batches, and nothing else', async () => {
    const expiring = Array.from({ length: 25 }, () => newTask({ ttl: 'PT0S' }));
    const kept = [newTask({ ttl: 'PT1H' }), newTask({ ttl: null })];
    const unfinished = newTask({ ttl: 'PT0S' });
    await Promise.all([...expiring, ...kept, unfinished].map((t) => backend.store.insertTask(t)));
    await backend.store.completeTasks([...expiring, ...kept].map((t) => ({ id: t.id, status: 'done' as const, index: {}, files: [{ name: 'f', contentType: 'text/plain', content: Buffer.from('x') }], error: null })));
    assert.equal(await backend.store.deleteExpired(10), 10);
    assert.equal(await backend.store.deleteExpired(10), 10);
    assert.equal(await backend.store.deleteExpired(10), 5);
    assert.equal(await backend.store.deleteExpired(10), 0);
    assert.equal((await backend.store.getTasks(expiring.map((t) => t.id))).length, 0);
    assert.equal((await backend.store.getTasks([...kept, unfinished].map((t) => t.id))).length, 3);
    const remaining = await backend.db.query<{ n: number }>('SELECT count(*)::int AS n FROM task_file WHERE task_id = ANY($1::bigint[])', [expiring.map((t) => BigInt('0x' + t.id).toString())]);
    assert.equal(remaining.rows[0]!.n, 0);
    const expiresAt = (await backend.store.getTask(kept[0]!.id))!.expiresAt!;
    const completedAt = (await backend.store.getTask(kept[0]!.id))!.completedAt!;
    assert.equal(expiresAt.getTime() - completedAt.getTime(), 3_600_000);
  });

  test('node id leases are unique while held, and come back when released', async () => {
    const leased = await Promise.all(Array.from({ length: 20 }, (_, i) => backend.store.leaseNodeId(`holder-${i}`, 60)));
    assert.equal(new Set(leased).size, 20);
    assert.ok(leased.every((n) => n !== undefined && n >= 0 && n <= 1023));
    assert.equal(await backend.store.renewNodeLease(leased[0]!, 'holder-0', 60), true);
    assert.equal(await backend.store.renewNodeLease(leased[0]!, 'someone-else', 60), false);
    await backend.store.releaseNodeLease(leased[0]!, 'holder-0');
    assert.equal(await backend.store.leaseNodeId('new', 60), leased[0]);
  });

  test('unfinished tasks are listed in id order, page by page', async () => {
    const before = await backend.store.listUnfinished(null, 10_000);
    const task = newTask();
    await backend.store.insertTask(task);
    const all = await backend.store.listUnfinished(null, 10_000);
    assert.equal(all.length, before.length + 1);
    assert.deepEqual(all.map((t) => t.id), [...all.map((t) => t.id)].sort());
    const page = await backend.store.listUnfinished(all[0]!.id, 1);
    assert.equal(page[0]?.id, all[1]?.id);
  });
});
