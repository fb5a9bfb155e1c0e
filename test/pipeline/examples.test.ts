/**
 * The bundled example services (services/), each through the whole pipeline on both backends:
 * HTTP submit, queue, worker and runtime (R, Python command, Node), recorder, results and files.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadServiceDir } from '../../src/worker/index.ts';
import type { ServiceDefinition } from '../../src/worker/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, testLogger } from '../support/backends.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { rUnavailable } from '../support/r.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';

const SERVICES = fileURLToPath(new URL('../../services/', import.meta.url));
const noR = await rUnavailable();
const needsR = noR !== undefined && process.env.CI !== 'true' ? noR : false;

async function run(stack: Stack, service: string, input: unknown) {
  const { response, json } = await postTask(stack.baseUrl, service, input);
  assert.equal(response.status, 201, JSON.stringify(json));
  const updates = await watchUpdates(json._links.updates.href);
  const task = (await (await fetch(json._links.self.href)).json()) as Record<string, any>;
  const results = await fetch(`${json._links.self.href}/results`);
  return { updates, task, index: (await results.json()) as any, self: json._links.self.href as string };
}

await describeEachBackend('example services', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let services: ServiceDefinition[];
  before(async () => {
    backend = await kind.create();
    const loaded = await loadServiceDir(SERVICES, { defaultConcurrency: 2, logger: testLogger });
    services = loaded.services;
    if (process.env.CI === 'true' || !noR) assert.deepEqual(loaded.problems, []);
    stack = await startStack(backend, { services });
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  test('every example is served and announced with its schema and example', async () => {
    const listed = (await (await fetch(`${stack.baseUrl}/services`)).json()) as { services: { name: string }[] };
    const expected = needsR ? ['echo', 'wordcount'] : ['echo', 'regression', 'slow', 'wordcount'];
    assert.deepEqual(listed.services.map((s) => s.name), expected);
    for (const name of expected.filter((n) => n !== 'echo')) {
      const detail = (await (await fetch(`${stack.baseUrl}/services/${name}`)).json()) as Record<string, unknown>;
      assert.ok(detail.inputSchema, `${name} has no schema`);
      assert.ok('example' in detail, `${name} has no example`);
      assert.equal(typeof detail.docs, 'string', `${name} has no docs`);
    }
  });

  test("slow (R, Patavi's tutorial): progress, a histogram, its input back", { skip: needsR }, async () => {
    const { updates, task, index, self } = await run(stack, 'slow', { duration: 0.2, label: 'x' });
    const progress = updates.messages.filter((m) => m.eventType === 'progress').map((m) => m.eventData.progress);
    // 100 updates in 0.2 s arrive coalesced (at most one per 100 ms), in order, ending at 100.
    assert.ok(progress.length >= 1 && progress.length < 100, `${progress.length} progress events`);
    assert.deepEqual(progress, [...progress].sort((a, b) => a - b));
    assert.equal(progress.at(-1), 100);
    assert.equal(updates.messages.at(-1)!.eventType, 'done');
    assert.equal(task.status, 'done');
    assert.equal(task._links.script.href, `${self}/script`);
    assert.match(await (await fetch(task._links.script.href)).text(), /^# Patavi's tutorial service/);
    assert.deepEqual(index, { duration: 0.2, label: 'x', plot: { href: 'duration.png', 'content-type': 'image/png' } });
    const plot = await fetch(`${self}/results/duration.png`);
    assert.equal(plot.headers.get('content-type'), 'image/png');
    assert.deepEqual([...Buffer.from(await plot.arrayBuffer()).subarray(1, 4)], [...Buffer.from('PNG')]);
  });

  test('slow fails when asked, with R\'s message; a wrong input type is refused before queueing', { skip: needsR }, async () => {
    const { updates, task, index } = await run(stack, 'slow', { duration: 0, silent: true, fail: true });
    assert.equal(updates.messages.length, 1);
    assert.equal(updates.messages[0]!.eventType, 'failed');
    assert.equal(task.status, 'failed');
    assert.equal(index.cause, 'Error in slow(params): failed because params$fail was TRUE');
    assert.equal(task.error.code, 'r_error');
    const refused = await postTask(stack.baseUrl, 'slow', { duration: 'long' });
    assert.equal(refused.response.status, 400);
    assert.equal(refused.json.error.field, 'duration');
  });

  test('regression (R, lm): coefficients, fit statistics, a diagnostic plot and the printed summary', { skip: needsR }, async () => {
    const input = { formula: 'y ~ x', data: { x: [1, 2, 3, 4, 5, 6], y: [3.1, 4.9, 7.2, 8.8, 11.1, 13] } };
    const { task, index, self } = await run(stack, 'regression', input);
    assert.equal(task.status, 'done');
    assert.deepEqual(index.coefficients.map((c: { term: string }) => c.term), ['(Intercept)', 'x']);
    // Least squares by hand: slope = Sxy / Sxx.
    const mx = 3.5;
    const my = input.data.y.reduce((a, b) => a + b) / 6;
    const slope = input.data.x.reduce((s, x, i) => s + (x - mx) * (input.data.y[i]! - my), 0) / input.data.x.reduce((s, x) => s + (x - mx) ** 2, 0);
    assert.ok(Math.abs(index.coefficients[1].estimate - slope) < 1e-9);
    assert.ok(Math.abs(index.coefficients[0].estimate - (my - slope * mx)) < 1e-9);
    assert.ok(index.rSquared > 0.99 && index.rSquared <= 1);
    assert.equal(index.n, 6);
    const plot = await fetch(`${self}/results/diagnostics.png`);
    assert.equal(plot.status, 200);
    assert.equal(task._links.console.href, `${self}/console`);
    const printed = await (await fetch(task._links.console.href)).text();
    assert.match(printed, /Residual standard error/);
  });

  test('regression refuses a formula that would run code, and reports a missing column as an R error', { skip: needsR }, async () => {
    const refused = await postTask(stack.baseUrl, 'regression', { formula: 'y ~ system("id")', data: { y: [1, 2, 3] } });
    assert.equal(refused.response.status, 400);
    assert.equal(refused.json.error.field, 'formula');
    const { task } = await run(stack, 'regression', { formula: 'y ~ z', data: { y: [1, 2, 3] } });
    assert.equal(task.status, 'failed');
    assert.match(task.error.message, /columns not in data: z/);
  });

  test('wordcount (Python command): counts, top words, a CSV file and progress', async () => {
    const { updates, task, index, self } = await run(stack, 'wordcount', { text: 'the cat and the hat and THE bat', top: 2 });
    assert.equal(task.status, 'done');
    assert.ok(updates.messages.some((m) => m.eventType === 'progress'));
    assert.equal(index.words, 8);
    assert.equal(index.distinct, 5);
    assert.deepEqual(index.top, [{ word: 'the', count: 3 }, { word: 'and', count: 2 }]);
    const csv = await fetch(`${self}/results/counts.csv`);
    assert.equal(csv.headers.get('content-type'), 'text/csv; charset=utf-8');
    assert.match(await csv.text(), /the,3/);
    const empty = await run(stack, 'wordcount', { text: '   ' });
    assert.equal(empty.task.status, 'failed');
    assert.equal(empty.task.error.code, 'command_failed');
  });

  test('echo (Node): returns its input', async () => {
    const { task, index } = await run(stack, 'echo', { any: ['json', 1, null] });
    assert.equal(task.status, 'done');
    assert.deepEqual(index, { any: ['json', 1, null] });
  });
});
