import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkingInterval, HTTP_DEFAULTS, httpLimits, serverOptions } from '../../src/server/http-options.ts';

test('limits take the settings given and the defaults for the rest', () => {
  assert.deepEqual(httpLimits({}), { ...HTTP_DEFAULTS });
  assert.equal(httpLimits({ maxParamLength: 100 }).maxParamLength, 100);
  // Node refuses a headers timeout longer than the request timeout.
  assert.equal(httpLimits({ requestTimeoutMs: 1000, headersTimeoutMs: 5000 }).headersTimeoutMs, 1000);
  assert.equal(httpLimits({ requestTimeoutMs: 0, headersTimeoutMs: 5000 }).headersTimeoutMs, 5000);
});

test('timeouts are checked often enough to cut near them', () => {
  assert.equal(checkingInterval(httpLimits({})), 2500);
  assert.equal(checkingInterval(httpLimits({ requestTimeoutMs: 1000, headersTimeoutMs: 500 })), 125);
  assert.equal(checkingInterval(httpLimits({ requestTimeoutMs: 0, headersTimeoutMs: 1_000_000 })), 30_000);
  const options = serverOptions(httpLimits({}));
  assert.equal(options.http.requireHostHeader, false);
  assert.equal(options.requestTimeout, 60_000);
  assert.equal(options.routerOptions.maxParamLength, 255);
});
