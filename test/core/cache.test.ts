/** The result cache's key: which inputs count as the same, and how a request bypasses the cache. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cacheBypassed, cacheKey, canonicalJson, ErrandError } from '../../src/core/index.ts';

test('key order, whitespace and string escapes do not change the canonical input', () => {
  const a = canonicalJson('{"b": [1, {"y": true, "x": null}], "a": "A\\u00e9"}');
  const b = canonicalJson('{ "a":"\\u0041é","b":[1,{"x":null,"y":true}] }');
  assert.equal(a, '{"a":"Aé","b":[1,{"x":null,"y":true}]}');
  assert.equal(a, b);
});

test('numbers stay as written: 1 and 1.0 differ, and digits beyond a double are kept', () => {
  assert.notEqual(canonicalJson('{"n": 1}'), canonicalJson('{"n": 1.0}'));
  assert.equal(canonicalJson('[12345678901234567891]'), '[12345678901234567891]');
  assert.notEqual(canonicalJson('[12345678901234567891]'), canonicalJson('[12345678901234567890]'));
});

test('a key given twice with different values has no canonical form; "__proto__" is an ordinary key', () => {
  assert.equal(canonicalJson('{"a": 1, "a": 2}'), undefined);
  assert.equal(canonicalJson('{"__proto__": {"x": 1}}'), '{"__proto__":{"x":1}}');
  assert.notEqual(canonicalJson('{"__proto__": {"x": 1}}'), canonicalJson('{}'));
});

test('the key depends on service, version and input', () => {
  const key = cacheKey('fit', '1.0.0', '{"n":1}');
  assert.match(key, /^[0-9a-f]{64}$/);
  assert.equal(cacheKey('fit', '1.0.0', '{"n":1}'), key);
  assert.notEqual(cacheKey('fit', '1.0.1', '{"n":1}'), key);
  assert.notEqual(cacheKey('fit2', '1.0.0', '{"n":1}'), key);
  assert.notEqual(cacheKey('fit', '1.0.0', '{"n":2}'), key);
  // Parts cannot run into each other.
  assert.notEqual(cacheKey('a', 'b\n', 'c'), cacheKey('a', 'b', '\nc'));
});

test('?cache=false and Cache-Control no-cache or no-store bypass; anything but true or false is refused', () => {
  assert.equal(cacheBypassed(undefined, undefined), false);
  assert.equal(cacheBypassed('true', undefined), false);
  assert.equal(cacheBypassed('false', undefined), true);
  assert.equal(cacheBypassed(undefined, 'max-age=0, No-Cache'), true);
  assert.equal(cacheBypassed(undefined, 'no-store'), true);
  assert.equal(cacheBypassed(undefined, 'max-age=60'), false);
  assert.throws(() => cacheBypassed('0', undefined), (err: ErrandError) => err.code === 'invalid_field' && err.field === 'cache' && /true or false/.test(err.message));
});
