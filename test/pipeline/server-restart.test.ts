/**
 * A server restarts while 100 clients watch running tasks (half over WS /events, half over SSE).
 * Each client resumes from the last id it received, as docs/events.md says to, and in the end
 * every client has seen every event of its task exactly once, in order, terminal event included.
 * Server, recorder and worker are separate processes on PostgreSQL + RabbitMQ.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { EventJson } from '../../src/core/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, realBackend } from '../support/backends.ts';
import { assertInOrderOnce, readEventSocket, readEventSource } from '../support/event-clients.ts';
import type { EventCollector } from '../support/event-clients.ts';
import { postTask } from '../support/http.ts';
import { freePort, spawnErrand, stopAll } from '../support/processes.ts';
import type { RunningErrand } from '../support/processes.ts';
import { eventually } from '../support/wait.ts';

const EVENT_SERVICES = fileURLToPath(new URL('../fixtures/event-services/', import.meta.url));
const TERMINAL = new Set(['done', 'failed', 'canceled', 'expired']);

/** A client that follows one task and, whenever its connection drops, resumes from its last id. */
function resumingWatcher(base: () => string, taskId: string, kind: 'ws' | 'sse') {
  const events: EventJson[] = [];
  let connections = 0;
  let current: EventCollector | undefined;
  let stopped = false;
  const finished = new Promise<void>((resolve) => {
    const connect = (): void => {
      if (stopped) return;
      connections++;
      const since = events.at(-1)?.id ?? 0;
      const collector = kind === 'ws'
        ? readEventSocket(`${base().replace('http', 'ws')}/events`, { filter: { tasks: [taskId] }, since })
        : readEventSource(`${base()}/task/${taskId}/events`, since > 0 ? { 'last-event-id': String(since) } : {});
      current = collector;
      let taken = 0;
      const drain = (): boolean => {
        while (taken < collector.events.length) events.push(collector.events[taken++]!);
        return events.some((e) => TERMINAL.has(e.type));
      };
      collector.until(drain, 'the terminal event', 120_000).then(
        () => { collector.close(); resolve(); },
        () => { drain(); collector.close(); setTimeout(connect, 200); }, // dropped: resume
      );
    };
    connect();
  });
  return { events, finished, connections: () => connections, stop: () => { stopped = true; current?.close(); } };
}

await describeEachBackend('server restart while clients watch', () => {
  let backend: Backend;
  let dir: string;
  const processes: RunningErrand[] = [];
  before(async () => {
    backend = await realBackend.create();
    dir = await mkdtemp(join(tmpdir(), 'errand-restart-'));
  });
  after(async () => {
    await stopAll(processes);
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('100 watchers resume after the restart and see every event once, terminal included', async () => {
    const common = ['--database-url', backend.urls!.database, '--amqp-url', backend.urls!.amqp];
    const port = await freePort();
    const serveArgs = ['serve', ...common, '--port', String(port), '--public-url', `http://127.0.0.1:${port}`, '--no-recorder', '--no-auth'];
    let server = spawnErrand(serveArgs);
    const recorder = spawnErrand(['recorder', ...common, '--public-url', `http://127.0.0.1:${port}`]);
    const worker = spawnErrand(['worker', '--amqp-url', backend.urls!.amqp, '--services', EVENT_SERVICES]);
    processes.push(recorder, worker);
    const base = (await server.waitForLog((l) => l.msg === 'errand serving')).address as string;
    await recorder.waitForLog((l) => l.msg === 'errand recorder running');
    await worker.waitForLog((l) => l.msg === 'errand worker running');

    // The tasks tick until the test lets them end, after the restart: however slowly the machine
    // goes, they are still running while the server is away.
    const release = join(dir, 'release');
    const tasks = await Promise.all(Array.from({ length: 20 }, () => postTask(base, 'slowtick', { until: release })));
    const watchers = Array.from({ length: 100 }, (_, i) => resumingWatcher(() => base, tasks[i % 20]!.json.id as string, i % 2 === 0 ? 'ws' : 'sse'));
    // Everyone is watching tasks that are running.
    await eventually(() => watchers.every((w) => w.events.some((e) => e.type === 'progress')), 'every watcher to see progress', 60_000);

    await server.stop(); // events go on being recorded while no server runs
    await new Promise((resolve) => setTimeout(resolve, 500));
    server = spawnErrand(serveArgs);
    processes.push(server);
    await server.waitForLog((l) => l.msg === 'errand serving');
    await writeFile(release, '');
    await Promise.all(watchers.map((w) => w.finished));

    for (const [i, watcher] of watchers.entries()) {
      const taskId = tasks[i % 20]!.json.id as string;
      assert.ok(watcher.connections() >= 2, `watcher ${i} was disconnected and resumed`);
      assert.equal(assertInOrderOnce(watcher.events), undefined, `watcher ${i}`);
      const stored = await backend.store.readEvents({ tasks: new Set([taskId]) }, 0, null, 10_000);
      const upToTerminal = stored.slice(0, stored.findIndex((e) => TERMINAL.has(e.type)) + 1);
      assert.deepEqual(watcher.events.map((e) => e.id), upToTerminal.map((e) => e.id), `watcher ${i} saw exactly the task's events`);
      assert.equal(watcher.events.at(-1)!.type, 'done');
    }
  });
}, [realBackend]);
