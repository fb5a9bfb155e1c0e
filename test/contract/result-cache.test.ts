/** The result cache in the store: who answers a submission, and when an entry stops answering, on PostgreSQL and PGlite. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cacheKey, FlakeIdGenerator, taskIdToDecimal } from '../../src/core/index.ts';
import type { CacheClaim } from '../../src/core/index.ts';
import type { CachedSubmission, NewTask } from '../../src/store/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';

const ids = new FlakeIdGenerator(5);
let keys = 0;
const newTask = (extra: Partial<NewTask> = {}): NewTask => ({ id: ids.next(), service: 'svc', input: '{"x":1}', owner: null, clientName: null, ttl: null, ...extra });
const claimFor = (key: string, extra: Partial<CacheClaim> = {}): CacheClaim => ({ key, version: '1.0.0', lifetime: 'PT24H', fresh: false, ...extra });
const freshKey = () => `key-${process.pid}-${++keys}`;

function answeredBy(submission: CachedSubmission): string {
  return submission.kind === 'queued' ? submission.event.taskId : submission.task.id;
}

await describeEachBackend('result cache (store)', (kind) => {
  let backend: Backend;
  before(async () => { backend = await kind.create(); });
  after(async () => { await backend.close(); });

  /** Submits a task under `key`; returns what answered and the task's id. */
  async function submit(key: string, task: Partial<NewTask> = {}, claim: Partial<CacheClaim> = {}) {
    const submitted = await backend.store.submitCached(newTask(task), claimFor(key, claim));
    return { kind: submitted.kind, id: answeredBy(submitted), submitted };
  }
  const finish = (id: string, extra: { status?: 'done' | 'failed'; cacheable?: boolean; version?: string | null } = {}) =>
    backend.store.completeTasks([{
      id, status: extra.status ?? 'done', index: { answer: 42 }, files: [],
      error: extra.status === 'failed' ? { code: 'script_error', message: 'no' } : null,
      ...(extra.cacheable !== undefined ? { cacheable: extra.cacheable } : {}),
      ...(extra.version !== undefined ? { version: extra.version } : {}),
    }]);
  const entryCount = async (key: string) => (await backend.db.query('SELECT 1 FROM task_cache WHERE key = $1', [key])).rowCount;

  test('the first submission is queued; later ones join it while it is queued, then while it runs', async () => {
    const key = freshKey();
    const first = await submit(key);
    assert.equal(first.kind, 'queued');
    const second = await submit(key);
    assert.deepEqual([second.kind, second.id], ['joined', first.id]);
    assert.equal(second.kind === 'joined' && second.submitted.kind === 'joined' && second.submitted.task.status, 'queued');
    await backend.store.markStarted([{ id: first.id, worker: 'w1', runId: 'r1' }]);
    const third = await submit(key);
    assert.deepEqual([third.kind, third.id], ['joined', first.id]);
  });

  test('a finished result is a hit, with its original completion time, until its lifetime ends', async () => {
    const key = freshKey();
    const first = await submit(key, {}, { lifetime: 'PT1H' });
    await finish(first.id);
    const completed = (await backend.store.getTask(first.id))!.completedAt;
    const hit = await submit(key);
    assert.equal(hit.kind, 'hit');
    assert.equal(hit.id, first.id);
    assert.equal(hit.submitted.kind === 'hit' && hit.submitted.task.completedAt?.toISOString(), completed?.toISOString());
    // The lifetime counts from completion: an entry past it answers no more, and the janitor drops it.
    await backend.db.query(`UPDATE task_cache SET expires_at = now() - interval '1 second' WHERE key = $1`, [key]);
    const after = await submit(key);
    assert.equal(after.kind, 'queued');
    assert.notEqual(after.id, first.id);
    // The new task took the entry over: it is not trimmed, and answers the next submission.
    assert.equal(await backend.store.trimCache(1000), 0);
    assert.equal((await submit(key)).id, after.id);
  });

  test('the janitor\'s trim removes entries past their lifetime and leaves the tasks', async () => {
    const key = freshKey();
    const first = await submit(key);
    await finish(first.id);
    await backend.db.query(`UPDATE task_cache SET expires_at = now() - interval '1 second' WHERE key = $1`, [key]);
    assert.ok((await backend.store.trimCache(1000)) >= 1);
    assert.equal(await entryCount(key), 0);
    assert.equal((await backend.store.getTask(first.id))?.status, 'done');
  });

  test('a failed result, a result marked not cacheable, and a result of another version are never served', async () => {
    for (const end of [{ status: 'failed' as const }, { cacheable: false }, { version: '2.0.0' }]) {
      const key = freshKey();
      const first = await submit(key);
      await finish(first.id, end);
      assert.equal(await entryCount(key), 0, JSON.stringify(end));
      const again = await submit(key);
      assert.equal(again.kind, 'queued', JSON.stringify(end));
      assert.notEqual(again.id, first.id);
    }
  });

  test('a result that names its own version (Patavi workers do not) is served when the version matches', async () => {
    const key = freshKey();
    const first = await submit(key);
    await finish(first.id, { version: '1.0.0' });
    assert.equal((await submit(key)).kind, 'hit');
  });

  test('a canceled, expired, given-up or deleted task answers no more', async () => {
    const canceled = freshKey();
    const a = await submit(canceled);
    await backend.store.cancelTask(a.id);
    assert.equal((await submit(canceled)).kind, 'queued');

    const expired = freshKey();
    const b = await submit(expired, { deadline: new Date(Date.now() + 60_000) });
    await backend.db.query(`UPDATE task SET deadline = now() - interval '1 second' WHERE id = $1`, [taskIdToDecimal(b.id)]);
    await backend.store.expireQueued(1000);
    assert.equal((await backend.store.getTask(b.id))?.status, 'expired');
    assert.equal((await submit(expired)).kind, 'queued');

    const lost = freshKey();
    const c = await submit(lost);
    await backend.store.markStarted([{ id: c.id, worker: 'w1', runId: 'r1' }], 1);
    const [gaveUp] = await backend.store.markStarted([{ id: c.id, worker: 'w2', runId: 'r2' }], 1);
    assert.equal(gaveUp?.kind, 'gave-up');
    assert.equal((await submit(lost)).kind, 'queued');

    const deleted = freshKey();
    const d = await submit(deleted);
    await finish(d.id);
    await backend.store.deleteTask(d.id);
    assert.equal(await entryCount(deleted), 0);
    const again = await submit(deleted);
    assert.equal(again.kind, 'queued');
    assert.notEqual(again.id, d.id);
  });

  test('fresh (the client bypassed the cache) queues a new task, which takes the entry over', async () => {
    const key = freshKey();
    const first = await submit(key);
    await finish(first.id);
    const fresh = await submit(key, {}, { fresh: true });
    assert.equal(fresh.kind, 'queued');
    assert.notEqual(fresh.id, first.id);
    const next = await submit(key);
    assert.deepEqual([next.kind, next.id], ['joined', fresh.id]);
    // Fresh with no entry at all is an ordinary first submission.
    assert.equal((await submit(freshKey(), {}, { fresh: true })).kind, 'queued');
  });

  test('a queued task with an earlier deadline than the submission\'s is not joined', async () => {
    const key = freshKey();
    const soon = await submit(key, { deadline: new Date(Date.now() + 60_000) });
    const patient = await submit(key); // no deadline: would wait for ever; the first may expire first
    assert.equal(patient.kind, 'queued');
    assert.notEqual(patient.id, soon.id);
    const later = await submit(key, { deadline: new Date(Date.now() + 120_000) });
    assert.deepEqual([later.kind, later.id], ['joined', patient.id]);
  });

  test('the answering task lives at least as long as each request asked (ttl)', async () => {
    const key = freshKey();
    const first = await submit(key, { ttl: 'PT1M' });
    await finish(first.id);
    const before = (await backend.store.getTask(first.id))!.expiresAt!;
    await submit(key, { ttl: 'PT1H' });
    const extended = (await backend.store.getTask(first.id))!.expiresAt!;
    assert.ok(extended.getTime() - before.getTime() > 50 * 60_000, `${before.toISOString()} → ${extended.toISOString()}`);
    await submit(key, { ttl: 'PT1S' }); // a shorter ttl never shortens it
    assert.equal((await backend.store.getTask(first.id))!.expiresAt!.getTime(), extended.getTime());
    await submit(key, { ttl: null }); // no ttl: kept until deleted
    assert.equal((await backend.store.getTask(first.id))!.expiresAt, null);

    // Joined while running: the longer ttl applies from completion.
    const running = freshKey();
    const r = await submit(running, { ttl: 'PT1M' });
    await submit(running, { ttl: 'P1D' });
    await finish(r.id);
    const info = (await backend.store.getTask(r.id))!;
    assert.ok(info.expiresAt!.getTime() - info.completedAt!.getTime() >= 24 * 3600_000 - 1000);
  });

  test('concurrent submissions of one key run it once: one is queued, the others join it', async () => {
    const key = freshKey();
    const answers = await Promise.all(Array.from({ length: 20 }, () => submit(key)));
    assert.equal(answers.filter((a) => a.kind === 'queued').length, 1);
    assert.equal(new Set(answers.map((a) => a.id)).size, 1);
    const rows = await backend.db.query('SELECT count(*)::int AS n FROM task WHERE cache_key = $1', [key]);
    assert.equal((rows.rows[0] as { n: number }).n, 1);
  });

  test('completing and resubmitting one key at once never deadlocks', async () => {
    // Completion locks the task then its entry; a submission must take them in the same order.
    for (let round = 0; round < 10; round++) {
      const key = freshKey();
      const first = await submit(key);
      const [, ...answers] = await Promise.all([finish(first.id), ...Array.from({ length: 5 }, () => submit(key))]);
      for (const answer of answers) assert.equal(answer.id, first.id, `round ${round}`);
    }
  });

  // Issue 12: an entry answers with a task of the caller's own, never another principal's id.
  const inputs = () => `{"owners":${++keys}}`;
  const cacheKeyOf = (taskId: string) => backend.db.query<{ cache_key: string | null }>('SELECT cache_key FROM task WHERE id = $1', [taskIdToDecimal(taskId)]).then((r) => r.rows[0]?.cache_key);
  async function eventsOf(taskId: string) {
    return (await backend.store.readEvents({ tasks: new Set([taskId]) }, 0, null, 100)).map((e) => ({ type: e.type, data: e.data, owner: e.owner }));
  }

  test('entries are each owner\'s own when the service does not share: the same input runs once per owner', async () => {
    const input = inputs();
    const keyOf = (owner: string) => cacheKey('svc', '1.0.0', input, owner);
    const alice = await submit(keyOf('alice'), { owner: 'alice' });
    const bob = await submit(keyOf('bob'), { owner: 'bob' });
    assert.deepEqual([alice.kind, bob.kind], ['queued', 'queued']);
    assert.notEqual(bob.id, alice.id);
    await finish(alice.id);
    // Bob's entry is his task, under way; alice's is her finished one.
    const bobAgain = await submit(keyOf('bob'), { owner: 'bob' });
    assert.deepEqual([bobAgain.kind, bobAgain.id], ['joined', bob.id]);
    const aliceAgain = await submit(keyOf('alice'), { owner: 'alice' });
    assert.deepEqual([aliceAgain.kind, aliceAgain.id], ['hit', alice.id]);
  });

  test('a shared entry answers another owner\'s hit with a new task of the caller\'s: same result, script, console and files, its own events', async () => {
    const key = cacheKey('svc', '1.0.0', inputs());
    const alice = await submit(key, { owner: 'alice', clientName: 'alice-app', ttl: 'PT1M' }, { shared: true });
    await backend.store.markStarted([{ id: alice.id, worker: 'w1', runId: 'r1', script: 'double(n)' }]);
    await backend.store.completeTasks([{
      id: alice.id, status: 'done', index: { answer: 42, plot: 'plot.png' }, console: 'it worked\n', error: null,
      files: [{ name: 'plot.png', contentType: 'image/png', content: Buffer.from([137, 80, 78, 71]) }],
    }]);
    const aliceBefore = (await backend.store.getTask(alice.id))!;

    const submitted = await backend.store.submitCached(newTask({ owner: 'bob', clientName: 'bob-app', ttl: 'PT1H' }), claimFor(key, { shared: true }));
    assert.equal(submitted.kind, 'hit');
    const copy = submitted.kind === 'hit' ? submitted.task : assert.fail();
    assert.notEqual(copy.id, alice.id);
    assert.deepEqual({ owner: copy.owner, status: copy.status, attempts: copy.attempts, worker: copy.worker, hasScript: copy.hasScript, hasConsole: copy.hasConsole },
      { owner: 'bob', status: 'done', attempts: 0, worker: null, hasScript: true, hasConsole: true });
    assert.ok(copy.expiresAt!.getTime() - copy.completedAt!.getTime() >= 3600_000 - 1000, 'the copy lives for the caller\'s ttl');
    assert.deepEqual(await backend.store.getTasks([copy.id], 'bob'), [copy]);
    assert.deepEqual(JSON.parse((await backend.store.getResult(copy.id, 'bob'))!), { answer: 42, plot: 'plot.png' });
    assert.equal(await backend.store.getScript(copy.id, 'bob'), 'double(n)');
    assert.equal(await backend.store.getConsole(copy.id, 'bob'), 'it worked\n');
    const file = await backend.store.getFile(copy.id, 'plot.png', 'bob');
    assert.deepEqual(file && { contentType: file.contentType, content: [...file.content] }, { contentType: 'image/png', content: [137, 80, 78, 71] });
    assert.equal(await cacheKeyOf(copy.id), null, 'the copy holds no entry');
    // Its events are its own, as the submission says to publish them; the original's are untouched.
    assert.deepEqual(submitted.kind === 'hit' && submitted.events?.map((e) => [e.taskId, e.type]), [[copy.id, 'queued'], [copy.id, 'done']]);
    assert.deepEqual(await eventsOf(copy.id), [{ type: 'queued', data: {}, owner: 'bob' }, { type: 'done', data: {}, owner: 'bob' }]);
    assert.deepEqual((await eventsOf(alice.id)).map((e) => e.type), ['queued', 'started', 'done']);
    // Bob's ttl does not keep alice's task: hers is as it was, and the entry still hers.
    assert.deepEqual(await backend.store.getTask(alice.id), aliceBefore);
    const aliceAgain = await submit(key, { owner: 'alice' }, { shared: true });
    assert.deepEqual([aliceAgain.kind, aliceAgain.id], ['hit', alice.id]);
    // Each hit of another owner is a task of its own, a task without an owner included.
    const bobAgain = await submit(key, { owner: 'bob' }, { shared: true });
    const anonymous = await submit(key, { owner: null }, { shared: true });
    assert.equal(bobAgain.kind, 'hit');
    assert.equal(anonymous.kind, 'hit');
    assert.equal(new Set([alice.id, copy.id, bobAgain.id, anonymous.id]).size, 4);
    assert.equal((await backend.store.getTask(anonymous.id))?.owner, null);
  });

  test('a shared entry still under way for another owner is not joined: the caller gets a run of its own, which leaves the entry be', async () => {
    const key = cacheKey('svc', '1.0.0', inputs());
    const alice = await submit(key, { owner: 'alice' }, { shared: true });
    const bob = await submit(key, { owner: 'bob' }, { shared: true });
    assert.equal(bob.kind, 'queued');
    assert.notEqual(bob.id, alice.id);
    assert.equal((await backend.store.getTask(bob.id))?.owner, 'bob');
    assert.equal(await cacheKeyOf(bob.id), null);
    assert.deepEqual((await eventsOf(bob.id)).map((e) => [e.type, e.owner]), [['queued', 'bob']]);
    // Alice's own resubmission joins hers; bob's run ending does not touch her entry.
    const aliceAgain = await submit(key, { owner: 'alice' }, { shared: true });
    assert.deepEqual([aliceAgain.kind, aliceAgain.id], ['joined', alice.id]);
    await finish(bob.id);
    const carol = await submit(key, { owner: 'carol' }, { shared: true });
    assert.equal(carol.kind, 'queued');
    assert.notEqual(carol.id, bob.id);
    // Once alice's is done, the next of another owner is a hit: a copy of hers.
    await finish(alice.id);
    const bobLater = await submit(key, { owner: 'bob' }, { shared: true });
    assert.equal(bobLater.kind, 'hit');
    assert.ok(![alice.id, bob.id].includes(bobLater.id));
  });

  test('each submission is recorded as one queued task with the key, and nothing is half-written on a bad row', async () => {
    const key = freshKey();
    await assert.rejects(backend.store.submitCached(newTask({ ttl: '999999999 years' }), claimFor(key))); // an interval PostgreSQL refuses
    assert.equal(await entryCount(key), 0);
    const ok = await submit(key);
    assert.equal(ok.kind, 'queued');
  });
});
