/** Timeouts and cancel for Node services, which run inside the worker and cannot be killed. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { service } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

// Never settles and ignores its signal: the worker must give up on it, not wait forever.
const stuck = service('stuck', () => new Promise(() => undefined), 1, { timeout: 'PT0.3S', timeoutMs: 300 });
const polite = service('polite', (_input, ctx) => new Promise((_resolve, reject) => {
  ctx.progress({ progress: 0 });
  ctx.signal.addEventListener('abort', () => reject(new Error('stopped')));
}));

await describeEachBackend('Node service timeouts and cancel', (kind) => {
  let backend: Backend;
  let stack: Stack;
  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { services: [stuck, polite] });
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  test('a Node task past its timeout fails with code timeout even if it ignores its signal', async () => {
    const { json } = await postTask(stack.baseUrl, 'stuck', {});
    const updates = await watchUpdates(json._links.updates.href);
    assert.equal(updates.messages.at(-1)!.eventType, 'failed');
    const task = (await (await fetch(json._links.self.href)).json()) as Record<string, any>;
    assert.deepEqual(task.error, { code: 'timeout', message: 'the task ran longer than its PT0.3S timeout' });
  });

  test("the worker's cancel ends a Node task that honours its signal, with code canceled", async () => {
    const { json } = await postTask(stack.baseUrl, 'polite', {});
    const watching = watchUpdates(json._links.updates.href);
    await eventually(() => stack.worker!.cancel(json.id), 'the task to be running');
    await watching;
    const task = (await (await fetch(json._links.self.href)).json()) as Record<string, any>;
    assert.equal(task.status, 'failed');
    assert.equal(task.error.code, 'canceled');
  });
});
