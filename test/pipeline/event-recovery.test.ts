/**
 * What the event streams do when the fast path fails: broadcasts lost on the broker, and events a
 * writer committed but never numbered (it died first). Clients still get every event once, in
 * order, from the database.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FlakeIdGenerator } from '../../src/core/index.ts';
import type { Broker } from '../../src/broker/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';
import { assertInOrderOnce, readEventSocket } from '../support/event-clients.ts';
import { postTask } from '../support/http.ts';
import { echo } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';

await describeEachBackend('event recovery', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let dropped = 0;
  before(async () => {
    backend = await kind.create();
    const real = await backend.connectBroker();
    // Two of every three event broadcasts are lost on the way.
    let count = 0;
    const lossy: Broker = {
      ...real,
      target: real.target,
      async broadcast(channel, body) {
        if (channel === 'events' && count++ % 3 !== 0) { dropped++; return; }
        return real.broadcast(channel, body);
      },
    };
    stack = await startStack(backend, { services: [echo()], broker: lossy });
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  test('lost broadcasts: readers still get every event once, in order, read from the database', async () => {
    const reader = readEventSocket(`${stack.baseUrl.replace('http', 'ws')}/events`, { since: 0 });
    const ids = (await Promise.all(Array.from({ length: 60 }, (_, i) => postTask(stack.baseUrl, 'echo', { i })))).map((t) => t.json.id as string);
    await reader.until((events) => ids.every((id) => events.some((e) => e.taskId === id && e.type === 'done')), 'every task done');
    reader.close();
    assert.ok(dropped > 0, 'broadcasts were dropped');
    assert.equal(assertInOrderOnce(reader.events), undefined);
    const stored = await backend.store.readEvents({}, 0, reader.events.at(-1)!.id, 100_000);
    assert.deepEqual(reader.events.map((e) => e.id), stored.map((e) => e.id));
  });

  test('events a writer committed but never announced (it died before broadcasting) reach readers from the database', async () => {
    // From the current end of the log: whether the event comes live or in the replay, it must come.
    const reader = readEventSocket(`${stack.baseUrl.replace('http', 'ws')}/events`, { filter: { services: ['orphan'] }, since: await backend.store.lastEventId() });
    // Written straight to the store, as by a writer that died before announcing it.
    const id = new FlakeIdGenerator(9).next();
    await backend.store.insertTask({ id, service: 'orphan', input: '{}', owner: null, clientName: null, ttl: null });
    await reader.until((events) => events.some((e) => e.taskId === id && e.type === 'queued'), 'the orphan queued event', 10_000);
    reader.close();
  });
});
