/** A task's input and its result come back as they were written: key order, spacing, number spelling. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RESULT_QUEUE } from '../../src/core/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';
import { startStack } from '../support/stack.ts';
import type { Stack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

await describeEachBackend('input and result as written', (kind) => {
  let backend: Backend;
  let stack: Stack;
  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { settings: { allowUnknownServices: true } });
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  test('what a client posts and what a worker replies are served byte for byte', async () => {
    const input = '{"zeta": 1.50, "alpha": [1e3, 12345678901234567890],  "zeta": -0.0}';
    const posted = await fetch(`${stack.baseUrl}/task?service=written`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: input });
    assert.equal(posted.status, 201);
    const id = ((await posted.json()) as { id: string }).id;
    // As a worker (R's jsonlite, say) wrote it, with the charset Errand's workers name.
    const result = '{ "b": 1.0, "a": 0.1000, "big": 98765432109876543210, "b": 2 }';
    await backend.broker.send(RESULT_QUEUE, Buffer.from(result), { correlationId: id, contentType: 'application/json; charset=utf-8' });
    await eventually(async () => (await backend.store.getTask(id))?.status === 'done', 'the result recorded');
    assert.equal(await (await fetch(`${stack.baseUrl}/task/${id}/task`)).text(), input);
    assert.equal(await (await fetch(`${stack.baseUrl}/task/${id}/results`)).text(), result);
  });
});
