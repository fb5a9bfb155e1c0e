/**
 * A task's recorded start is when its run began on the worker (x-errand-started-at), not when the
 * report of it reached the database: a task that ends before its start report is due has a run
 * time, and one that reports its start later is not shortened by --start-report-after.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { startWorker } from '../../src/worker/index.ts';
import type { Worker } from '../../src/worker/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, testLogger } from '../support/backends.ts';
import { postTask } from '../support/http.ts';
import { service } from '../support/services.ts';
import { startStack } from '../support/stack.ts';
import type { Stack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const SLEEP_MS = 400;
const sleeper = (name: string) => service(name, async () => { await new Promise((resolve) => setTimeout(resolve, SLEEP_MS)); return { slept: SLEEP_MS }; }, 2);

await describeEachBackend('recorded start times', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let worker: Worker | undefined;
  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend);
  });
  afterEach(async () => { await worker?.close(); worker = undefined; });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  async function runOne(name: string, startReportAfterMs: number) {
    worker = await startWorker({ broker: backend.broker, services: [sleeper(name)], logger: testLogger, startReportAfterMs });
    const { json } = await postTask(stack.baseUrl, name, {});
    return eventually(async () => { const t = await backend.store.getTask(json.id as string); return t?.status === 'done' && t; }, 'the task done');
  }

  for (const [what, after] of [['ends before its start report is due (the result carries its start)', 60_000], ['reports its start while it runs', 50], ['reports its start before it runs', 0]] as const) {
    test(`a task that ${what}: the run time recorded covers the whole run`, async () => {
      const task = await runOne(`sleeper-${after}`, after);
      const run = task.completedAt!.getTime() - task.startedAt!.getTime();
      assert.ok(run >= SLEEP_MS, `run time ${run} ms recorded for a ${SLEEP_MS} ms sleep`);
      assert.ok(task.startedAt! >= task.createdAt, 'never before the task was created');
    });
  }
});
