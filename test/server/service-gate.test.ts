/**
 * The service gate's queue figures: looked up once per cacheMs; a figure a little past that is used
 * while a fresh one is fetched, so a submission never waits on the broker for it; one past
 * STALE_LIMIT cacheMs is waited for; a failed refresh leaves the next caller to look up itself.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMemoryBroker } from '../../src/broker/memory/index.ts';
import type { QueueStats } from '../../src/broker/index.ts';
import { createServiceGate } from '../../src/server/service-gate.ts';
import type { ServiceRegistry } from '../../src/server/registry.ts';

const noRegistry = { service: () => undefined } as unknown as ServiceRegistry;

/** The embedded broker, its queue figures answered when the test says. */
function heldBroker() {
  const broker = createMemoryBroker();
  const pending: { resolve: (stats: QueueStats) => void; reject: (err: Error) => void }[] = [];
  let lookups = 0;
  const held = { ...broker, queueStats: () => { lookups++; return new Promise<QueueStats>((resolve, reject) => pending.push({ resolve, reject })); } };
  return { broker: held, pending, lookups: () => lookups };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A gate (cacheMs 1000, on a clock the test moves) whose first lookup of `svc` answered one consumer. */
async function primedGate() {
  const held = heldBroker();
  const clock = { now: 0 };
  const gate = createServiceGate(held.broker, noRegistry, { allowUnknownServices: true, cacheMs: 1000, now: () => clock.now });
  const first = gate.admit('svc');
  held.pending.shift()!.resolve({ messages: 0, consumers: 1 });
  assert.equal((await first).consumers, 1);
  return { ...held, gate, clock };
}

test('a figure past cacheMs is used at once while a fresh one is fetched; the fresh one is used next', async () => {
  const { pending, lookups, gate, clock } = await primedGate();
  clock.now = 1500; // stale, within the limit
  const order: string[] = [];
  const second = gate.admit('svc').then((a) => { order.push('admitted'); return a; });
  await settle();
  assert.deepEqual(order, ['admitted'], 'answered without waiting for the broker');
  assert.equal((await second).consumers, 1, 'with the figure it had');
  assert.equal(lookups(), 2, 'and a refresh under way');

  const third = await gate.admit('svc'); // while the refresh is still out: no second refresh
  assert.equal(third.consumers, 1);
  assert.equal(lookups(), 2);

  pending.shift()!.resolve({ messages: 3, consumers: 2 });
  await settle();
  assert.equal((await gate.admit('svc')).consumers, 2, 'the fresh figure once it came');
  assert.equal(lookups(), 2);
});

test('a figure past STALE_LIMIT cacheMs is waited for', async () => {
  const { pending, lookups, gate, clock } = await primedGate();
  clock.now = 5000;
  let answered = false;
  const next = gate.admit('svc').then((a) => { answered = true; return a; });
  await settle();
  assert.equal(answered, false, 'waits for the broker');
  assert.equal(lookups(), 2);
  pending.shift()!.resolve({ messages: 0, consumers: 4 });
  assert.equal((await next).consumers, 4);
});

test('a refresh that fails is dropped: the next caller past cacheMs looks up again', async () => {
  const { pending, lookups, gate, clock } = await primedGate();
  clock.now = 1200;
  assert.equal((await gate.admit('svc')).consumers, 1);
  pending.shift()!.reject(new Error('broker away'));
  await settle();
  const after = gate.admit('svc');
  await settle();
  assert.equal(lookups(), 3, 'a lookup of its own');
  pending.shift()!.reject(new Error('broker still away'));
  await assert.rejects(after, (err: Error & { code?: string }) => err.code === 'broker_unavailable');
});
