/** The janitor's view of which workers are alive, on the in-process broker with a test clock. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { createMemoryBroker } from '../../src/broker/index.ts';
import type { Broker } from '../../src/broker/index.ts';
import { startWorkerWatch } from '../../src/recorder/index.ts';
import { testLogger } from '../support/backends.ts';

const announce = (id: string, intervalMs: number) => Buffer.from(JSON.stringify({
  kind: 'announce', worker: { id, host: 'h', pid: 1, startedAt: '', intervalMs }, services: [],
}));

/** The in-process broker, with a switch that makes the janitor's probes vanish (a watcher cut off). */
function brokerWithDeafness(): { broker: Broker; deaf: { on: boolean } } {
  const inner = createMemoryBroker();
  const deaf = { on: false };
  const broker: Broker = Object.assign(Object.create(inner) as Broker, {
    broadcast: (channel: Parameters<Broker['broadcast']>[0], body: Buffer) =>
      deaf.on && body.toString().includes('"probe"') ? Promise.resolve() : inner.broadcast(channel, body),
  });
  return { broker, deaf };
}

test('workers are judged by their announcements, a goodbye, or never being heard', async () => {
  let now = 1_000_000;
  const broker = createMemoryBroker();
  const watch = await startWorkerWatch({ broker, logger: testLogger, now: () => now, rules: { unknownGraceMs: 10_000, goodbyeGraceMs: 2_000 } });
  await tick();
  assert.equal(watch.listening(), true);
  await broker.broadcast('services', announce('w1', 1000));
  await broker.broadcast('services', announce('w2', 1000));
  await tick();
  now += 2_500;
  assert.equal(watch.isLost('w1'), false);
  await broker.broadcast('services', Buffer.from(JSON.stringify({ kind: 'goodbye', worker: { id: 'w2' } })));
  await tick();
  now += 1_000;
  assert.equal(watch.isLost('w1'), true, 'silent for 3.5 of its intervals');
  assert.equal(watch.isLost('w2'), false, 'within the goodbye grace');
  now += 1_500;
  assert.equal(watch.isLost('w2'), true);
  // A worker never heard from gets its grace from when it is first asked about (it may have just started).
  assert.equal(watch.isLost('never-heard'), false, 'first asked about now');
  now += 9_000;
  assert.equal(watch.isLost('never-heard'), false, 'within the grace');
  now += 1_500;
  assert.equal(watch.isLost('never-heard'), true);
  assert.equal(watch.isLost(null), true, 'a task with no worker named');
  await watch.close();
  await broker.close();
});

test('a round whose own probe did not come back makes the watcher deaf: it judges no worker lost, and silence from before it heard again does not count', async () => {
  let now = 1_000_000;
  const { broker, deaf } = brokerWithDeafness();
  const watch = await startWorkerWatch({ broker, logger: testLogger, now: () => now, rules: { unknownGraceMs: 10_000 } });
  await broker.broadcast('services', announce('w1', 1000));
  await tick();
  assert.equal(watch.listening(), true);
  deaf.on = true;
  now += 1_000;
  await watch.probe(); // this round's probe is lost
  await tick();
  assert.equal(watch.listening(), true, 'last round\'s probe came back');
  now += 1_000;
  await watch.probe(); // finds that it was lost
  await tick();
  assert.equal(watch.listening(), false);
  now += 60_000;
  assert.equal(watch.isLost('w1'), false, 'silent for 62 intervals, but the watcher could not hear');
  assert.equal(watch.isLost('never-heard'), false);
  deaf.on = false;
  await watch.probe();
  await tick();
  assert.equal(watch.listening(), true);
  now += 2_000;
  assert.equal(watch.isLost('w1'), false, 'its silence counts from when the watcher heard again');
  now += 1_500;
  assert.equal(watch.isLost('w1'), true);
  await watch.close();
  await broker.close();
});
