/**
 * The recorder against replies it cannot write as sent, and against replies of one task that
 * must be applied in the order they were sent:
 * - a task whose own row makes recording fail every time (a ttl so long that `now() + ttl` is
 *   out of range) once made the recorder requeue its reply about once a second forever, the
 *   task stuck running and the other results of its batch held back with it;
 * - Patavi's `{script}` message and the result sent right after it were written in any order:
 *   a done task could have no script yet.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEAD_LETTER_QUEUE, DEAD_REASON_HEADER } from '../../src/broker/index.ts';
import type { Broker } from '../../src/broker/index.ts';
import { ErrandError, FlakeIdGenerator, RESULT_QUEUE, STARTED_TYPE } from '../../src/core/index.ts';
import { MAX_TRIES_OF_UNKNOWN_ERRORS, startRecorder } from '../../src/recorder/index.ts';
import { DatabaseError, loadMigrations } from '../../src/store/index.ts';
import type { CompletionOutcome, Store } from '../../src/store/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, testLogger } from '../support/backends.ts';
import { eventually } from '../support/wait.ts';

const ids = new FlakeIdGenerator(41);

await describeEachBackend('recorder faults', (kind) => {
  let backend: Backend;
  before(async () => { backend = await kind.create(); });
  after(async () => { await backend.close(); });

  async function insert(ttl: string | null = null): Promise<string> {
    const id = ids.next();
    await backend.store.insertTask({ id, service: 'manual', input: '{}', owner: null, clientName: null, ttl });
    return id;
  }
  const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
  const sendResult = (id: string, value: unknown): Promise<void> =>
    backend.broker.send(RESULT_QUEUE, json(value), { correlationId: id, contentType: 'application/json' });
  const statusOf = async (id: string): Promise<string | undefined> => (await backend.store.getTask(id))?.status;
  const withRecorder = async <T>(store: Store, body: () => Promise<T>): Promise<T> => {
    const recorder = await startRecorder({ store, broker: backend.broker, logger: testLogger, publicUrl: 'http://errand.test', prefetch: 64, retryDelayMs: 50 });
    try {
      return await body();
    } finally {
      await recorder.close();
    }
  };
  async function deadLetters(expected: number): Promise<Array<{ correlationId: string | undefined; reason: string }>> {
    // Read by consuming: the same on both brokers.
    const seen: Array<{ correlationId: string | undefined; reason: string }> = [];
    await backend.broker.declareQueue(DEAD_LETTER_QUEUE);
    const subscription = await backend.broker.consume(DEAD_LETTER_QUEUE, async (d) => {
      const reason = d.properties.headers?.[DEAD_REASON_HEADER];
      seen.push({ correlationId: d.properties.correlationId, reason: Buffer.isBuffer(reason) ? reason.toString() : String(reason) });
      return 'ack';
    }, { prefetch: 100 });
    await eventually(() => seen.length >= expected, `${expected} dead letters`);
    await subscription.close();
    return seen;
  }

  test('a result whose task row cannot take it fails that task (unrecordable_result); the rest of its batch is recorded', async () => {
    const poison = await insert('P300000Y');
    const good = await Promise.all(Array.from({ length: 20 }, () => insert('PT1H')));
    await withRecorder(backend.store, async () => {
      // Back to back, the poisoned one in the middle: they share a batch.
      for (const [i, id] of good.entries()) {
        if (i === 10) await sendResult(poison, { n: 'poison' });
        await sendResult(id, { n: i });
      }
      await eventually(async () => (await Promise.all([poison, ...good].map(statusOf))).every((s) => s !== 'running' && s !== 'queued'), 'every task to end');
    });
    for (const id of good) assert.equal(await statusOf(id), 'done');
    const task = await backend.store.getTask(poison);
    assert.equal(task?.status, 'failed');
    assert.equal(task?.error?.code, 'unrecordable_result');
    assert.match(task?.error?.message ?? '', /could not be recorded/);
    const events = await backend.store.readEvents({ tasks: new Set([poison]) }, 0, null, 10);
    assert.equal(events.at(-1)?.type, 'failed');
    assert.equal((await backend.broker.queueStats(RESULT_QUEUE))?.messages, 0);
  });

  test('the store fails such a task on its own, and says the batch-mates were recorded', async () => {
    const poison = await insert('P300000Y');
    const good = await insert();
    const outcomes = await backend.store.completeTasks([
      { id: good, status: 'done', index: { ok: true }, files: [], error: null },
      { id: poison, status: 'done', index: { ok: true }, files: [], error: null },
    ]);
    assert.deepEqual(outcomes.map((o) => o.kind === 'recorded' ? o.status : o.kind), ['done', 'failed']);
    assert.equal((await backend.store.getTask(poison))?.error?.code, 'unrecordable_result');
  });

  test('migration 006 cuts a ttl stored before the limits to P1000Y, after which the task can be canceled', async () => {
    const poison = await insert('P300000Y');
    await assert.rejects(backend.store.cancelTask(poison), 'a cancel fails while the ttl is out of range');
    const migration = (await loadMigrations()).find((m) => m.name === '006_ttl_ceiling');
    assert.ok(migration, 'migration 006 exists');
    await backend.db.exec(migration.sql);
    const outcome = await backend.store.cancelTask(poison);
    assert.equal(outcome.kind, 'canceled');
    assert.equal(await statusOf(poison), 'canceled');
  });

  test('a reply that can never be written is set aside in errand.dead; a database that is away is waited for', async () => {
    const [bad, good, flaky] = [await insert(), await insert(), await insert()];
    let flakyCalls = 0;
    const store: Store = {
      ...backend.store,
      async completeTasks(tasks) {
        const failFlaky = tasks.some((t) => t.id === flaky) && flakyCalls++ === 0;
        const refused = (id: string): boolean => id === bad || (id === flaky && failFlaky);
        const written = tasks.filter((t) => !refused(t.id));
        const real = await backend.store.completeTasks(written);
        const byId = new Map(written.map((t, i) => [t.id, real[i]!]));
        return tasks.map((t): CompletionOutcome => {
          if (t.id === bad) return { kind: 'not-recorded', transient: false, error: new DatabaseError('value out of range', 'invalid-value') };
          if (refused(t.id)) return { kind: 'not-recorded', transient: true, error: new ErrandError('database_unavailable', 'connection lost') };
          return byId.get(t.id)!;
        });
      },
    };
    await withRecorder(store, async () => {
      await sendResult(bad, { n: 1 });
      await sendResult(flaky, { n: 2 });
      await sendResult(good, { n: 3 });
      await eventually(async () => (await statusOf(good)) === 'done' && (await statusOf(flaky)) === 'done', 'the good and the flaky result to be recorded');
      await eventually(async () => (await backend.broker.queueStats(RESULT_QUEUE))?.messages === 0, 'the reply queue to be empty');
    });
    assert.equal(flakyCalls, 2, 'the flaky result was tried again');
    assert.equal(await statusOf(bad), 'queued');
    const dead = await deadLetters(1);
    assert.deepEqual(dead.map((d) => d.correlationId), [bad]);
    assert.match(dead[0]!.reason, /can never be recorded: value out of range/);
  });

  test('a start report that cannot be written is set aside alone; the other starts of its batch are recorded', async () => {
    const [bad, ...good] = await Promise.all(Array.from({ length: 6 }, () => insert()));
    const store: Store = {
      ...backend.store,
      async markStarted(tasks, maxAttempts) {
        if (tasks.some((t) => t.id === bad)) throw new DatabaseError('invalid input syntax', 'invalid-value');
        return backend.store.markStarted(tasks, maxAttempts);
      },
    };
    await withRecorder(store, async () => {
      for (const id of [good[0]!, bad!, ...good.slice(1)]) {
        await backend.broker.send(RESULT_QUEUE, json({ worker: 'w' }), { correlationId: id, contentType: 'application/json', type: STARTED_TYPE });
      }
      await eventually(async () => (await Promise.all(good.map(statusOf))).every((s) => s === 'running'), 'the good starts to be recorded');
      await eventually(async () => (await backend.broker.queueStats(RESULT_QUEUE))?.messages === 0, 'the reply queue to be empty');
    });
    assert.equal(await statusOf(bad!), 'queued');
    assert.deepEqual((await deadLetters(1)).map((d) => d.correlationId), [bad]);
  });

  test("a task's script message and the result sent right after it are applied in that order", async () => {
    const tasks = await Promise.all(Array.from({ length: 40 }, () => insert()));
    const order: string[] = [];
    const completing = new Map<string, () => void>();
    // The script write is slow (it waits until the task's result is being written, or a while):
    // a recorder that does not wait for it writes the result first.
    const store: Store = {
      ...backend.store,
      async saveScript(id, script) {
        await Promise.race([
          new Promise<void>((resolve) => completing.set(id, resolve)),
          new Promise<void>((resolve) => setTimeout(resolve, 300)),
        ]);
        await backend.store.saveScript(id, script);
        order.push(`script ${id}`);
      },
      async completeTasks(batch) {
        for (const t of batch) { order.push(`result ${t.id}`); completing.get(t.id)?.(); }
        return backend.store.completeTasks(batch);
      },
    };
    await withRecorder(store, async () => {
      for (const id of tasks) {
        await backend.broker.send(RESULT_QUEUE, json({ script: `f <- function() "${id}"` }), { correlationId: id, contentType: 'application/json' });
        await sendResult(id, { id });
      }
      await eventually(async () => (await Promise.all(tasks.map(statusOf))).every((s) => s === 'done'), 'every task to be done');
    });
    for (const id of tasks) {
      assert.ok(order.indexOf(`script ${id}`) >= 0 && order.indexOf(`script ${id}`) < order.indexOf(`result ${id}`), `task ${id}: ${order.filter((o) => o.endsWith(id)).join(', ')}`);
      assert.equal(await backend.store.getScript(id), `f <- function() "${id}"`);
      assert.equal((await backend.store.getTask(id))?.hasScript, true);
    }
  });
  test("a script message handed back because the database was away is still applied before its task's result", async () => {
    const tasks = await Promise.all(Array.from({ length: 10 }, () => insert()));
    const order: string[] = [];
    const refusedOnce = new Set<string>();
    const store: Store = {
      ...backend.store,
      async saveScript(id, script) {
        if (!refusedOnce.has(id)) {
          refusedOnce.add(id);
          throw new ErrandError('database_unavailable', 'connection lost');
        }
        await backend.store.saveScript(id, script);
        order.push(`script ${id}`);
      },
      async completeTasks(batch) {
        for (const t of batch) order.push(`result ${t.id}`);
        return backend.store.completeTasks(batch);
      },
    };
    await withRecorder(store, async () => {
      for (const id of tasks) {
        await backend.broker.send(RESULT_QUEUE, json({ script: `f <- function() "${id}"` }), { correlationId: id, contentType: 'application/json' });
        await sendResult(id, { id });
      }
      await eventually(async () => (await Promise.all(tasks.map(statusOf))).every((s) => s === 'done'), 'every task to be done');
    });
    for (const id of tasks) {
      const script = order.indexOf(`script ${id}`);
      assert.ok(script >= 0 && script < order.indexOf(`result ${id}`), `task ${id}: ${order.filter((o) => o.endsWith(id)).join(', ')}`);
      assert.equal((await backend.store.getTask(id))?.hasScript, true);
    }
  });

  test("a result that arrives after its script went back to the queue waits for the script", async () => {
    // Made to happen every time: the recorder's broker hands its script message back only once
    // the result, sent meanwhile, has been handled (on a busy machine a result can come that late).
    const id = await insert();
    const order: string[] = [];
    let refused = false;
    const store: Store = {
      ...backend.store,
      async saveScript(taskId, script) {
        if (!refused) {
          refused = true;
          throw new ErrandError('database_unavailable', 'connection lost');
        }
        await backend.store.saveScript(taskId, script);
        order.push('script');
      },
      async completeTasks(batch) {
        order.push(...batch.map(() => 'result'));
        return backend.store.completeTasks(batch);
      },
    };
    let resultHandled!: () => void;
    const handled = new Promise<void>((resolve) => { resultHandled = resolve; });
    const broker: Broker = {
      ...backend.broker,
      target: backend.broker.target,
      consume: (queue, handler, options) => backend.broker.consume(queue, async (delivery) => {
        const disposition = await handler(delivery);
        const isScript = 'script' in (JSON.parse(delivery.body.toString()) as object);
        if (queue === RESULT_QUEUE && !isScript) resultHandled();
        if (queue === RESULT_QUEUE && isScript && disposition === 'requeue' && order.length === 0) {
          await sendResult(id, { id });
          await handled;
        }
        return disposition;
      }, options),
    };
    const recorder = await startRecorder({ store, broker, logger: testLogger, publicUrl: 'http://errand.test', prefetch: 64, retryDelayMs: 50 });
    try {
      await backend.broker.send(RESULT_QUEUE, json({ script: 'f <- function() 1' }), { correlationId: id, contentType: 'application/json' });
      await eventually(async () => (await statusOf(id)) === 'done', 'the task to be done');
    } finally {
      await recorder.close();
    }
    assert.deepEqual(order, ['script', 'result']);
    assert.equal((await backend.store.getTask(id))?.hasScript, true);
  });

  test('a reply whose error says neither "database away" nor "bad data" gets a few tries, then is set aside; the rest are recorded', async () => {
    const [odd, good] = [await insert(), await insert()];
    let oddTries = 0;
    const store: Store = {
      ...backend.store,
      async completeTasks(tasks) {
        const written = tasks.filter((t) => t.id !== odd);
        const real = await backend.store.completeTasks(written);
        const byId = new Map(written.map((t, i) => [t.id, real[i]!]));
        return tasks.map((t): CompletionOutcome => {
          if (t.id !== odd) return byId.get(t.id)!;
          oddTries++;
          return { kind: 'not-recorded', transient: false, error: new TypeError('something nobody expected') };
        });
      },
    };
    await withRecorder(store, async () => {
      await sendResult(odd, { n: 1 });
      await sendResult(good, { n: 2 });
      await eventually(async () => (await statusOf(good)) === 'done', 'the good result to be recorded');
      await eventually(async () => (await backend.broker.queueStats(RESULT_QUEUE))?.messages === 0 && oddTries >= MAX_TRIES_OF_UNKNOWN_ERRORS, 'the odd reply to be set aside');
    });
    assert.equal(oddTries, MAX_TRIES_OF_UNKNOWN_ERRORS);
    const dead = await deadLetters(1);
    assert.deepEqual(dead.map((d) => d.correlationId), [odd]);
    assert.match(dead[0]!.reason, new RegExp(`could not be recorded in ${MAX_TRIES_OF_UNKNOWN_ERRORS} tries: something nobody expected`));
  });
});
