/**
 * What a running task prints reaches its watchers while it runs (issue 15): `console` events in
 * the task's event stream, in order, before its end; R's output at each update(), a command's
 * stderr as it writes it; at most a stored console's worth a task, the rest said to come with the
 * result. Patavi's updates socket never sees them. On both backends, with real R.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { createClient } from '../../src/client/index.ts';
import type { ErrandClient, TaskEvent } from '../../src/client/index.ts';
import { firstBytes, splitByBytes } from '../../src/core/index.ts';
import { createConsoleStream } from '../../src/worker/console-stream.ts';
import { loadServiceDir } from '../../src/worker/index.ts';
import { DEAD_LETTER_QUEUE, DEAD_REASON_HEADER } from '../../src/broker/index.ts';
import { consoleRoutingKey, RUN_HEADER } from '../../src/core/index.ts';
import { gate } from '../support/services.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, testLogger } from '../support/backends.ts';
import { watchUpdates } from '../support/http.ts';
import { rUnavailable } from '../support/r.ts';
import { startStack } from '../support/stack.ts';
import type { Stack } from '../support/stack.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/console-services/', import.meta.url));
const noR = await rUnavailable();
if (noR && process.env.CI === 'true') throw new Error(`R is required in CI: ${noR}`);

const collect = async (events: AsyncIterable<TaskEvent>): Promise<TaskEvent[]> => {
  const all: TaskEvent[] = [];
  for await (const event of events) all.push(event);
  return all;
};
const textOf = (events: TaskEvent[]): string => events.filter((e) => e.type === 'console').map((e) => (e.data as { text: string }).text).join('');

test('console text is cut into pieces of at most the given bytes, never inside a character', () => {
  const text = 'ab✓cd✓✓e';
  for (const size of [1, 3, 4, 5, 100]) {
    const pieces = splitByBytes(text, size);
    assert.ok(pieces.every((p) => Buffer.byteLength(p) <= size), `${size}: ${JSON.stringify(pieces)}`);
    if (size >= 3) assert.equal(pieces.join(''), text);
  }
  assert.deepEqual(splitByBytes('✓', 2), [], 'a character longer than the piece ends it');
  assert.deepEqual(splitByBytes('abc', 0), []);
  assert.equal(firstBytes('ab✓cd', 4), 'ab');
  assert.equal(firstBytes('ab✓cd', 5), 'ab✓');
  assert.equal(firstBytes('abc', 0), '');
});

test('a flood reported at once is held only to the limit, sent in pieces, and ends with the note', async () => {
  const sent: string[] = [];
  const stream = createConsoleStream(async (text) => { sent.push(text); }, 10, 32768);
  assert.equal(stream.report('x'.repeat(101_092)), true);
  assert.equal(stream.report('more'), false, 'full: nothing more is held');
  await stream.flush();
  const all = sent.join('');
  assert.equal(all.replace(/\n\[… live output.*\n$/s, ''), 'x'.repeat(32768));
  assert.ok(sent.every((piece) => Buffer.byteLength(piece) <= 8 * 1024));
  assert.equal(stream.report('later'), false);
});

await describeEachBackend('console output while a task runs', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let client: ErrandClient;
  const held = gate('held-console');

  before(async () => {
    backend = await kind.create();
    const { services, problems } = await loadServiceDir(FIXTURES, { defaultConcurrency: 2, logger: testLogger });
    assert.deepEqual(problems, []);
    stack = await startStack(backend, { services: [...services, held.definition] });
    client = createClient(stack.baseUrl);
  });
  after(async () => {
    held.release();
    await stack?.close();
    await backend?.close();
  });

  test('an R task\'s printed lines and messages arrive as console events at each update(), before its end', { skip: noR }, async () => {
    const task = await client.submit('talker', {});
    const updates = watchUpdates(stack.baseUrl.replace(/^http/, 'ws') + `/task/${task.id}/updates`);
    const events = await collect(client.watch(task.id));
    const types = events.map((e) => e.type);
    assert.equal(types.at(-1), 'done');
    const firstConsole = types.indexOf('console');
    assert.ok(firstConsole > 0 && firstConsole < types.lastIndexOf('progress'), `console before the last progress: ${types.join(',')}`);
    const streamed = textOf(events);
    assert.match(streamed, /step 1 printed\nnote 1\n[^]*step 2 printed\nnote 2\n[^]*step 3 printed\nnote 3\n[^]*the end ✓\n/);
    // The stored console is the same text.
    assert.equal(await client.console(task.id), streamed);
    // Patavi's socket: progress and the end only.
    const patavi = await updates;
    assert.ok(patavi.messages.every((m) => m.eventType === 'progress' || m.eventType === 'done'), JSON.stringify(patavi.messages.map((m) => m.eventType)));
  });

  test('a command\'s stderr arrives as it writes it', async () => {
    const task = await client.submit('stderrer', {});
    const events = await collect(client.watch(task.id));
    const consoles = events.filter((e) => e.type === 'console');
    assert.ok(consoles.length >= 2, `written in bursts 0.4 s apart, passed on in more than one piece: ${consoles.length}`);
    assert.equal(textOf(events), 'stderr line 1\nstderr line 2\nstderr line 3\n');
    assert.equal(events.at(-1)!.type, 'done');
  });

  test('a flood of output: live output stops at a stored console\'s size and says so; the stored console keeps the end', { skip: noR }, async () => {
    const task = await client.submit('flood', {});
    const events = await collect(client.watch(task.id));
    const streamed = textOf(events);
    assert.ok(Buffer.byteLength(streamed) <= 32 * 1024 + 200, `${Buffer.byteLength(streamed)} bytes streamed`);
    assert.match(streamed, /^line 0001 /);
    assert.match(streamed, /live output stops here, at 32768 bytes; the end of it is kept with the task's result\]\n$/);
    assert.ok(events.filter((e) => e.type === 'console').every((e) => Buffer.byteLength((e.data as { text: string }).text) <= 8 * 1024));
    const stored = await client.console(task.id);
    assert.match(stored ?? '', /line 1000 y+\n$/);
  });

  test('console messages the recorder will not keep: text that is not a string is set aside, another attempt\'s is dropped, a large one is cut', async () => {
    const task = await client.submit('held-console', {});
    await held.whenStarted(1);
    while ((await client.get(task.id)).status !== 'running') await new Promise((resolve) => setTimeout(resolve, 20));
    const dead: string[] = [];
    const deadLetters = await backend.broker.consume(DEAD_LETTER_QUEUE, async (delivery) => {
      dead.push(String(delivery.properties.headers?.[DEAD_REASON_HEADER] ?? ''));
      return 'ack';
    }, { prefetch: 8 });
    const send = (eventData: unknown, runId?: string) => backend.broker.publishStatus(consoleRoutingKey(task.id), Buffer.from(JSON.stringify({ taskId: task.id, eventType: 'console', eventData })),
      { contentType: 'application/json', headers: runId ? { [RUN_HEADER]: runId } : {} });
    try {
      await send({ text: 42 });
      await send({ text: 'from an attempt that is not this one\n' }, 'run-of-another-attempt');
      await send({ text: `${'z'.repeat(20 * 1024)}` });
      await send({ text: 'last\n' });
      const seen: TaskEvent[] = [];
      for await (const event of client.watch(task.id)) {
        seen.push(event);
        if (event.type === 'console' && (event.data as { text: string }).text === 'last\n') break;
      }
      const texts = seen.filter((e) => e.type === 'console').map((e) => (e.data as { text: string }).text);
      assert.equal(texts.length, 2, 'the large one and the last; not the other attempt\'s');
      assert.ok(Buffer.byteLength(texts[0]!) <= 8 * 1024 + 40, `${Buffer.byteLength(texts[0]!)} bytes`);
      assert.match(texts[0]!, /^z+\[… \d+ bytes cut\]$/);
      while (dead.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.match(dead[0]!, /not a progress message/);
    } finally {
      await deadLetters.close();
      held.release();
    }
  });
});
