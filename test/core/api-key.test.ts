import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiKeyNameProblem, hashApiKey, isApiKeyFormat, isErrandError, newApiKey, parseKeyExpiry } from '../../src/core/index.ts';

test('a new key is errand_ and 43 base64url characters (32 random bytes); every one differs', () => {
  const keys = Array.from({ length: 100 }, newApiKey);
  for (const key of keys) {
    assert.match(key, /^errand_[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(key.slice('errand_'.length), 'base64url').length, 32);
    assert.equal(isApiKeyFormat(key), true);
  }
  assert.equal(new Set(keys).size, 100);
});

test('only the exact shape passes the format check: no lookup for anything else', () => {
  const key = newApiKey();
  for (const text of ['', 'errand_', key.slice(0, -1), `${key}x`, key.replace('errand_', 'Errand_'), `${key.slice(0, -1)}é`, `${key.slice(0, -1)}=`, 'x'.repeat(10_000), `errand_${'a'.repeat(10_000)}`, 'eyJhbGciOiJSUzI1NiJ9.e30.sig']) {
    assert.equal(isApiKeyFormat(text), false, text.slice(0, 60));
  }
});

test('the hash is SHA-256 hex of the key text', () => {
  assert.equal(hashApiKey('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.match(hashApiKey(newApiKey()), /^[0-9a-f]{64}$/);
});

test('key names', () => {
  for (const good of ['web', 'Web-App_2', 'a', 'ci.example', 'x'.repeat(64)]) assert.equal(apiKeyNameProblem(good), undefined, good);
  for (const bad of ['', '-web', '.web', 'a b', 'a:b', 'é', 'x'.repeat(65), 'key/../x']) assert.match(apiKeyNameProblem(bad)!, /key name .* must be 1 to 64/, bad);
});

test('--expires: a duration, or a time with its zone in the future', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  assert.deepEqual(parseKeyExpiry('P90D', now), { after: 'P90D' });
  assert.deepEqual(parseKeyExpiry('PT12H', now), { after: 'PT12H' });
  assert.deepEqual(parseKeyExpiry('2030-02-01T12:00:00Z', now), { at: new Date('2030-02-01T12:00:00Z') });
  assert.deepEqual(parseKeyExpiry('2030-02-01T12:00:00+02:00', now), { at: new Date('2030-02-01T10:00:00Z') });
  assert.deepEqual(parseKeyExpiry('2030-02-01', now), { at: new Date('2030-02-01T00:00:00Z') });
  const refused = (text: string, pattern: RegExp) => assert.throws(() => parseKeyExpiry(text, now), (err: unknown) => isErrandError(err) && err.field === 'expires' && pattern.test(err.message), text);
  refused('P0D', /ISO 8601 duration/);
  refused('P2000Y', /ISO 8601 duration/);
  refused('90 days', /ISO 8601 duration/);
  refused('2030-02-01T12:00', /time with its zone/);
  refused('2030-13-45', /time with its zone/);
  refused('2029-12-31T23:59:59Z', /not in the future/);
});
