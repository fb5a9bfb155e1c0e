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

test('checkDuration bounds a duration by a maximum and never lets one past the ceiling', async () => {
  const { checkDuration, DURATION_CEILING_MS, boundedDuration, parseRegistryMessage, readManifest } = await import('../../src/core/index.ts');
  assert.deepEqual(checkDuration('PT5M', 600_000), { ok: true, ms: 300_000 });
  assert.deepEqual(checkDuration('PT11M', 600_000), { ok: false, reason: 'too-long' });
  assert.deepEqual(checkDuration('P300000Y'), { ok: false, reason: 'too-long' });
  assert.deepEqual(checkDuration('P300000Y', Infinity), { ok: false, reason: 'too-long' });
  assert.deepEqual(checkDuration(`P${'9'.repeat(400)}Y`, Infinity), { ok: false, reason: 'too-long' });
  assert.deepEqual(checkDuration('soon'), { ok: false, reason: 'syntax' });
  assert.equal(checkDuration('P1000Y').ok, true);
  assert.equal(checkDuration('P1001Y', 2 * DURATION_CEILING_MS).ok, false);
  assert.equal(boundedDuration('P300000Y'), undefined);
  assert.equal(boundedDuration(7), undefined);
  // A worker announcing an absurd ttl is heard without it: it would reach SQL as now() + ttl.
  const announced = parseRegistryMessage(Buffer.from(JSON.stringify({
    kind: 'announce', worker: { id: 'w' }, services: [{ name: 's', version: '1', ttl: 'P300000Y', queueTimeout: 'P300000Y', cache: { enabled: true, lifetime: 'P300000Y' } }],
  })));
  assert.ok(announced?.kind === 'announce');
  assert.equal(announced.services[0]?.ttl, null);
  assert.equal(announced.services[0]?.queueTimeout, null);
  assert.equal(announced.services[0]?.cache.lifetime, 'PT24H');
  // A manifest asking for one is refused at load, naming the field.
  const problem = readManifest({ ttl: 'P300000Y' }, 'x', 'x/service.json');
  assert.ok('message' in problem && problem.field === 'ttl', JSON.stringify(problem));
});
