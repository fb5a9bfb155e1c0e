import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_LIVENESS, isWorkerLost } from '../../src/core/index.ts';

const rules = { missedIntervals: 3, unknownGraceMs: 20_000, goodbyeGraceMs: 5_000 };

test('a worker that keeps announcing is alive; one silent for three of its intervals is lost', () => {
  const sighting = { lastSeen: 100_000, intervalMs: 5_000 };
  assert.equal(isWorkerLost(sighting, 0, 114_999, rules), false);
  assert.equal(isWorkerLost(sighting, 0, 115_001, rules), true);
});

test('a worker never heard from is lost only once the grace since the watcher began listening has passed', () => {
  assert.equal(isWorkerLost(undefined, 50_000, 69_000, rules), false);
  assert.equal(isWorkerLost(undefined, 50_000, 70_001, rules), true);
});

test('after a goodbye, the worker\'s tasks wait a short grace for its last results', () => {
  const sighting = { lastSeen: 100_000, intervalMs: 60_000, leftAt: 101_000 };
  assert.equal(isWorkerLost(sighting, 0, 105_500, rules), false);
  assert.equal(isWorkerLost(sighting, 0, 106_001, rules), true);
});

test('silence from before the watcher could hear again is not held against a worker', () => {
  // Last heard at 100 s; the watcher was cut off and has heard the channel again since 130 s.
  const sighting = { lastSeen: 100_000, intervalMs: 5_000 };
  assert.equal(isWorkerLost(sighting, 130_000, 140_000, rules), false);
  assert.equal(isWorkerLost(sighting, 130_000, 145_001, rules), true);
});

test('the defaults suit workers announcing every 5 s', () => {
  assert.ok(DEFAULT_LIVENESS.unknownGraceMs > DEFAULT_LIVENESS.missedIntervals * 5_000);
});
