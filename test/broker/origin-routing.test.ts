/** Broadcasts that skip their sender: the routing keys and bindings of origin-routing.ts, checked with the topic matcher. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topicMatches } from '../../src/broker/index.ts';
import { bindingsExcept, ORIGINS, originRoutingKey } from '../../src/broker/origin-routing.ts';

const matching = (patterns: string[], key: string): number => patterns.filter((p) => topicMatches(p, key)).length;

test('every other origin matches exactly one binding, the listener\'s own none, a key without origin the exact one', () => {
  for (const own of [0, 1, 2, 12345, 32768, ORIGINS - 2, ORIGINS - 1]) {
    const patterns = bindingsExcept('events', own);
    assert.equal(matching(patterns, originRoutingKey('events', own)), 0, `own origin ${own}`);
    assert.equal(matching(patterns, 'events'), 1, 'a broadcast that gives no origin');
    for (let other = 0; other < ORIGINS; other += 97) {
      if (other !== own) assert.equal(matching(patterns, originRoutingKey('events', other)), 1, `origin ${other} heard by ${own}`);
    }
    for (const other of [own ^ 1, own ^ 0x8000, own ^ 0xffff]) assert.equal(matching(patterns, originRoutingKey('events', other)), 1);
  }
});

test('another channel\'s broadcasts do not match, and an origin out of range is refused', () => {
  assert.equal(matching(bindingsExcept('events', 5), originRoutingKey('control', 6)), 0);
  assert.throws(() => originRoutingKey('events', ORIGINS), RangeError);
  assert.throws(() => bindingsExcept('events', -1), RangeError);
  assert.throws(() => originRoutingKey('events', 1.5), RangeError);
});
