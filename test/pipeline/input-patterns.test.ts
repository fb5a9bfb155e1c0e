/**
 * A hostile input cannot stall the server through a service's input pattern: the regression
 * example's old formula pattern, quadratic in a backtracking engine (40,000 spaces held the event
 * loop 2.9 s; 5 MB would take hours), answers 400 at once, on both backends, while the server goes
 * on answering others.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Backend } from '../support/backends.ts';
import { countTasks, describeEachBackend } from '../support/backends.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { service } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';

const QUADRATIC = '^\\s*[A-Za-z][A-Za-z0-9_.]*\\s*~\\s*[A-Za-z0-9_. +*:-]+$';
const fit = service('fit', (input) => ({ formula: (input as { formula: string }).formula }), 2, {
  inputSchema: { type: 'object', required: ['formula'], properties: { formula: { type: 'string', pattern: QUADRATIC } } },
});

await describeEachBackend('input patterns', (kind) => {
  let backend: Backend;
  let stack: Stack;
  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { services: [fit] });
    await stack.startRecorder();
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  test('40,000 spaces and 5 MB of them answer 400 invalid_input; a health check sent alongside is answered; nothing is written', async () => {
    const before = await countTasks(backend);
    const hostile = [40_000, 5_000_000].map((spaces) => postTask(stack.baseUrl, 'fit', { formula: `y ~${' '.repeat(spaces)}!` }));
    const health = fetch(`${stack.baseUrl}/healthz`);
    assert.equal((await health).status, 200);
    for (const { response, json } of await Promise.all(hostile)) {
      assert.equal(response.status, 400);
      assert.equal(json.error.code, 'invalid_input');
      assert.equal(json.error.field, 'formula');
    }
    assert.equal(await countTasks(backend), before);
  });

  test('a formula the pattern allows is accepted and runs', async () => {
    const { response, json } = await postTask(stack.baseUrl, 'fit', { formula: 'y ~ x * group' });
    assert.equal(response.status, 201);
    const updates = await watchUpdates(json._links.updates.href);
    assert.equal(updates.messages.at(-1)?.eventType, 'done');
  });
});
