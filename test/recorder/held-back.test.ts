/** Which replies wait for a handed-back one of their task, on a test clock. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHeldBack } from '../../src/recorder/held-back.ts';

test("a task's other replies wait for its handed-back one, until it is applied or long forgotten", () => {
  let now = 0;
  const held = createHeldBack({ forgetAfterMs: 60_000, now: () => now });
  const key = (k: string) => () => k;
  assert.equal(held.blocks('t1', key('result')), false, 'nothing handed back');
  held.handedBack('t1', 'script');
  assert.equal(held.blocks('t1', key('result')), true, 'the result waits');
  assert.equal(held.blocks('t1', key('script')), false, 'the script itself goes ahead');
  assert.equal(held.blocks('t2', key('result')), false, 'other tasks run on');
  held.settled('t1', key('result'));
  assert.equal(held.blocks('t1', key('result')), true, 'another reply settling frees nothing');
  held.settled('t1', key('script'));
  assert.equal(held.blocks('t1', key('result')), false, 'the script applied: the result goes');

  held.handedBack('t3', 'script');
  now += 60_000;
  assert.equal(held.blocks('t3', key('result')), true);
  held.handedBack('t3', 'script'); // handed back again: the wait starts over
  now += 60_000;
  assert.equal(held.blocks('t3', key('result')), true);
  now += 1;
  assert.equal(held.blocks('t3', key('result')), false, 'gone to another recorder, say: forgotten');
});
