/** The progress coalescer: first value at once, then the latest per interval, all before the end. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createProgressCoalescer } from '../../src/worker/progress-coalescer.ts';
import { eventually } from '../support/wait.ts';

test('the first value leaves at once, a burst leaves as its latest value after the interval', async () => {
  const sent: unknown[] = [];
  const progress = createProgressCoalescer(async (data) => { sent.push(data); }, 50);
  progress.report(1);
  progress.report(2);
  progress.report(3);
  await eventually(() => sent.length === 1, 'the first value');
  assert.deepEqual(sent, [1]);
  await eventually(() => sent.length === 2, 'the latest value of the burst');
  assert.deepEqual(sent, [1, 3]);
  await progress.flush();
  assert.deepEqual(sent, [1, 3]);
});

test('flush sends what is pending at once, and nothing is sent after it', async () => {
  const sent: unknown[] = [];
  const progress = createProgressCoalescer(async (data) => { sent.push(data); }, 60_000);
  progress.report('a');
  progress.report('b');
  await progress.flush();
  assert.deepEqual(sent, ['a', 'b']);
  progress.report('late');
  await progress.flush();
  assert.deepEqual(sent, ['a', 'b']);
});

test('values are published one after another, in the order reported', async () => {
  const order: string[] = [];
  let release!: () => void;
  const slow = new Promise<void>((resolve) => { release = resolve; });
  const progress = createProgressCoalescer(async (data) => {
    if (data === 'first') await slow;
    order.push(data as string);
  }, 0);
  progress.report('first');
  progress.report('second');
  const flushed = progress.flush();
  release();
  await flushed;
  assert.deepEqual(order, ['first', 'second']);
});
