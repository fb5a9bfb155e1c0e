/** Reading workers' announcements: what reaches the registry from a message no one checked. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRegistryMessage } from '../../src/core/index.ts';

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
