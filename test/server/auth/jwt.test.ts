/**
 * JWT bearer tokens (issue 12) against real jose and a JWKS served over HTTP by the test: keys
 * rotate, the provider goes down, and every kind of bad token gets its own refusal.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { KeyObject, sign as cryptoSign } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CompactSign, exportJWK, exportPKCS8, exportSPKI, generateKeyPair, generateSecret, importPKCS8, SignJWT } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import { DEFAULT_JWT_ALGORITHMS } from '../../../src/core/index.ts';
import type { JwtSettings } from '../../../src/core/index.ts';
import { createJwtVerifier } from '../../../src/server/auth/jwt.ts';
import type { JwtOutcome, JwtRefusal, JwtVerifierOptions } from '../../../src/server/auth/jwt.ts';

const ISSUER = 'https://login.example.org/';
const AUDIENCE = 'errand';
/** Every token's times are relative to this injected clock, never to the wall clock. */
const NOW = Date.UTC(2030, 0, 1);
const now = () => NOW;
const seconds = (offset: number) => Math.floor(NOW / 1000) + offset;

type Alg = 'RS256' | 'RS384' | 'ES256';
interface Pair { kid: string; alg: Alg; privateKey: CryptoKey; publicKey: CryptoKey; jwk: JWK }

async function pair(kid: string, alg: Alg = 'RS256'): Promise<Pair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A good token; `claims` replace its claims (undefined removes one). */
function sign(key: Pair, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  const payload = { scope: 'openid read submit:echo', iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: seconds(-60), exp: seconds(600), ...claims };
  return new SignJWT(JSON.parse(JSON.stringify(payload)) as JWTPayload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
    .sign(key.privateKey);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWKS endpoint whose key set the test changes; counts fetches. */
class JwksServer {
  keys: JWK[] = [];
  fetches = 0;
  status = 200;
  readonly server: Server = createServer((request, response) => {
    this.fetches += 1;
    if (this.status !== 200) return void response.writeHead(this.status).end('nope');
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys }));
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  stop(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function settings(keys: JwtSettings['keys'], more: Partial<JwtSettings> = {}): JwtSettings {
  return {
    keys,
    algorithms: [...DEFAULT_JWT_ALGORITHMS],
    issuer: ISSUER,
    audience: [AUDIENCE],
    scopesClaim: 'scope',
    clockToleranceSeconds: 30,
    // Generous: the key servers here answer (a silent one sets its own short bound).
    jwksTimeoutMs: 10_000,
    maxTokenBytes: 8192,
    ...more,
  };
}

function refused(outcome: JwtOutcome, reason: JwtRefusal, message?: RegExp): void {
  assert.equal(outcome.kind, 'refused', `expected a refusal (${reason}), got ${JSON.stringify(outcome)}`);
  if (outcome.kind !== 'refused') return;
  assert.equal(outcome.reason, reason, outcome.error.message);
  assert.equal(outcome.error.field, 'authorization');
  assert.equal(outcome.error.status, reason === 'keys_unavailable' ? 503 : 401);
  assert.equal(outcome.error.code, reason === 'keys_unavailable' ? 'auth_unavailable' : 'unauthorized');
  if (message) assert.match(outcome.error.message, message);
}

function principal(outcome: JwtOutcome) {
  assert.equal(outcome.kind, 'principal', JSON.stringify(outcome.kind === 'refused' ? outcome.error.message : outcome));
  if (outcome.kind !== 'principal') throw new Error('unreachable');
  return outcome.principal;
}

describe('JWT bearer tokens with a JWKS URL', () => {
  const jwks = new JwksServer();
  let url = '';
  let first: Pair;
  let second: Pair;
  const verifier = (more: Partial<JwtSettings> = {}, options: Partial<JwtVerifierOptions> = {}) =>
    createJwtVerifier({ settings: settings({ jwksUrl: url }, more), now, remoteKeys: { cooldownMs: 0 }, ...options });

  before(async () => {
    url = await jwks.start();
    [first, second] = await Promise.all([pair('k1'), pair('k2', 'ES256')]);
    jwks.keys = [first.jwk];
  });
  after(() => jwks.stop());

  test('a valid token becomes jwt:<iss>|<sub> with the known scopes of its scope claim', async () => {
    const { verify } = await verifier();
    const outcome = await verify(await sign(first));
    const who = principal(outcome);
    assert.equal(who.id, `jwt:${ISSUER}|alice`);
    assert.equal(who.via, 'jwt');
    assert.deepEqual([...who.scopes], ['read', 'submit']); // "openid" is not Errand's: ignored
    assert.deepEqual([...(who.services ?? [])], ['echo']);
    assert.equal(outcome.kind === 'principal' && outcome.expiresAt, seconds(600) * 1000);
  });

  test('a rotated key (a kid the cache has not seen) is fetched; within the cooldown it is not', async () => {
    jwks.keys = [first.jwk];
    const rotating = await verifier();
    principal(await rotating.verify(await sign(first)));
    const fetched = jwks.fetches;
    jwks.keys = [first.jwk, second.jwk];
    principal(await rotating.verify(await sign(second)));
    assert.equal(jwks.fetches, fetched + 1, 'the new kid made one fetch');

    // With jose's 30 s cooldown, random kids cannot make Errand hammer the provider.
    const cooling = await verifier({}, { remoteKeys: { cooldownMs: 30_000 } });
    principal(await cooling.verify(await sign(first)));
    const before = jwks.fetches;
    refused(await cooling.verify(await sign({ ...first, kid: 'unknown' })), 'no_key', /kid "unknown"/);
    refused(await cooling.verify(await sign({ ...first, kid: 'unknown-2' })), 'no_key');
    assert.equal(jwks.fetches, before, 'no fetch during the cooldown');
    jwks.keys = [first.jwk];
  });

  test('time claims: expired, not yet valid, no exp; the clock tolerance allows small skew', async () => {
    const { verify } = await verifier();
    refused(await verify(await sign(first, { exp: seconds(-31) })), 'expired', /expired/);
    principal(await verify(await sign(first, { exp: seconds(-29) })));
    refused(await verify(await sign(first, { nbf: seconds(31) })), 'not_yet_valid', /not valid yet/);
    principal(await verify(await sign(first, { nbf: seconds(29) })));
    refused(await verify(await sign(first, { exp: undefined })), 'claims', /no exp/);
    const strict = await verifier({ clockToleranceSeconds: 0 });
    refused(await strict.verify(await sign(first, { exp: seconds(-1) })), 'expired');
  });

  test('wrong issuer, wrong audience, no subject', async () => {
    const { verify } = await verifier();
    refused(await verify(await sign(first, { iss: 'https://evil.example.org/' })), 'issuer', /issuer is not https:\/\/login\.example\.org\//);
    refused(await verify(await sign(first, { aud: 'another-app' })), 'audience', /aud must name errand/);
    refused(await verify(await sign(first, { sub: undefined })), 'no_subject', /no sub/);
    refused(await verify(await sign(first, { sub: '' })), 'no_subject');
    refused(await verify(await sign(first, { iss: undefined })), 'issuer');
    refused(await verify(await sign(first, { sub: 'a\nb' })), 'claims', /sub claim/);
    // Several audiences configured: a token naming any one of them is accepted.
    const either = await verifier({ audience: ['other', AUDIENCE] });
    principal(await either.verify(await sign(first)));
  });

  test('alg none, alg confusion (HS256 keyed with the public key), algorithms not pinned, wrong key', async () => {
    const { verify } = await verifier();
    const claims = { sub: 'alice', iss: ISSUER, aud: AUDIENCE, exp: seconds(600), scope: 'admin' };
    refused(await verify(`${b64({ alg: 'none' })}.${b64(claims)}.`), 'algorithm', /"none" is not accepted/);
    const spki = Buffer.from(await exportSPKI(first.publicKey));
    const confused = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(spki);
    refused(await verify(confused), 'algorithm', /"HS256" is not accepted \(accepted: RS256, ES256\)/);
    const jwkBytes = Buffer.from(JSON.stringify(first.jwk));
    refused(await verify(await new SignJWT(claims).setProtectedHeader({ alg: 'HS512', kid: 'k1' }).sign(jwkBytes)), 'algorithm');
    // RS384 is a fine algorithm, but not one this server was told to accept.
    refused(await verify(await sign(await pair('k1', 'RS384'))), 'algorithm', /"RS384"/);
    // Another key under the same kid: the signature does not verify.
    const impostor = await pair('k1');
    refused(await verify(await sign(impostor)), 'signature', /signature is not valid/);
    // A payload altered after signing.
    const [h, , s] = (await sign(first)).split('.');
    refused(await verify(`${h}.${b64({ ...claims, sub: 'mallory' })}.${s}`), 'signature');
  });

  test('scopes: a custom claim, an array, unknown ones ignored, none at all, a wrong type', async () => {
    const custom = await verifier({ scopesClaim: 'https://errand.example.org/scopes' });
    const who = principal(await custom.verify(await sign(first, { 'https://errand.example.org/scopes': ['read:all', 'cancel', 'write', 'submit:bad name'] })));
    assert.deepEqual([...who.scopes].sort(), ['cancel', 'read:all']);
    assert.deepEqual([...principal(await custom.verify(await sign(first))).scopes], [], 'the claim absent: no scopes');
    refused(await custom.verify(await sign(first, { 'https://errand.example.org/scopes': { admin: true } })), 'claims', /string or an array of strings/);
    const { verify } = await verifier();
    const admin = principal(await verify(await sign(first, { scope: 'admin submit' })));
    assert.deepEqual([...admin.scopes].sort(), ['admin', 'submit']);
    assert.equal(admin.services, undefined);
  });

  test('not a JWT (so other modes may be tried), garbage, oversize, encrypted', async () => {
    const { verify } = await verifier();
    const fetches = jwks.fetches;
    for (const value of ['', 'errand_k_3f9a0c1b2d4e', 'abc.def.ghi', 'a.b', `${b64([1])}.${b64({})}.x`, `${b64({ typ: 'JWT' })}.${b64({})}.x`, '...', 'Bearer x.y.z']) {
      assert.deepEqual(await verify(value), { kind: 'not-jwt' }, value);
    }
    const header = b64({ alg: 'RS256', kid: 'k1' });
    refused(await verify(`${b64({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.a.b.c.d`), 'encrypted', /JWE/);
    refused(await verify(`${header}.${'A'.repeat(8200)}.x`), 'too_large', /longer than 8192 bytes/);
    refused(await verify('x'.repeat(9000)), 'too_large');
    assert.equal(jwks.fetches, fetches, 'nothing refused by its shape or size reached the JWKS URL');
    const big = await sign(first, { padding: 'p'.repeat(600) });
    refused(await (await verifier({ maxTokenBytes: 512 })).verify(big), 'too_large');
    assert.equal((await verify(`${header}.%%%.x`)).kind, 'refused');
    const notJson = await new CompactSign(new TextEncoder().encode('not json')).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(first.privateKey);
    refused(await verify(notJson), 'malformed', /not a valid signed JWT/);
    refused(await verify(`${header}.${b64({ sub: 'x' })}.`), 'signature');
    // A critical header extension Errand does not know (jose will not sign one: node:crypto does).
    const handMade = (head: object) => {
      const input = `${b64(head)}.${b64({ sub: 'alice', iss: ISSUER, aud: AUDIENCE, exp: seconds(600) })}`;
      return `${input}.${cryptoSign('sha256', Buffer.from(input), KeyObject.from(first.privateKey)).toString('base64url')}`;
    };
    principal(await verify(handMade({ alg: 'RS256', kid: 'k1' })));
    refused(await verify(handMade({ alg: 'RS256', kid: 'k1', crit: ['x-unknown'], 'x-unknown': 1 })), 'malformed', /x-unknown/);
  });
});

describe('JWT keys from a JWKS URL that fails', () => {
  const jwks = new JwksServer();
  const silent = createServer(() => {});
  after(async () => {
    await jwks.stop();
    silent.closeAllConnections();
    if (silent.listening) await new Promise((resolve) => silent.close(resolve));
  });

  test('the JWKS server down, answering 500, or silent: 503 auth_unavailable, not 401', async () => {
    const url = await jwks.start();
    const key = await pair('k1');
    jwks.keys = [key.jwk];
    const token = await sign(key);
    const make = (jwksUrl: string, more: Partial<JwtSettings> = {}) =>
      createJwtVerifier({ settings: settings({ jwksUrl }, more), now, remoteKeys: { cooldownMs: 0 } });

    jwks.status = 500;
    refused(await (await make(url)).verify(token), 'keys_unavailable', /could not be fetched; try again later/);
    jwks.status = 200;
    principal(await (await make(url)).verify(token));
    await jwks.stop();
    const down = await (await make(url)).verify(token);
    refused(down, 'keys_unavailable');
    assert.match(String((down as { error: Error }).error.cause), /JWKS URL gave no usable key set/);

    // A server that accepts and never answers: the bounded timeout ends the wait.
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/jwks`;
    refused(await (await make(silentUrl, { jwksTimeoutMs: 200 })).verify(token), 'keys_unavailable');
  });
});

describe('JWT keys from a key file', () => {
  let dir = '';
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'errand-jwt-')); });
  after(() => rm(dir, { recursive: true, force: true }));

  const file = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  };
  const fromFile = (keyFile: string, more: Partial<JwtSettings> = {}) =>
    createJwtVerifier({ settings: settings({ keyFile }, { issuer: undefined, audience: undefined, ...more }), now });
  const refusedAtStart = async (keyFile: string, message: RegExp, more: Partial<JwtSettings> = {}) =>
    assert.rejects(fromFile(keyFile, more), (err: Error & { field?: string }) => err.field === 'jwt-key-file' && message.test(err.message));

  test('a PEM public key: valid tokens pass, alg confusion with its own bytes does not', async () => {
    const key = await pair('any', 'ES256');
    const pem = await exportSPKI(key.publicKey);
    const { verify } = await fromFile(await file('public.pem', pem));
    const who = principal(await verify(await sign(key)));
    assert.equal(who.id, `jwt:${ISSUER}|alice`, 'no issuer configured: the token\'s own iss');
    assert.equal(principal(await verify(await sign(key, { iss: undefined, sub: 'svc' }))).id, 'jwt:|svc');
    refused(await verify(await sign(key, { iss: 'a|b' })), 'claims', /without "\|"/);
    const confused = await new SignJWT({ sub: 'mallory', exp: seconds(600), scope: 'admin' }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(pem));
    refused(await verify(confused), 'algorithm');
    refused(await verify(await sign(await pair('other', 'ES256'))), 'signature');
    refused(await verify(await sign(await pair('rsa'))), 'no_key', /no key is known/);
  });

  test('an X.509 certificate (PEM) made by openssl', async () => {
    const keyPath = join(dir, 'cert-key.pem');
    const certPath = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-out', certPath, '-subj', '/CN=issuer', '-days', '1'], { stdio: 'ignore' });
    const privateKey = await importPKCS8(await readFile(keyPath, 'utf8'), 'ES256');
    const { verify } = await fromFile(certPath);
    const key = { kid: 'cert', alg: 'ES256', privateKey } as Pair;
    assert.equal(principal(await verify(await sign(key))).id, `jwt:${ISSUER}|alice`);
  });

  test('a JWKS file, with issuer and audience checked when configured', async () => {
    const [a, b] = await Promise.all([pair('a'), pair('b', 'ES256')]);
    const path = await file('jwks.json', JSON.stringify({ keys: [a.jwk, b.jwk] }));
    const { verify } = await fromFile(path, { issuer: ISSUER, audience: [AUDIENCE] });
    principal(await verify(await sign(a)));
    principal(await verify(await sign(b)));
    refused(await verify(await sign(a, { aud: 'x' })), 'audience');
    const single = await fromFile(await file('one.jwk', JSON.stringify(a.jwk)));
    principal(await single.verify(await sign(a)));
  });

  test('key files that would weaken checking are refused at start, in one line', async () => {
    const key = await pair('k');
    await refusedAtStart(await file('private.pem', await exportPKCS8(key.privateKey)), /private key/);
    await refusedAtStart(await file('private.json', JSON.stringify({ keys: [await exportJWK(key.privateKey)] })), /private key/);
    const secret = await exportJWK(await generateSecret('HS256', { extractable: true }));
    await refusedAtStart(await file('secret.json', JSON.stringify({ keys: [secret] })), /secret \(oct\) key/);
    await refusedAtStart(await file('rsa.pem', await exportSPKI(key.publicKey)), /no key in it can check ES256.*it holds RSA/, { algorithms: ['ES256'] });
    await refusedAtStart(join(dir, 'missing.pem'), /cannot be read \(ENOENT\)/);
    await refusedAtStart(await file('junk.txt', 'hello'), /PEM public key or certificate/);
    await refusedAtStart(await file('junk.json', '{"hello":1}'), /neither a JWKS/);
  });
});
