/** R services through the whole pipeline: the per-service timeout and the worker's cancel stop R. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadServiceDir } from '../../src/worker/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, testLogger } from '../support/backends.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { rUnavailable } from '../support/r.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/r-services/', import.meta.url));
const noR = await rUnavailable();
const skip = noR !== undefined && process.env.CI !== 'true' ? noR : false;

await describeEachBackend('R services in the pipeline', (kind) => {
  let backend: Backend;
  let stack: Stack;
  before(async () => {
    if (skip) return;
    backend = await kind.create();
    const { services, problems } = await loadServiceDir(FIXTURES, { defaultConcurrency: 1, logger: testLogger });
    assert.deepEqual(problems, []);
    stack = await startStack(backend, { services });
  });
  after(async () => {
    if (skip) return;
    await stack.close();
    await backend.close();
  });

  test('a task longer than its timeout is killed and fails with code timeout; the next one runs', { skip }, async () => {
    const { json } = await postTask(stack.baseUrl, 'timeboxed', { seconds: 600 });
    const updates = await watchUpdates(json._links.updates.href);
    assert.equal(updates.messages.at(-1)!.eventType, 'failed');
    const task = (await (await fetch(json._links.self.href)).json()) as Record<string, any>;
    assert.deepEqual(task.error, { code: 'timeout', message: 'the task ran longer than its PT5S timeout' });
    // The next task's 5 s include starting the R process that replaces the killed one (a quarter
    // of a second on an idle machine): a PT1S timeout here failed when the machine was busy.
    const next = await postTask(stack.baseUrl, 'timeboxed', { seconds: 0 });
    await watchUpdates(next.json._links.updates.href);
    const result = (await (await fetch(`${next.json._links.self.href}/results`)).json()) as { slept: number };
    assert.equal(result.slept, 0);
  });

  test("the worker's cancel stops a running R task at once (long before its 600 s sleep ends)", { skip }, async () => {
    const { json } = await postTask(stack.baseUrl, 'sleeper', { seconds: 600 });
    const watching = watchUpdates(json._links.updates.href);
    await eventually(async () => ((await (await fetch(json._links.self.href)).json()) as { status: string }).status === 'running', 'the task to start');
    // The program would run on far longer than this test waits: an outcome at all means it was stopped.
    assert.equal(stack.worker!.cancel(json.id), true);
    const updates = await watching;
    assert.equal(updates.messages.at(-1)!.eventType, 'failed');
    const task = (await (await fetch(json._links.self.href)).json()) as Record<string, any>;
    assert.equal(task.error.code, 'canceled');
    assert.equal(stack.worker!.cancel(json.id), false);
  });

  test('what R printed is kept with the task, its last 32 KB, and served as text', { skip }, async () => {
    const { json } = await postTask(stack.baseUrl, 'chatty', { lines: 3000 });
    await watchUpdates(json._links.updates.href);
    const task = (await (await fetch(json._links.self.href)).json()) as Record<string, any>;
    assert.equal(task.status, 'done');
    const response = await fetch(task._links.console.href);
    assert.equal(response.headers.get('content-type'), 'text/plain; charset=utf-8');
    const text = await response.text();
    assert.ok(Buffer.byteLength(text) <= 33 * 1024, `${Buffer.byteLength(text)} bytes`);
    assert.match(text, /^\[… \d+ earlier bytes omitted\]\n/);
    assert.match(text, /line 003000 x+ ✓\ndone talking\n$/);
  });
});
