/** Completion callbacks' flags (issue 14): off by default, the secret required with hosts and never echoed, the policy bounded. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readConfig } from '../../src/cli/config.ts';
import { callbackSettings } from '../../src/cli/recorder.ts';
import { serverSettings } from '../../src/cli/serve.ts';
import { isErrandError } from '../../src/core/index.ts';

const SECRET = 'cb-secret-0123456789abcdefghijklmnopqrstuvwxyzABCD';
const serve = ['serve', '--public-url', 'https://errand.example.org'];

function refusal(argv: string[], env: Record<string, string> = {}): { field: string | undefined; message: string } {
  try {
    readConfig(argv, env);
  } catch (err) {
    assert.ok(isErrandError(err));
    return { field: err.field, message: err.message };
  }
  assert.fail('expected the configuration to be refused');
}

test('off by default: no host, so servers refuse callbacks and recorders deliver none', () => {
  const { config } = readConfig(serve, {});
  assert.deepEqual(config.callbackHosts, { hosts: [], allowPrivate: false });
  assert.deepEqual([config.callbackMaxAttempts, config.callbackBaseDelayMs, config.callbackMaxDelayMs, config.callbackTimeoutMs, config.callbackPollIntervalMs, config.callbackConcurrency], [12, 5000, 3_600_000, 10_000, 1000, 16]);
  assert.deepEqual(callbackSettings(config), {});
  assert.deepEqual(serverSettings(config).callbackHosts, { hosts: [], allowPrivate: false });
});

test('hosts from the flag (repeatable, comma-separated) or the variable; with the secret, recorders deliver with the policy given', () => {
  const { config } = readConfig([...serve, '--callback-hosts', 'hooks.example.org,api.example.org:8443', '--callback-hosts', 'http://127.0.0.1:9000',
    '--callback-max-attempts', '3', '--callback-base-delay', '100', '--callback-max-delay', '400', '--callback-timeout', '2000', '--callback-poll-interval', '50', '--callback-concurrency', '2'],
  { ERRAND_CALLBACK_SECRET: SECRET });
  assert.deepEqual(config.callbackHosts.hosts.map((h) => [h.host, h.port ?? null, h.plainHttp]), [['hooks.example.org', null, false], ['api.example.org', 8443, false], ['127.0.0.1', 9000, true]]);
  const { callbacks } = callbackSettings(config);
  assert.ok(callbacks);
  assert.equal(callbacks.secret, SECRET);
  assert.deepEqual(callbacks.retry, { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 400 });
  assert.deepEqual([callbacks.timeoutMs, callbacks.pollIntervalMs, callbacks.concurrency], [2000, 50, 2]);
  assert.match(callbacks.userAgent, /^errand\/\d+\.\d+\.\d+/);
  const fromEnv = readConfig(serve, { ERRAND_CALLBACK_HOSTS: 'a.example.org b.example.org,c.example.org', ERRAND_CALLBACK_SECRET: SECRET, ERRAND_CALLBACK_ALLOW_PRIVATE: 'true' }).config;
  assert.deepEqual(fromEnv.callbackHosts.hosts.map((h) => h.host), ['a.example.org', 'b.example.org', 'c.example.org']);
  assert.equal(fromEnv.callbackHosts.allowPrivate, true);
});

test('hosts without a secret stop serve, recorder and dev (not a worker); a weak secret stops any command, and is never echoed', () => {
  for (const command of [serve, ['recorder', '--public-url', 'https://errand.example.org'], ['dev']]) {
    const r = refusal([...command, '--callback-hosts', 'hooks.example.org']);
    assert.equal(r.field, 'callback-secret');
    assert.match(r.message, /^--callback-hosts needs --callback-secret \(or ERRAND_CALLBACK_SECRET\)/);
  }
  assert.doesNotThrow(() => readConfig(['worker', '--callback-hosts', 'hooks.example.org'], {}));
  const weak = refusal([...serve, '--callback-hosts', 'hooks.example.org', '--callback-secret', 'hunter2hunter2']);
  assert.equal(weak.field, 'callback-secret');
  assert.match(weak.message, /^--callback-secret is too short/);
  assert.doesNotMatch(weak.message, /hunter2/);
});

test('bad entries and policies are refused at start, naming the flag', () => {
  assert.equal(refusal([...serve, '--callback-hosts', 'ftp://x.org'], { ERRAND_CALLBACK_SECRET: SECRET }).field, 'callback-hosts');
  assert.equal(refusal([...serve, '--callback-max-attempts', '0']).field, 'callback-max-attempts');
  assert.equal(refusal([...serve, '--callback-base-delay', '2000', '--callback-max-delay', '1000']).field, 'callback-max-delay');
  assert.equal(refusal([...serve, '--callback-timeout', 'soon']).field, 'callback-timeout');
  assert.equal(refusal(serve, { ERRAND_CALLBACK_ALLOW_PRIVATE: 'maybe' }).field, 'callback-allow-private');
});
