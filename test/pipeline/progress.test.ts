/** Progress floods are coalesced per task; the latest value always arrives, before the end. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';
import { WebSocket } from 'ws';
import { postTask } from '../support/http.ts';
import type { UpdateMessage } from '../support/http.ts';
import { service } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';

// Reports 0 until a watcher is known to be listening (events before that are not stored yet),
// then 10,000 updates as fast as a loop can make them: a script that reports every iteration.
let release: () => void = () => undefined;
const flood = service('flood', async (_input, ctx) => {
  let released = false;
  release = () => { released = true; };
  while (!released) {
    ctx.progress({ progress: 0 });
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  for (let i = 1; i <= 10_000; i++) ctx.progress({ progress: i / 100 });
  return 'done';
});

/** Watches a task, releasing the flood once the first progress event shows the watch is in place. */
function watchAndRelease(url: string): Promise<UpdateMessage[]> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const messages: UpdateMessage[] = [];
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as UpdateMessage;
      if (messages.length === 0) release();
      messages.push(message);
    });
    socket.on('close', () => resolve(messages));
    socket.on('error', reject);
  });
}

await describeEachBackend('progress floods', (kind) => {
  let backend: Backend;
  let stack: Stack;
  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { services: [flood] });
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  test('thousands of updates reach watchers as a few, in order, ending with the last value before done', async () => {
    const { json } = await postTask(stack.baseUrl, 'flood', {});
    const messages = await watchAndRelease(json._links.updates.href);
    const progress = messages.filter((m) => m.eventType === 'progress').map((m) => m.eventData.progress as number);
    const flooded = progress.filter((p) => p > 0);
    assert.ok(flooded.length >= 1 && flooded.length <= 10, `${flooded.length} progress events for 10,000 updates`);
    assert.deepEqual(progress, [...progress].sort((a, b) => a - b));
    assert.equal(progress.at(-1), 100);
    assert.equal(messages.at(-1)!.eventType, 'done');
  });
});
