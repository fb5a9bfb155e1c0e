/**
 * The bench's history (`npm run bench -- --history N`) must be what the roles would have left
 * behind: finished tasks a reader sees as such, each with its queued, started and done events, and
 * an event log that numbers the next event after them; and the janitor must leave it alone, or the
 * runs would measure its trimming. When the schema changes and bench/history-fill.ts does not
 * follow, this fails.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fillHistory, MIX } from '../../bench/history-fill.ts';
import { FlakeIdGenerator } from '../../src/core/index.ts';
import type { Backend } from '../support/backends.ts';
import { countTasks, describeEachBackend, realBackend } from '../support/backends.ts';

const TASKS = 250;
const HOUR = 3600_000;

await describeEachBackend('bench history fill', () => {
  let backend: Backend;
  before(async () => {
    backend = await realBackend.create();
    const query = (text: string, values?: unknown[]) => backend.db.query(text, values);
    const inTransaction = (statements: Array<{ text: string; values: unknown[] }>) =>
      backend.db.transaction(async (tx) => { for (const s of statements) await tx.query(s.text, s.values); });
    // Three batches, the last one short: task numbers must carry across them.
    await fillHistory({ query, inTransaction }, { tasks: TASKS, batch: 100, spanStartMs: Date.now() - 3 * HOUR, spanMs: 2 * HOUR });
  });
  after(() => backend.close());

  /** The history's task ids in task order: ids[n - 1] is task n. */
  const historyIds = async () => (await backend.db.query<{ id: string }>(`SELECT lpad(to_hex(id), 16, '0') AS id FROM task ORDER BY id`)).rows.map((r) => r.id);

  test('each history task reads as a finished task of the bench key with its result and three events', async () => {
    assert.equal(await countTasks(backend), TASKS);
    const ids = await historyIds();
    // Tasks 1, 99, 101 and 250 are none of the MIX's few that differ.
    for (const id of [ids[0]!, ids[98]!, ids[100]!, ids.at(-1)!]) {
      const task = (await backend.store.getTask(id))!;
      assert.equal(task.status, 'done');
      assert.equal(task.service, 'noop');
      assert.equal(task.owner, 'key:bench');
      assert.ok(task.createdAt < task.startedAt! && task.startedAt! < task.completedAt!, 'created, started, done in that order');
      assert.ok(task.expiresAt! > new Date(), 'not yet expired');
      assert.equal(await backend.store.getResult(id, 'key:bench'), '{}');
      const events = await backend.store.readEvents({ tasks: new Set([id]), owner: 'key:bench' }, 0, null, 10);
      assert.deepEqual(events.map((e) => e.type), ['queued', 'started', 'done']);
    }
  });

  test('a few tasks differ, as MIX says: another service, failed with a code, another principal', async () => {
    const ids = await historyIds();
    const task = async (n: number) => (await backend.store.getTask(ids[n - 1]!))!;
    assert.equal((await task(23)).service, MIX.otherService);
    assert.equal((await task(5)).owner, MIX.otherPrincipal);
    const failed = await task(53);
    assert.deepEqual([failed.status, failed.error?.code], ['failed', MIX.code]);
    assert.deepEqual(JSON.parse((await backend.store.getResult(failed.id))!), { status: 'failed', cause: 'the script stopped', error: failed.error });
    const events = await backend.store.readEvents({ tasks: new Set([failed.id]) }, 0, null, 10);
    assert.deepEqual(events.map((e) => e.type), ['queued', 'started', 'failed']);
    assert.deepEqual(events[2]!.data, { error: failed.error });
    assert.equal((await task(3)).error?.code, MIX.rareCode);
    const count = async (where: string) => (await backend.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM task WHERE ${where}`)).rows[0]!.n;
    assert.equal(await count(`service = '${MIX.otherService}'`), 13); // tasks 3, 23, ... 243
    assert.equal(await count(`service = '${MIX.otherService}' AND status = 'failed'`), 3); // tasks 3, 103, 203
    assert.equal(await count(`principal = '${MIX.otherPrincipal}' AND status = 'failed'`), 0);
    assert.equal(await count(`status = 'failed'`), 5); // tasks 3, 53, 103, 153, 203
    assert.equal(await count(`principal = '${MIX.otherPrincipal}'`), 3); // tasks 5, 105 and 205
  });

  test('the log holds every event once, numbered from 1 in task order, and numbers the next one after them', async () => {
    const events = await backend.store.readEvents({}, 0, null, 10 * TASKS);
    assert.equal(events.length, 3 * TASKS);
    assert.deepEqual(events.map((e) => e.id), Array.from({ length: 3 * TASKS }, (_, i) => i + 1));
    assert.deepEqual(events.slice(0, 6).map((e) => e.type), ['queued', 'started', 'done', 'queued', 'started', 'done']);
    assert.equal(new Set(events.map((e) => e.taskId)).size, TASKS);
    assert.equal(await backend.store.lastEventId(), 3 * TASKS);

    const fresh = new FlakeIdGenerator(0).next();
    assert.ok(events.every((e) => e.taskId < fresh), 'history ids lie in the past, below any new id');
    const queued = await backend.store.insertTask({ id: fresh, service: 'noop', input: '{"n":1}', owner: 'key:bench', clientName: null, ttl: 'P30D' });
    assert.deepEqual([queued.id, queued.taskId, queued.type], [3 * TASKS + 1, fresh, 'queued']);
  });

  test('the janitor removes none of it: tasks expire in 30 days, events are younger than the 7-day retention', async () => {
    assert.equal(await backend.store.deleteExpired(10 * TASKS), 0);
    assert.equal(await backend.store.trimEvents(7 * 24 * 3600, 10 * TASKS), 0);
    assert.equal(await countTasks(backend), TASKS + 1);
  });
}, [realBackend]);
