import assert from 'node:assert/strict';
import { test } from 'node:test';
import { durationToMillis, parseIsoDuration } from '../../src/core/index.ts';

test('ISO 8601 durations Patavi clients send are accepted', () => {
  assert.equal(durationToMillis(parseIsoDuration('PT5M')!), 300_000);
  assert.equal(durationToMillis(parseIsoDuration('P1DT2H')!), 26 * 3_600_000);
  assert.equal(durationToMillis(parseIsoDuration('PT0.5S')!), 500);
  assert.ok(parseIsoDuration('P1Y2M3W4DT5H6M7S'));
  assert.ok(parseIsoDuration('P0D'));
});

test('anything else is refused', () => {
  for (const bad of ['', 'P', 'PT', '5M', 'PT5', 'P1H', 'pt5m', 'PT-5M', 'P1.5DT2H', 'PT5M ', '1 day', 'P1DT']) {
    assert.equal(parseIsoDuration(bad), undefined, bad);
  }
});
