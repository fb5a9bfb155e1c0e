import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSlots } from '../../src/worker/slots.ts';

test('a service runs at most its capacity; a release passes the slot straight to a waiting delivery', async () => {
  const slots = createSlots(new Map([['svc', 1]]), 10_000);
  assert.equal(await slots.acquire('svc'), true);
  let granted: boolean | undefined;
  const waiting = slots.acquire('svc').then((g) => { granted = g; });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(granted, undefined, 'still waiting while the slot is held');
  slots.release('svc');
  await waiting;
  assert.equal(granted, true);
  slots.close();
});

test('a delivery that waits past the limit is refused (and handed back); one arriving later still gets a freed slot', async () => {
  const slots = createSlots(new Map([['svc', 1]]), 50);
  assert.equal(await slots.acquire('svc'), true);
  assert.equal(await slots.acquire('svc'), false);
  slots.release('svc');
  assert.equal(await slots.acquire('svc'), true, 'the refused wait left no claim behind');
  slots.close();
});

test('closing refuses every waiting and later delivery; unknown services have no slots', async () => {
  const slots = createSlots(new Map([['svc', 1]]), 10_000);
  assert.equal(await slots.acquire('svc'), true);
  const waiting = slots.acquire('svc');
  slots.close();
  assert.equal(await waiting, false);
  assert.equal(await slots.acquire('svc'), false);
  assert.equal(await createSlots(new Map(), 10).acquire('other'), false);
});
