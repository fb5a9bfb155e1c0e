import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readConfig } from '../../src/cli/config.ts';
import { isErrandError } from '../../src/core/index.ts';

const serve = (...flags: string[]) => readConfig(['serve', '--public-url', 'https://errand.example.org', ...flags], {}, '/srv').config;
const jwks = ['--jwt-jwks-url', 'https://login.example.org/jwks', '--jwt-issuer', 'https://login.example.org/', '--jwt-audience', 'errand'];

function refused(flags: string[], field: string, message: RegExp): void {
  assert.throws(() => serve(...flags), (err: unknown) => isErrandError(err) && err.field === field && message.test(err.message) && !err.message.includes('\n'));
}

test('JWT mode is off without a key source; with one, the defaults', () => {
  assert.equal(serve().jwt, undefined);
  assert.deepEqual(serve(...jwks).jwt, {
    keys: { jwksUrl: 'https://login.example.org/jwks' },
    algorithms: ['RS256', 'ES256'],
    issuer: 'https://login.example.org/',
    audience: ['errand'],
    scopesClaim: 'scope',
    clockToleranceSeconds: 30,
    jwksTimeoutMs: 5000,
    maxTokenBytes: 8192,
  });
});

test('JWT flags and ERRAND_JWT_* variables; a key file is resolved against the working directory', () => {
  const { config } = readConfig(['serve', '--public-url', 'https://e.example.org', '--jwt-algorithms', 'ES384, EdDSA', '--jwt-clock-tolerance', '0'], {
    ERRAND_JWT_KEY_FILE: 'keys/jwt.pem',
    ERRAND_JWT_AUDIENCE: 'errand,errand-staging',
    ERRAND_JWT_SCOPES_CLAIM: 'https://errand.example.org/scopes',
    ERRAND_JWT_JWKS_TIMEOUT: '2000',
    ERRAND_JWT_MAX_SIZE: '4kb',
  }, '/srv');
  assert.deepEqual(config.jwt, {
    keys: { keyFile: '/srv/keys/jwt.pem' },
    algorithms: ['ES384', 'EdDSA'],
    audience: ['errand', 'errand-staging'],
    scopesClaim: 'https://errand.example.org/scopes',
    clockToleranceSeconds: 0,
    jwksTimeoutMs: 2000,
    maxTokenBytes: 4096,
  });
  // http is fine to this machine (a local provider, tests).
  assert.deepEqual(serve(...jwks.slice(2), '--jwt-jwks-url', 'http://127.0.0.1:8080/jwks').jwt?.keys, { jwksUrl: 'http://127.0.0.1:8080/jwks' });
});

test('bad JWT settings stop the start with one line naming the flag', () => {
  refused([...jwks, '--jwt-key-file', 'k.pem'], 'jwt-key-file', /two key sources: give one/);
  refused(['--jwt-issuer', 'https://login.example.org/'], 'jwt-jwks-url', /no key source/);
  refused(['--jwt-jwks-url', 'https://login.example.org/jwks'], 'jwt-issuer', /needs --jwt-issuer and --jwt-audience/);
  refused(['--jwt-jwks-url', 'https://login.example.org/jwks', '--jwt-issuer', 'x'], 'jwt-audience', /needs --jwt-issuer and --jwt-audience/);
  refused([...jwks, '--jwt-jwks-url', 'http://login.example.org/jwks'], 'jwt-jwks-url', /must be https/);
  refused([...jwks, '--jwt-jwks-url', 'not a url'], 'jwt-jwks-url', /must be a URL/);
  refused(['--jwt-key-file', 'k.pem', '--jwt-algorithms', 'HS256'], 'jwt-algorithms', /HS256 is an HMAC/);
  refused(['--jwt-key-file', 'k.pem', '--jwt-algorithms', 'RS256,none'], 'jwt-algorithms', /refused algorithm "none"/);
  refused(['--jwt-key-file', 'k.pem', '--jwt-algorithms', 'RS257'], 'jwt-algorithms', /unknown or refused algorithm "RS257"/);
  refused(['--jwt-key-file', 'k.pem', '--jwt-algorithms', ','], 'jwt-algorithms', /at least one/);
  refused(['--jwt-key-file', 'k.pem', '--jwt-issuer', 'a|b'], 'jwt-issuer', /no "\|"/);
  refused(['--jwt-key-file', 'k.pem', '--jwt-audience', ' , '], 'jwt-audience', /at least one/);
  refused(['--jwt-key-file', 'k.pem', '--jwt-clock-tolerance', '30000'], 'jwt-clock-tolerance', /from 0 to 300/);
  refused(['--jwt-key-file', 'k.pem', '--jwt-max-size', '1mb'], 'jwt-max-size', /256 bytes to 64kb/);
});
