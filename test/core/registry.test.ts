/** Reading workers' announcements: what reaches the registry from a message no one checked. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { announcedService, inlineManifest, parseRegistryMessage, workerViews } from '../../src/core/index.ts';
import type { WorkerEntry } from '../../src/core/index.ts';

const announce = (service: Record<string, unknown>) => Buffer.from(JSON.stringify({
  kind: 'announce', worker: { id: 'w1', host: 'h', pid: 1, startedAt: '2026-11-23T00:00:00Z', intervalMs: 5000 }, services: [service],
}));

test('durations are kept when they are ISO 8601 durations, and fall back when not (they reach SQL as intervals)', () => {
  const good = parseRegistryMessage(announce({ name: 'fit', version: '1.0.0', ttl: 'P1D', timeout: 'PT1M', queueTimeout: 'PT2H', cache: { enabled: true, lifetime: 'PT1H' } }));
  assert.equal(good?.kind, 'announce');
  const service = good?.kind === 'announce' ? good.services[0] : undefined;
  assert.deepEqual([service?.ttl, service?.timeout, service?.queueTimeout, service?.cache], ['P1D', 'PT1M', 'PT2H', { enabled: true, lifetime: 'PT1H', shared: false }]);

  const bad = parseRegistryMessage(announce({ name: 'fit', version: '1.0.0', ttl: 'tomorrow', timeout: 5, queueTimeout: 'P', cache: { enabled: true, lifetime: '1 hour; DROP TABLE task' } }));
  const fallback = bad?.kind === 'announce' ? bad.services[0] : undefined;
  assert.deepEqual([fallback?.ttl, fallback?.timeout, fallback?.queueTimeout, fallback?.cache], [null, null, null, { enabled: true, lifetime: 'PT24H', shared: false }]);
});

test('a message that is not an announcement of the expected shape is ignored, never thrown', () => {
  assert.equal(parseRegistryMessage(Buffer.from('not json')), undefined);
  assert.equal(parseRegistryMessage(Buffer.from('{"kind":"announce","worker":{"id":"w"}}')), undefined);
  assert.deepEqual(parseRegistryMessage(Buffer.from('{"kind":"discover"}')), { kind: 'discover' });
});

test('issue 14: an announcement says Errand\'s version and tasks done; an older one without them reads as null, a bad one too', () => {
  const message = (worker: Record<string, unknown>, service: Record<string, unknown>) => Buffer.from(JSON.stringify({
    kind: 'announce', worker: { id: 'w1', host: 'h', pid: 1, startedAt: '2026-11-23T00:00:00Z', intervalMs: 5000, ...worker }, services: [{ name: 'fit', version: '1.0.0', ...service }],
  }));
  const current = parseRegistryMessage(message({ errandVersion: '0.1.0' }, { done: 12 }));
  assert.ok(current?.kind === 'announce');
  assert.equal(current.worker.errandVersion, '0.1.0');
  assert.equal(current.services[0]!.done, 12);
  const older = parseRegistryMessage(message({}, {}));
  assert.ok(older?.kind === 'announce');
  assert.equal(older.worker.errandVersion, null);
  assert.equal(older.services[0]!.done, null);
  const bad = parseRegistryMessage(message({ errandVersion: 'x'.repeat(65) }, { done: -1 }));
  assert.ok(bad?.kind === 'announce');
  assert.equal(bad.worker.errandVersion, null);
  assert.equal(bad.services[0]!.done, null);
});

test('issue 14: workerViews flags a worker whose service version is not the one most workers run; on a tie, every one', () => {
  const entry = (id: string, version: string, done: number | null = 0): WorkerEntry => ({
    info: { id, host: 'h', pid: 1, startedAt: '2026-11-23T00:00:00Z', intervalMs: 5000, errandVersion: '0.1.0' },
    services: [{ ...announcedService(inlineManifest('fit', { version }), 2, 1, null, done ?? 0), done }],
    lastSeen: 0,
  });
  const majority = workerViews([entry('a', '1.0.0'), entry('b', '1.0.0'), entry('c', '1.1.0')]);
  assert.deepEqual(majority.map((w) => [w.id, w.flagged]), [['a', false], ['b', false], ['c', true]]);
  assert.deepEqual(majority[2]!.services[0]!.otherVersions, { '1.0.0': 2 });
  assert.equal('otherVersions' in majority[0]!.services[0]!, false);
  const tie = workerViews([entry('a', '1.0.0'), entry('b', '2.0.0')]);
  assert.deepEqual(tie.map((w) => w.flagged), [true, true]);
  const alone = workerViews([entry('a', '1.0.0', null)]);
  assert.equal(alone[0]!.flagged, false);
  assert.equal(alone[0]!.done, null, 'a worker that does not count says so rather than 0');
  assert.deepEqual([alone[0]!.slots, alone[0]!.running], [2, 1]);
});
