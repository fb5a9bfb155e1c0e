/** Completion callbacks (issue 14), the pure parts: the allowlist, URL checks, addresses, the signature, the backoff. */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { callbackRetryDelayMs, callbackSignature, checkCallbackUrl, isErrandError, nonPublicAddress, NO_CALLBACKS, parseCallbackHosts } from '../../src/core/index.ts';

function refusal(run: () => unknown): { code: string; field: string | undefined; message: string } {
  try {
    run();
  } catch (err) {
    assert.ok(isErrandError(err), String(err));
    return { code: err.code, field: err.field, message: err.message };
  }
  assert.fail('expected a refusal');
}

test('the allowlist: host, host:port, https:// and http:// entries; loopback and IP entries; bad entries refused naming the flag', () => {
  const list = parseCallbackHosts(['hooks.example.org,api.example.org:8443', 'http://legacy.example.org:8080', '127.0.0.1:9000 [::1]:9001', 'localhost:7000', '10.1.2.3']);
  assert.deepEqual(list.hosts, [
    { host: 'hooks.example.org', port: undefined, plainHttp: false, privateAllowed: false },
    { host: 'api.example.org', port: 8443, plainHttp: false, privateAllowed: false },
    { host: 'legacy.example.org', port: 8080, plainHttp: true, privateAllowed: false },
    { host: '127.0.0.1', port: 9000, plainHttp: true, privateAllowed: true },
    { host: '::1', port: 9001, plainHttp: true, privateAllowed: true },
    { host: 'localhost', port: 7000, plainHttp: true, privateAllowed: true },
    { host: '10.1.2.3', port: undefined, plainHttp: false, privateAllowed: true },
  ]);
  for (const bad of ['ftp://x.org', 'https://x.org/path', 'x.org/', 'user:pw@x.org', '*.example.org', 'https://x.org?q']) {
    const r = refusal(() => parseCallbackHosts([bad]));
    assert.equal(r.field, 'callback-hosts', bad);
    assert.match(r.message, /--callback-hosts entry/);
  }
});

test('a callback URL: its host and port must be listed, https unless listed as http or loopback; refusals name the field callback', () => {
  const list = parseCallbackHosts(['hooks.example.org', 'api.example.org:8443', 'http://legacy.example.org:8080', '127.0.0.1:9000']);
  assert.equal(checkCallbackUrl('https://Hooks.Example.org/errand?k=1', list), 'https://hooks.example.org/errand?k=1');
  assert.equal(checkCallbackUrl('https://hooks.example.org:443/x', list), 'https://hooks.example.org/x');
  assert.equal(checkCallbackUrl('https://api.example.org:8443/x', list), 'https://api.example.org:8443/x');
  assert.equal(checkCallbackUrl('http://legacy.example.org:8080/x', list), 'http://legacy.example.org:8080/x');
  assert.equal(checkCallbackUrl('http://127.0.0.1:9000/x', list), 'http://127.0.0.1:9000/x');
  const cases: Array<[string, RegExp]> = [
    ['https://evil.example.org/x', /host evil\.example\.org is not one this server sends callbacks to/],
    ['https://hooks.example.org:8443/x', /host hooks\.example\.org:8443 is not one/],
    ['https://api.example.org/x', /host api\.example\.org is not one/],
    ['http://hooks.example.org/x', /must be https: plain http to hooks\.example\.org is not allowed/],
    ['ftp://hooks.example.org/x', /must be an https URL, got the scheme ftp/],
    ['https://me:pw@hooks.example.org/x', /must not hold a user name or password/],
    ['https://hooks.example.org/x#frag', /must not hold a fragment/],
    ['/relative', /must be an absolute http\(s\) URL/],
    [`https://hooks.example.org/${'a'.repeat(2048)}`, /must be at most 2048 characters/],
  ];
  for (const [url, message] of cases) {
    const r = refusal(() => checkCallbackUrl(url, list));
    assert.deepEqual([r.code, r.field], ['invalid_field', 'callback'], url);
    assert.match(r.message, message, url);
  }
  assert.match(refusal(() => checkCallbackUrl('https://hooks.example.org/x', NO_CALLBACKS)).message, /allows callbacks to no host/);
});

test('addresses off the public internet are told apart, IPv4 inside IPv6 included', () => {
  const kinds: Record<string, string | undefined> = {
    '127.0.0.1': 'loopback', '10.0.0.5': 'private', '172.20.1.1': 'private', '192.168.1.1': 'private', '169.254.169.254': 'link-local',
    '100.64.0.1': 'shared (carrier-grade NAT)', '0.0.0.0': 'this network', '224.0.0.1': 'multicast', '255.255.255.255': 'reserved',
    '::1': 'loopback', '::': 'unspecified', 'fd00::1': 'unique local (private)', 'fe80::1': 'link-local', 'ff02::1': 'multicast',
    '::ffff:127.0.0.1': 'loopback', '::ffff:7f00:1': 'loopback', '64:ff9b::a00:1': 'private', '2002:c0a8:101::1': 'private',
    '8.8.8.8': undefined, '93.184.216.34': undefined, '2606:4700::1111': undefined, '::ffff:8.8.8.8': undefined,
    'example.org': 'not an IP address',
  };
  for (const [address, kind] of Object.entries(kinds)) assert.equal(nonPublicAddress(address), kind, address);
});

test('the signature is HMAC-SHA256 of "<t>.<body>" in hex, as a receiver computes it', () => {
  const secret = 'a-secret-of-the-operator-0123456789-abcdef';
  const body = '{"id":"688be3abbcc00000","status":"done"}';
  const header = callbackSignature(secret, 1_795_000_000, body);
  const expected = createHmac('sha256', secret).update(`1795000000.${body}`).digest('hex');
  assert.equal(header, `t=1795000000,v1=${expected}`);
  assert.notEqual(callbackSignature(secret, 1_795_000_001, body), header, 'another time, another signature');
});

test('the backoff doubles from the base up to the ceiling, and there is none after the last attempt', () => {
  const policy = { maxAttempts: 6, baseDelayMs: 1000, maxDelayMs: 5000 };
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => callbackRetryDelayMs(n, policy)), [1000, 2000, 4000, 5000, 5000, undefined]);
  assert.equal(callbackRetryDelayMs(1, { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 }), undefined);
  assert.equal(callbackRetryDelayMs(99, { maxAttempts: 100, baseDelayMs: 1000, maxDelayMs: 86_400_000 }), 86_400_000);
});
