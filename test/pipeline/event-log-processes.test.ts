/**
 * The event log's promise under real concurrency: two servers and two recorders, each its own
 * process, writing and reading at once while thousands of tasks run. Every reader, whichever
 * server it reads from and whenever it joins, gets every event once, in id order.
 * Separate processes need the production engines, so this suite runs on PostgreSQL + RabbitMQ.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, realBackend } from '../support/backends.ts';
import { assertInOrderOnce, readEventSocket, readEventSource } from '../support/event-clients.ts';
import type { EventCollector } from '../support/event-clients.ts';
import { postTask } from '../support/http.ts';
import { serveAddressArgs, spawnErrand, stopAll } from '../support/processes.ts';
import type { RunningErrand } from '../support/processes.ts';

const EVENT_SERVICES = fileURLToPath(new URL('../fixtures/event-services/', import.meta.url));
const TASKS_PER_SERVER = Number(process.env.EVENT_TEST_TASKS ?? 1000);

/** Runs `work` over `items` with at most `limit` at a time. */
async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

await describeEachBackend('event log across processes', () => {
  let backend: Backend;
  const processes: RunningErrand[] = [];
  before(async () => { backend = await realBackend.create(); });
  after(async () => {
    await stopAll(processes);
    await backend.close();
  });

  test('two servers and two recorders at once: every reader gets every event exactly once, in id order', async () => {
    const common = ['--database-url', backend.urls!.database, '--amqp-url', backend.urls!.amqp];
    const servers = await Promise.all([0, 1].map(async () => spawnErrand(['serve', ...common, ...(await serveAddressArgs()), '--no-recorder', '--allow-unknown-services', '--no-auth'])));
    const recorders = [0, 1].map(() => spawnErrand(['recorder', ...common, '--public-url', 'http://errand.test', '--recorder-prefetch', '64']));
    const worker = spawnErrand(['worker', '--amqp-url', backend.urls!.amqp, '--services', EVENT_SERVICES, '--progress-interval', '0']);
    processes.push(...servers, ...recorders, worker);
    const [a, b] = (await Promise.all(servers.map((s) => s.waitForLog((l) => l.msg === 'errand serving')))).map((l) => l.address as string) as [string, string];
    await Promise.all(recorders.map((r) => r.waitForLog((l) => l.msg === 'errand recorder running')));
    await worker.waitForLog((l) => l.msg === 'errand worker running');

    // Readers from the start, one of each kind on each server.
    const readers: Array<{ name: string; reader: EventCollector; since: number }> = [
      { name: 'SSE on A', reader: readEventSource(`${a}/events?since=0`), since: 0 },
      { name: 'WS on B', reader: readEventSocket(`${b.replace('http', 'ws')}/events`, { since: 0 }), since: 0 },
    ];
    const taskIds: string[] = [];
    const submit = (base: string) => inParallel(Array.from({ length: TASKS_PER_SERVER }, (_, i) => i), 32, async (i) => {
      const { response, json } = await postTask(base, 'tick', { i });
      assert.equal(response.status, 201);
      taskIds.push(json.id as string);
    });
    const submitting = Promise.all([submit(a), submit(b)]);
    // Readers that join while events pour in: a replay of everything, and one from the middle.
    await readers[0]!.reader.until((events) => events.length >= 1000, '1000 events');
    const middle = readers[0]!.reader.events[500]!.id;
    readers.push(
      { name: 'late SSE on B', reader: readEventSource(`${b}/events?since=0`), since: 0 },
      { name: 'late WS on A from the middle', reader: readEventSocket(`${a.replace('http', 'ws')}/events`, { since: middle }), since: middle },
    );
    await submitting;

    const first = readers[0]!.reader;
    await first.until((events) => events.filter((e) => e.type === 'done').length === taskIds.length, 'every task done', 120_000);
    const lastId = first.events.at(-1)!.id;
    await Promise.all(readers.map((r) => r.reader.until((events) => events.at(-1)?.id === lastId, `${r.name} to reach event ${lastId}`)));
    readers.forEach((r) => r.reader.close());

    const stored = (await backend.db.query<{ id: string }>('SELECT id::text FROM task_event ORDER BY task_event.id')).rows.map((r) => Number(r.id));
    // Ids are dense: no event was lost between id assignment and commit.
    assert.deepEqual(stored, Array.from({ length: stored.length }, (_, i) => i + 1));
    for (const { name, reader, since } of readers) {
      assert.equal(assertInOrderOnce(reader.events), undefined, name);
      assert.deepEqual(reader.events.map((e) => e.id), stored.filter((id) => id > since), `${name} got exactly the stored events after ${since}`);
    }
    // Each task's story is whole: queued, started, its progress, then one done.
    const byTask = new Map<string, string[]>();
    for (const event of readers[0]!.reader.events) byTask.set(event.taskId, [...(byTask.get(event.taskId) ?? []), event.type]);
    assert.equal(byTask.size, taskIds.length);
    for (const [taskId, types] of byTask) {
      assert.equal(types[0], 'queued', taskId);
      assert.equal(types[1], 'started', taskId);
      assert.equal(types.at(-1), 'done', taskId);
      assert.equal(types.filter((t) => t === 'done').length, 1, taskId);
      assert.ok(types.slice(2, -1).every((t) => t === 'progress'), `${taskId}: ${types.join(',')}`);
    }
  });
}, [realBackend]);
