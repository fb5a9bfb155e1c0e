/**
 * Completion callbacks (issue 14) delivered by real `errand recorder` processes: a recorder killed
 * with a callback pending leaves it in PostgreSQL, and the next one delivers it once; two recorders
 * at once share the callbacks without sending any twice; the secret never reaches a log.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { parseCallbackHosts } from '../../src/core/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, realBackend } from '../support/backends.ts';
import { spawnErrand } from '../support/processes.ts';
import type { RunningErrand } from '../support/processes.ts';
import { startReceiver } from '../support/receiver.ts';
import type { Receiver } from '../support/receiver.ts';
import { echo } from '../support/services.ts';
import { startStack } from '../support/stack.ts';
import type { Stack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const SECRET = 'process-callback-secret-0123456789abcdefghijklmnopqrstuv';

await describeEachBackend('callbacks delivered by recorder processes', () => {
  let backend: Backend;
  let stack: Stack;
  let receiver: Receiver;
  const recorders: RunningErrand[] = [];

  const startRecorderProcess = (baseDelayMs: number): RunningErrand => {
    const recorder = spawnErrand(['recorder', '--database-url', backend.urls!.database, '--amqp-url', backend.urls!.amqp, '--public-url', stack.baseUrl,
      '--callback-hosts', `127.0.0.1:${receiver.port}`, '--callback-base-delay', String(baseDelayMs), '--callback-poll-interval', '50', '--callback-max-attempts', '5'],
    { ERRAND_CALLBACK_SECRET: SECRET });
    recorders.push(recorder);
    return recorder;
  };
  const submit = async (path: string, n: number) => {
    const response = await fetch(`${stack.baseUrl}/task?service=echo&callback=${encodeURIComponent(receiver.url(path))}`, { method: 'POST', body: JSON.stringify({ n }) });
    assert.equal(response.status, 201);
    return ((await response.json()) as { id: string }).id;
  };
  const callbacksOf = async (id: string) => ((await (await fetch(`${stack.baseUrl}/task/${id}`)).json()) as { callbacks: Array<{ state: string; attempts: Array<{ attempt: number; statusCode?: number; error?: string }> }> }).callbacks;
  const deliveredLines = (recorder: RunningErrand, id?: string) => recorder.output().split('\n').filter((l) => l.includes('"callback delivered"') && (id === undefined || l.includes(id)));

  before(async () => {
    backend = await realBackend.create();
    receiver = await startReceiver();
    // The stack's recorder records results; callbacks are delivered only by the recorder processes.
    stack = await startStack(backend, { services: [echo()], settings: { callbackHosts: parseCallbackHosts([`127.0.0.1:${receiver.port}`]) } });
  });
  after(async () => {
    await Promise.all(recorders.map((r) => r.stop('SIGKILL')));
    await stack.close();
    await receiver.close();
    await backend.close();
  });

  test('a recorder killed with a callback pending: the next recorder delivers it, once', async () => {
    const first = startRecorderProcess(2000);
    await first.waitForLog((l) => l.msg === 'errand recorder running' && l.callbacks === true);
    const id = await submit('/fail-once', 1);
    // The first attempt is answered 500 and recorded; the next is due two seconds later.
    await eventually(async () => (await callbacksOf(id))[0]!.attempts[0]?.statusCode === 500, 'the first attempt to be recorded');
    first.child.kill('SIGKILL');
    await first.exited;
    assert.deepEqual(receiver.forTask(id).map((r) => r.attempt), [1]);
    const second = startRecorderProcess(2000);
    await eventually(async () => (await callbacksOf(id))[0]!.state === 'delivered', 'the callback to be delivered');
    assert.deepEqual(receiver.forTask(id).map((r) => r.attempt), [1, 2], 'one failed attempt, then one delivery');
    assert.deepEqual((await callbacksOf(id))[0]!.attempts.map((a) => [a.attempt, a.statusCode]), [[1, 500], [2, 200]]);
    assert.equal(deliveredLines(second, id).length, 1, 'delivered by the recorder started after the kill');
    await second.stop();
    assert.doesNotMatch(first.output() + second.output(), new RegExp(SECRET), 'the secret is never logged');
  });

  test('two recorders at once: every callback is delivered exactly once', async () => {
    const pair = [startRecorderProcess(100), startRecorderProcess(100)];
    await Promise.all(pair.map((r) => r.waitForLog((l) => l.msg === 'errand recorder running')));
    const ids = await Promise.all(Array.from({ length: 30 }, (_, n) => submit('/ok', n)));
    await eventually(async () => (await Promise.all(ids.map(callbacksOf))).every((c) => c[0]!.state === 'delivered'), 'all 30 callbacks to be delivered');
    for (const id of ids) assert.equal(receiver.forTask(id).length, 1, `task ${id} delivered once`);
    assert.equal(pair.reduce((n, r) => n + deliveredLines(r).length, 0), 30);
    await Promise.all(pair.map((r) => r.stop()));
  });
}, [realBackend]);
