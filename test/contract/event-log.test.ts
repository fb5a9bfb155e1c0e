/** The event log in the store: ids, order, and what each state change writes, on PostgreSQL and PGlite. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FlakeIdGenerator } from '../../src/core/index.ts';
import type { NewEvent } from '../../src/core/index.ts';
import type { NewTask } from '../../src/store/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';

const ids = new FlakeIdGenerator(4);
const newTask = (extra: Partial<NewTask> = {}): NewTask => ({ id: ids.next(), service: 'svc', input: '{}', owner: null, clientName: null, ttl: null, ...extra });
const typesOf = (events: NewEvent[]) => events.map((e) => e.type);

await describeEachBackend('event log', (kind) => {
  let backend: Backend;
  before(async () => { backend = await kind.create(); });
  after(async () => { await backend.close(); });

  const eventsOf = (taskId: string) => backend.store.readEvents({ tasks: new Set([taskId]) }, 0, null, 1000);

  test('every event has the next id: concurrent writers leave no gap and no repeat, and each gets its ids back', async () => {
    const start = await backend.store.lastEventId();
    const tasks = Array.from({ length: 200 }, () => newTask());
    const queued = await Promise.all(tasks.map((t) => backend.store.insertTask(t)));
    const started = await Promise.all(tasks.map((t, i) => backend.store.markStarted([{ id: t.id, worker: `w${i % 3}`, runId: `r${i}` }])));
    const all = await backend.store.readEvents({}, start, null, 10_000);
    assert.deepEqual(all.map((e) => e.id), Array.from({ length: 400 }, (_, i) => start + 1 + i));
    assert.equal(await backend.store.lastEventId(), start + 400);
    assert.deepEqual(queued.map((e) => e.type), tasks.map(() => 'queued'));
    assert.ok(queued.every((e, i) => e.taskId === tasks[i]!.id && e.service === 'svc'));
    // What a writer gets back is what the log holds: same ids, same events.
    const written = [...queued, ...started.flatMap((outcomes) => outcomes.flatMap((o) => ('events' in o ? o.events : [])))];
    assert.deepEqual(written.map((e) => e.id).sort((x, y) => x - y), all.map((e) => e.id));
    const byId = new Map(all.map((e) => [e.id, e]));
    assert.ok(written.every((e) => byId.get(e.id)?.taskId === e.taskId && byId.get(e.id)?.type === e.type));
  });

  test('a reader that sees id N already sees every id below it, while writers commit concurrently', async () => {
    const start = await backend.store.lastEventId();
    const tasks = Array.from({ length: 300 }, () => newTask());
    await Promise.all(tasks.map((t) => backend.store.insertTask(t)));
    let writing = true;
    // Separate transactions on separate connections: starts, progress and cancels interleave.
    const writers = Promise.all(tasks.map(async (t, i) => {
      await backend.store.markStarted([{ id: t.id, worker: 'w', runId: `r${i}` }]);
      if (i % 3 === 0) await backend.store.cancelTask(t.id, 'key:test');
      else await backend.store.recordProgress([{ id: t.id, runId: `r${i}`, worker: 'w', seq: 1, value: 50 }]);
    })).finally(() => { writing = false; });
    let cursor = start;
    let reads = 0;
    while (writing || cursor < (await backend.store.lastEventId())) {
      const page = await backend.store.readEvents({}, cursor, null, 1000);
      reads++;
      // Contiguous from the cursor: a later id never shows before an earlier one is visible.
      assert.deepEqual(page.map((e) => e.id), page.map((_, k) => cursor + 1 + k), `read ${reads} after ${cursor}`);
      cursor += page.length;
    }
    await writers;
    assert.equal(cursor, start + 300 * 2 + 300); // queued, started, then canceled or progress
  });

  test('a task\'s life: queued, started, progress with percent and time left, done', async () => {
    const task = newTask();
    await backend.store.insertTask(task);
    const [start] = await backend.store.markStarted([{ id: task.id, worker: 'w1', runId: 'run-a' }]);
    assert.equal(start?.kind, 'started');
    await backend.db.query(`UPDATE task SET started_at = now() - interval '10 seconds' WHERE id = $1`, [BigInt('0x' + task.id).toString()]);
    const progress = await backend.store.recordProgress([{ id: task.id, runId: 'run-a', worker: 'w1', seq: 1, value: 25 }]);
    assert.equal(progress.length, 1);
    const data = progress[0]!.data as { value: number; percent: number; etaSeconds: number };
    assert.equal(data.value, 25);
    assert.equal(data.percent, 25);
    const info = await backend.store.getTask(task.id);
    assert.equal(info?.progress?.percent, 25);
    // A quarter done after `elapsed`: three times that left, by the times the store recorded
    // (at least 10 s, however long the machine took between the two statements).
    const elapsed = (Date.parse(info!.progress!.at) - info!.startedAt!.getTime()) / 1000;
    assert.ok(elapsed >= 10, `${elapsed} s since the start`);
    assert.ok(Math.abs(data.etaSeconds - 3 * elapsed) <= 0.1, `${data.etaSeconds} s left after ${elapsed} s at 25 %`);
    assert.equal(info?.progress?.etaSeconds, data.etaSeconds);
    await backend.store.completeTasks([{ id: task.id, status: 'done', index: {}, files: [], error: null }]);
    assert.deepEqual(typesOf(await eventsOf(task.id)), ['queued', 'started', 'progress', 'done']);
  });

  test('progress keeps each attempt\'s order, ignores other attempts, and starts a task its start report has not reached', async () => {
    const task = newTask();
    await backend.store.insertTask(task);
    // Progress overtook the start report: the task is running as this attempt.
    await backend.store.recordProgress([{ id: task.id, runId: 'run-1', worker: 'w1', seq: 2, value: { progress: 20 } }]);
    let info = await backend.store.getTask(task.id);
    assert.equal(info?.status, 'running');
    assert.equal(info?.attempts, 1);
    // The start report arrives late: the same attempt, nothing new.
    assert.deepEqual(await backend.store.markStarted([{ id: task.id, worker: 'w1', runId: 'run-1', script: 'x <- 1' }]), [{ kind: 'already-started' }]);
    assert.equal(await backend.store.getScript(task.id), 'x <- 1');
    const late = await backend.store.recordProgress([
      { id: task.id, runId: 'run-1', worker: 'w1', seq: 1, value: 10 }, // older than seq 2: dropped
      { id: task.id, runId: 'run-0', worker: 'w0', seq: 9, value: 90 }, // another attempt: dropped
      { id: task.id, runId: 'run-1', worker: 'w1', seq: 3, value: 'text' }, // kept, no percent
    ]);
    assert.deepEqual(late.map((e) => e.data), [{ value: 'text' }]);
    info = await backend.store.getTask(task.id);
    assert.equal(info?.progress?.value, 'text');
    assert.deepEqual(typesOf(await eventsOf(task.id)), ['queued', 'started', 'progress', 'progress']);
  });

  test('a redelivered task is retried as a new attempt, and fails with worker_lost past the limit', async () => {
    const task = newTask();
    await backend.store.insertTask(task);
    await backend.store.markStarted([{ id: task.id, worker: 'w1', runId: 'a1' }], 2);
    const second = await backend.store.markStarted([{ id: task.id, worker: 'w2', runId: 'a2' }], 2);
    assert.equal(second[0]?.kind, 'started');
    assert.deepEqual(typesOf((second[0] as { events: NewEvent[] }).events), ['retried', 'started']);
    assert.deepEqual((second[0] as { events: NewEvent[] }).events[0]!.data, { attempt: 2, previousWorker: 'w1' });
    const third = await backend.store.markStarted([{ id: task.id, worker: 'w3', runId: 'a3' }], 2);
    assert.equal(third[0]?.kind, 'gave-up');
    const info = await backend.store.getTask(task.id);
    assert.equal(info?.status, 'failed');
    assert.equal(info?.error?.code, 'worker_lost');
    assert.equal(JSON.parse((await backend.store.getResult(task.id))!).status, 'failed');
    assert.deepEqual(typesOf(await eventsOf(task.id)), ['queued', 'started', 'retried', 'started', 'failed']);
    // A late result of any attempt changes nothing.
    const late = await backend.store.completeTasks([{ id: task.id, status: 'done', index: {}, files: [], error: null }]);
    assert.deepEqual(late, [{ kind: 'already-ended', status: 'failed' }]);
  });

  test('a lost worker\'s task is queued again: its input goes back out, late reports of the lost attempt change nothing, the next start is attempt 2', async () => {
    const task = newTask({ input: '{"n":7}' });
    await backend.store.insertTask(task);
    await backend.store.markStarted([{ id: task.id, worker: 'w1', runId: 'a1' }], 3);
    const running = (await backend.store.listRunning(null, 1000)).find((r) => r.id === task.id);
    assert.deepEqual(running, { id: task.id, service: 'svc', worker: 'w1', runId: 'a1' });
    const sent: unknown[] = [];
    const outcome = await backend.store.requeueLost(running!, 3, async (t) => { sent.push(t); });
    assert.equal(outcome.kind, 'requeued');
    const [message] = sent as Array<{ id: string; service: string; input: string }>;
    assert.equal(sent.length, 1);
    assert.deepEqual({ id: message!.id, service: message!.service, input: JSON.parse(message!.input) }, { id: task.id, service: 'svc', input: { n: 7 } });
    let info = await backend.store.getTask(task.id);
    assert.equal(info?.status, 'queued');
    assert.equal(info?.attempts, 1);
    assert.equal((await backend.store.listRunning(null, 1000)).some((r) => r.id === task.id), false);
    // The lost attempt's late start and progress do not make it running again.
    assert.deepEqual(await backend.store.markStarted([{ id: task.id, worker: 'w1', runId: 'a1' }], 3), [{ kind: 'already-started' }]);
    await backend.store.recordProgress([{ id: task.id, worker: 'w1', runId: 'a1', seq: 5, value: 50 }], 3);
    assert.equal((await backend.store.getTask(task.id))?.status, 'queued');
    // Checking again with the old attempt finds nothing to do.
    assert.deepEqual(await backend.store.requeueLost(running!, 3, async () => { throw new Error('must not send'); }), { kind: 'moved-on' });
    const second = await backend.store.markStarted([{ id: task.id, worker: 'w2', runId: 'a2' }], 3);
    assert.deepEqual(typesOf((second[0] as { events: NewEvent[] }).events), ['retried', 'started']);
    info = await backend.store.getTask(task.id);
    assert.equal(info?.attempts, 2);
    assert.equal(info?.worker, 'w2');
    const events = await eventsOf(task.id);
    assert.deepEqual(events.map((e) => e.type), ['queued', 'started', 'queued', 'retried', 'started']);
    assert.deepEqual(events[2]!.data, { requeued: true, reason: 'worker_lost', previousWorker: 'w1', attempts: 1 });
  });

  test('a task queued again whose worker reports the run under way again (it got the copy) is running under it once more, as the same attempt', async () => {
    const task = newTask();
    await backend.store.insertTask(task);
    await backend.store.markStarted([{ id: task.id, worker: 'w1', runId: 'a1' }], 3);
    await backend.store.requeueLost({ id: task.id, service: 'svc', worker: 'w1', runId: 'a1' }, 3, async () => undefined);
    const resumed = await backend.store.markStarted([{ id: task.id, worker: 'w1', runId: 'a1', resumed: true }], 3);
    assert.equal(resumed[0]?.kind, 'started');
    const info = await backend.store.getTask(task.id);
    assert.equal(info?.status, 'running');
    assert.equal(info?.attempts, 1);
    assert.equal(info?.worker, 'w1');
    const events = await eventsOf(task.id);
    assert.deepEqual(events.map((e) => e.type), ['queued', 'started', 'queued', 'started']);
    assert.deepEqual(events[3]!.data, { worker: 'w1', attempt: 1, resumed: true });
    // Said again, it changes nothing more; the run's result ends the task as usual.
    assert.deepEqual(await backend.store.markStarted([{ id: task.id, worker: 'w1', runId: 'a1', resumed: true }], 3), [{ kind: 'already-started' }]);
    await backend.store.completeTasks([{ id: task.id, status: 'done', index: {}, files: [], error: null, runId: 'a1', worker: 'w1' }]);
    assert.equal((await backend.store.getTask(task.id))?.attempts, 1);
  });

  test('a lost worker\'s task with its attempts used up fails worker_lost; a send that fails changes nothing', async () => {
    const task = newTask();
    await backend.store.insertTask(task);
    await backend.store.markStarted([{ id: task.id, worker: 'w1', runId: 'a1' }], 2);
    const first = { id: task.id, service: 'svc', worker: 'w1', runId: 'a1' };
    await assert.rejects(backend.store.requeueLost(first, 2, async () => { throw new Error('broker down'); }), /broker down/);
    assert.equal((await backend.store.getTask(task.id))?.status, 'running');
    assert.deepEqual(typesOf(await eventsOf(task.id)), ['queued', 'started']);
    assert.equal((await backend.store.requeueLost(first, 2, async () => undefined)).kind, 'requeued');
    await backend.store.markStarted([{ id: task.id, worker: 'w2', runId: 'a2' }], 2);
    let sends = 0;
    const outcome = await backend.store.requeueLost({ id: task.id, service: 'svc', worker: 'w2', runId: 'a2' }, 2, async () => { sends++; });
    assert.equal(outcome.kind, 'gave-up');
    assert.equal(sends, 0);
    const info = await backend.store.getTask(task.id);
    assert.equal(info?.status, 'failed');
    assert.equal(info?.error?.code, 'worker_lost');
    assert.equal(JSON.parse((await backend.store.getResult(task.id))!).status, 'failed');
    assert.deepEqual(typesOf(await eventsOf(task.id)), ['queued', 'started', 'queued', 'retried', 'started', 'failed']);
  });

  test('the lost attempt\'s result, arriving after its task was queued again, ends it without counting another attempt', async () => {
    const task = newTask();
    await backend.store.insertTask(task);
    await backend.store.markStarted([{ id: task.id, worker: 'w1', runId: 'a1' }], 3);
    await backend.store.requeueLost({ id: task.id, service: 'svc', worker: 'w1', runId: 'a1' }, 3, async () => undefined);
    const recorded = await backend.store.completeTasks([{ id: task.id, status: 'done', index: { ok: true }, files: [], error: null, runId: 'a1', worker: 'w1' }]);
    assert.equal(recorded[0]?.kind, 'recorded');
    const info = await backend.store.getTask(task.id);
    assert.equal(info?.status, 'done');
    assert.equal(info?.attempts, 1);
    assert.equal(info?.worker, 'w1');
    assert.deepEqual(typesOf(await eventsOf(task.id)), ['queued', 'started', 'queued', 'done']);
    // The copy queued again starts later: the task has ended, so that start changes nothing.
    assert.deepEqual(await backend.store.markStarted([{ id: task.id, worker: 'w2', runId: 'a2' }], 3), [{ kind: 'ended', status: 'done' }]);
  });

  test('cancel ends a queued or running task once; a finished one is reported as ended', async () => {
    const [queued, running, finished] = [newTask(), newTask(), newTask()];
    await Promise.all([queued, running, finished].map((t) => backend.store.insertTask(t)));
    await backend.store.markStarted([{ id: running.id, worker: 'w', runId: 'r' }]);
    await backend.store.completeTasks([{ id: finished.id, status: 'done', index: {}, files: [], error: null }]);
    const a = await backend.store.cancelTask(queued.id);
    assert.equal(a.kind, 'canceled');
    assert.equal((a as { wasRunning: boolean }).wasRunning, false);
    assert.equal(((await backend.store.cancelTask(running.id)) as { wasRunning: boolean }).wasRunning, true);
    assert.deepEqual(await backend.store.cancelTask(queued.id), { kind: 'ended', status: 'canceled' });
    assert.deepEqual(await backend.store.cancelTask(finished.id), { kind: 'ended', status: 'done' });
    assert.deepEqual(await backend.store.cancelTask(ids.next()), { kind: 'unknown-task' });
    assert.equal((await backend.store.getTask(running.id))?.error?.code, 'canceled');
    assert.deepEqual(typesOf(await eventsOf(running.id)), ['queued', 'started', 'canceled']);
    // A task canceled before it started is one a new worker must be told of.
    assert.ok((await backend.store.stoppedBeforeStart(3600, 1000)).includes(queued.id));
    assert.ok(!(await backend.store.stoppedBeforeStart(3600, 1000)).includes(running.id));
    // The worker's own result comes after: ignored.
    assert.equal((await backend.store.completeTasks([{ id: running.id, status: 'failed', index: {}, files: [], error: { code: 'canceled', message: 'x' } }]))[0]?.kind, 'already-ended');
  });

  test('every event carries its task\'s owner, the deleted one too; cancel and delete say by whom; owner filters narrow reads', async () => {
    const [a, b] = [newTask({ owner: 'key:a' }), newTask({ owner: 'key:b' })];
    await Promise.all([a, b].map((t) => backend.store.insertTask(t)));
    await backend.store.markStarted([{ id: a.id, worker: 'w', runId: 'r' }]);
    const canceled = await backend.store.cancelTask(a.id, 'key:a');
    assert.deepEqual((canceled as { events: NewEvent[] }).events.map((e) => (e.data as { by?: string }).by), ['key:a']);
    const deleted = await backend.store.deleteTask(a.id, 'key:root');
    assert.deepEqual(deleted.events.map((e) => [e.type, e.data]), [['deleted', { by: 'key:root' }]]);
    const events = await eventsOf(a.id);
    assert.deepEqual(events.map((e) => [e.type, e.owner]), [['queued', 'key:a'], ['started', 'key:a'], ['canceled', 'key:a'], ['deleted', 'key:a']]);
    assert.equal((events[2]!.data as { by: string }).by, 'key:a');
    const both = new Set([a.id, b.id]);
    const onlyB = await backend.store.readEvents({ tasks: both, owner: 'key:b' }, 0, null, 100);
    assert.deepEqual(onlyB.map((e) => [e.taskId, e.type]), [[b.id, 'queued']]);
    assert.deepEqual((await backend.store.lastEvents({ tasks: both, owner: 'key:a' }, Number.MAX_SAFE_INTEGER, 10)).map((e) => e.type), ['queued', 'started', 'canceled', 'deleted']);
    assert.deepEqual(await backend.store.readEvents({ tasks: both, owner: 'key:nobody' }, 0, null, 100), []);
  });

  test('queued tasks past their deadline expire; others do not', async () => {
    const due = newTask({ deadline: new Date(Date.now() - 1000) });
    const later = newTask({ deadline: new Date(Date.now() + 3_600_000) });
    const started = newTask({ deadline: new Date(Date.now() - 1000) });
    await Promise.all([due, later, started].map((t) => backend.store.insertTask(t)));
    await backend.store.markStarted([{ id: started.id, worker: 'w', runId: 'r' }]);
    const expired = await backend.store.expireQueued(100);
    assert.deepEqual(expired.filter((e) => [due.id, later.id, started.id].includes(e.taskId)).map((e) => [e.taskId, e.type]), [[due.id, 'expired']]);
    assert.equal((await backend.store.getTask(due.id))?.status, 'expired');
    assert.equal((await backend.store.getTask(due.id))?.error?.code, 'expired');
    assert.equal((await backend.store.getTask(later.id))?.status, 'queued');
    assert.equal((await backend.store.getTask(started.id))?.status, 'running');
    assert.ok((await backend.store.getTask(later.id))?.deadline instanceof Date);
  });

  test('deleting a task leaves a deleted event; its events stay readable', async () => {
    const task = newTask();
    await backend.store.insertTask(task);
    const removed = await backend.store.deleteTask(task.id);
    assert.deepEqual(typesOf(removed.events), ['deleted']);
    assert.deepEqual(typesOf(await eventsOf(task.id)), ['queued', 'deleted']);
  });

  test('reads filter by task, service and type; the last N come oldest first; old events are trimmed', async () => {
    const [a, b] = [newTask({ service: 'alpha' }), newTask({ service: 'beta' })];
    await Promise.all([a, b].map((t) => backend.store.insertTask(t)));
    await backend.store.markStarted([{ id: a.id, worker: 'w', runId: 'r' }, { id: b.id, worker: 'w', runId: 's' }]);
    const last = await backend.store.lastEventId();
    const alpha = await backend.store.readEvents({ services: new Set(['alpha']) }, 0, null, 100);
    // Numbered in write order: each task's events in the order they were written.
    assert.deepEqual(alpha.map((e) => e.taskId), [a.id, a.id]);
    const starts = await backend.store.readEvents({ services: new Set(['alpha', 'beta']), types: new Set(['started']) }, 0, null, 100);
    assert.deepEqual(starts.map((e) => e.taskId), [a.id, b.id]);
    assert.deepEqual((await backend.store.readEvents({}, last - 5, last - 1, 100)).map((e) => e.id), [last - 4, last - 3, last - 2, last - 1]);
    const lastTwo = await backend.store.lastEvents({}, last, 2);
    assert.deepEqual(lastTwo.map((e) => e.id), [last - 1, last]);
    await backend.db.query(`UPDATE task_event SET at = now() - interval '2 days' WHERE id <= $1`, [last - 2]);
    const old = (await backend.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM task_event WHERE id <= $1`, [last - 2])).rows[0]!.n;
    assert.equal(await backend.store.trimEvents(86_400, 100_000), old);
    assert.equal(await backend.store.oldestEventId(), last - 1);
  });
});
