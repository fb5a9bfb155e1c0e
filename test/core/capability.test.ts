import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CAPABILITY_TOKEN_LENGTH, capabilityKeyId, capabilityKeyring, issueCapability, isErrandError,
  secretStrengthProblem, verifyCapability, verifyCapabilityToken,
} from '../../src/core/index.ts';
import type { CapabilityCheck } from '../../src/core/index.ts';

const SECRET = 'q3cKb1oG0X9vJ3nq5mRzT7wYp2dLhF8sAeUiOkBcNtM';
const OTHER = 'Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jh0GfEdCbA9z8y7x6wQ';
const TASK = '0186f2a4c1000001';
const OTHER_TASK = '0186f2a4c1000002';
const NOW = Date.UTC(2025, 0, 1);
const HOUR = 3_600_000;

const keyring = capabilityKeyring(SECRET);
const issue = (task = TASK, secret = SECRET, now = NOW) => issueCapability(task, { secret, lifetimeMs: HOUR, now });
const verify = (token: unknown, task: unknown = TASK, now = NOW, secrets = keyring.secrets): CapabilityCheck =>
  verifyCapability(token, task, { secrets, now });

test('a token round-trips: compact, URL-safe, naming its task, key and expiry', () => {
  const token = issue();
  assert.equal(token.length, CAPABILITY_TOKEN_LENGTH);
  assert.equal(token.length, 47);
  assert.match(token, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(verify(token), { kind: 'ok', taskId: TASK, keyId: capabilityKeyId(SECRET), expiresAt: NOW + HOUR });
  // Same inputs, same token (no randomness needed: the MAC is the unguessable part).
  assert.equal(issue(), token);
  assert.notEqual(issue(OTHER_TASK), token);
});

test('a token expires at its expiry millisecond, by the injected clock', () => {
  const token = issue();
  assert.equal(verify(token, TASK, NOW + HOUR - 1).kind, 'ok');
  assert.equal(verify(token, TASK, NOW + HOUR).kind, 'expired');
  assert.equal(verify(token, TASK, NOW + 10 * HOUR).kind, 'expired');
  assert.equal(verify(token, TASK, Number.NaN).kind, 'expired');
  // Issued "in the future" by a replica with a fast clock: still valid here until its expiry.
  assert.equal(verify(issue(TASK, SECRET, NOW + 60_000), TASK, NOW).kind, 'ok');
});

test('a token for one task reads no other', () => {
  const check = verify(issue(OTHER_TASK));
  assert.equal(check.kind, 'wrong-task');
  assert.equal(verify(issue(), 'not-a-task-id').kind, 'wrong-task');
  assert.equal(verifyCapability(issue(), undefined, { secrets: keyring.secrets, now: NOW }).kind, 'wrong-task');
  assert.equal(verify(issue(), TASK.toUpperCase()).kind, 'wrong-task');
});

test('any change to a token breaks its signature: payload bytes, MAC bytes, version', () => {
  const bytes = Buffer.from(issue(), 'base64url');
  for (let i = 1; i < bytes.length; i++) {
    for (const flip of [0x01, 0x80]) {
      const tampered = Buffer.from(bytes);
      tampered[i] = tampered[i]! ^ flip;
      const check = verify(tampered.toString('base64url'));
      // The key id bytes (1-4) name no known secret; every other byte fails the MAC.
      assert.equal(check.kind, 'bad-signature', `byte ${i} ^ ${flip}`);
    }
  }
  // Moving the expiry or the task, the very things an attacker would want, is a bad signature too.
  const later = Buffer.from(bytes);
  later.writeUIntBE(NOW + 1000 * HOUR, 5, 6);
  assert.equal(verify(later.toString('base64url')).kind, 'bad-signature');
  const moved = Buffer.from(bytes);
  moved.write(OTHER_TASK, 11, 8, 'hex');
  assert.equal(verify(moved.toString('base64url'), OTHER_TASK).kind, 'bad-signature');
  const version = Buffer.from(bytes);
  version[0] = 2;
  assert.equal(verify(version.toString('base64url')).kind, 'malformed');
});

test('a token changed as text: every character replaced, truncated, extended, non-canonical', () => {
  const token = issue();
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  for (let i = 0; i < token.length; i++) {
    for (const c of [alphabet[(alphabet.indexOf(token[i]!) + 1) % 64]!, alphabet[(alphabet.indexOf(token[i]!) + 32) % 64]!]) {
      const check = verify(token.slice(0, i) + c + token.slice(i + 1));
      assert.notEqual(check.kind, 'ok', `character ${i} -> ${c}`);
      assert.ok(['bad-signature', 'malformed'].includes(check.kind), `character ${i} -> ${c}: ${check.kind}`);
    }
  }
  for (let n = 0; n < token.length; n++) assert.equal(verify(token.slice(0, n)).kind, 'malformed', `first ${n} characters`);
  assert.equal(verify(token + 'A').kind, 'malformed');
  assert.equal(verify(token + '=').kind, 'malformed');
  assert.equal(verify(` ${token}`.slice(0, 47)).kind, 'malformed');
  // The last character carries 2 unused bits: Buffer would ignore them, the check does not.
  const last = alphabet.indexOf(token.at(-1)!);
  const noncanonical = token.slice(0, -1) + alphabet[last | 1]!;
  if (noncanonical !== token) assert.equal(verify(noncanonical).kind, 'malformed');
});

test('a token signed with another secret does not verify; nor does one whose secret was removed', () => {
  assert.equal(verify(issue(TASK, OTHER)).kind, 'bad-signature');
  // The other secret's key id, made to look like ours: the MAC still fails.
  const forged = Buffer.from(issue(TASK, OTHER), 'base64url');
  forged.write(capabilityKeyId(SECRET), 1, 4, 'hex');
  assert.equal(verify(forged.toString('base64url')).kind, 'bad-signature');
  assert.equal(verify(issue(), TASK, NOW, new Map()).kind, 'bad-signature');
});

test('rotation: the newest secret signs, the previous one still verifies until removed', () => {
  const before = capabilityKeyring(OTHER);
  const oldToken = issueCapability(TASK, { ...before.signing, lifetimeMs: HOUR, now: NOW });
  const during = capabilityKeyring(SECRET, [OTHER]);
  assert.equal(during.signing.secret, SECRET);
  assert.equal(during.signing.keyId, capabilityKeyId(SECRET));
  const newToken = issueCapability(TASK, { ...during.signing, lifetimeMs: HOUR, now: NOW });
  assert.equal(verify(oldToken, TASK, NOW, during.secrets).kind, 'ok');
  assert.equal(verify(newToken, TASK, NOW, during.secrets).kind, 'ok');
  assert.equal(verify(newToken, TASK, NOW, before.secrets).kind, 'bad-signature');
  const after = capabilityKeyring(SECRET);
  assert.equal(verify(oldToken, TASK, NOW, after.secrets).kind, 'bad-signature');
  assert.equal(verify(newToken, TASK, NOW, after.secrets).kind, 'ok');
  assert.equal(capabilityKeyring(SECRET, [SECRET]).secrets.size, 1);
});

test('key ids are derived from the secret: stable, 8 hex digits, different per secret', () => {
  assert.match(capabilityKeyId(SECRET), /^[0-9a-f]{8}$/);
  assert.equal(capabilityKeyId(SECRET), capabilityKeyId(SECRET));
  assert.notEqual(capabilityKeyId(SECRET), capabilityKeyId(OTHER));
  // An explicit key id is what the token carries (and must be one the verifier knows).
  const token = issueCapability(TASK, { secret: SECRET, keyId: 'abcdef01', lifetimeMs: HOUR, now: NOW });
  assert.equal(verify(token).kind, 'bad-signature');
  assert.equal(verify(token, TASK, NOW, new Map([['abcdef01', SECRET]])).kind, 'ok');
});

test('malformed input never throws: not strings, empty, huge, non-ASCII, control characters', () => {
  const token = issue();
  const inputs: unknown[] = [
    undefined, null, 0, 1n, true, {}, [token], [token, token], Symbol('x'), () => token,
    '', ' ', '=', 'A'.repeat(47), '-'.repeat(47), '_'.repeat(47), 'x'.repeat(100 * 1024), token.repeat(2200),
    'é'.repeat(47), '\u0000'.repeat(47), '💥'.repeat(24), `${token.slice(0, 46)}é`, `${token.slice(0, 46)}\u0000`,
    `${token.slice(0, 46)}+`, `${token.slice(0, 46)}/`, `${token.slice(0, 45)}==`, '\ud800'.repeat(47),
    encodeURIComponent(token + '%'), token.replace(/[A-Z]/g, (c) => c.toLowerCase()),
  ];
  for (const input of inputs) {
    let check: CapabilityCheck | undefined;
    assert.doesNotThrow(() => { check = verify(input); }, String(typeof input === 'string' ? input.slice(0, 50) : typeof input));
    assert.notEqual(check!.kind, 'ok');
  }
  assert.equal(verify('x'.repeat(100 * 1024)).kind, 'malformed');
  assert.equal(verify([token]).kind, 'malformed');
  assert.equal(verify('A'.repeat(47)).kind, 'malformed'); // version 0
  // A 47-character token of version 1 with random bytes: well formed, unsigned.
  const random = Buffer.alloc(35, 7);
  random[0] = 1;
  assert.equal(verify(random.toString('base64url')).kind, 'bad-signature');
  // Garbage for the options too: a verifier without secrets refuses all, a bad clock expires all.
  assert.equal(verifyCapability(token, TASK, { secrets: new Map(), now: NOW }).kind, 'bad-signature');
});

test('issue refuses a caller\'s mistakes: a bad task id, key id, lifetime or secret', () => {
  const refused = (fn: () => unknown) => assert.throws(fn, (err: unknown) => isErrandError(err) && err.code === 'internal');
  refused(() => issueCapability('42', { secret: SECRET, lifetimeMs: HOUR, now: NOW }));
  refused(() => issueCapability(TASK, { secret: SECRET, keyId: 'nothex!!', lifetimeMs: HOUR, now: NOW }));
  refused(() => issueCapability(TASK, { secret: SECRET, lifetimeMs: 0, now: NOW }));
  refused(() => issueCapability(TASK, { secret: SECRET, lifetimeMs: Number.NaN, now: NOW }));
  refused(() => issueCapability(TASK, { secret: SECRET, lifetimeMs: 2 ** 48, now: NOW }));
  refused(() => issueCapability(TASK, { secret: '', lifetimeMs: HOUR, now: NOW }));
});

test('a token checked without a task says which task it reads, and refuses what verifyCapability refuses', () => {
  const secrets = capabilityKeyring(SECRET).secrets;
  const token = issueCapability(TASK, { secret: SECRET, lifetimeMs: HOUR, now: NOW });
  assert.deepEqual(verifyCapabilityToken(token, { secrets, now: NOW }), { kind: 'ok', taskId: TASK, keyId: capabilityKeyId(SECRET), expiresAt: NOW + HOUR });
  assert.equal(verifyCapabilityToken(token, { secrets, now: NOW + HOUR }).kind, 'expired');
  assert.equal(verifyCapabilityToken(`${token.slice(0, -2)}AA`, { secrets, now: NOW }).kind, 'bad-signature');
  assert.equal(verifyCapabilityToken('x'.repeat(100_000), { secrets, now: NOW }).kind, 'malformed');
  assert.equal(verifyCapabilityToken(['a'], { secrets, now: NOW }).kind, 'malformed');
});

test('secret strength: 32 random bytes pass in base64, base64url or hex; short or repetitive secrets do not', () => {
  assert.equal(secretStrengthProblem(SECRET), undefined);
  assert.equal(secretStrengthProblem(Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37) % 256)).toString('base64')), undefined);
  assert.equal(secretStrengthProblem('0123456789abcdef'.repeat(4)), undefined);
  assert.equal(secretStrengthProblem('correct horse battery staple plus more words here to pad'), undefined);
  assert.match(secretStrengthProblem('0123456789abcdef'.repeat(3)) ?? '', /too short: 48 characters carry at most 192 bits, at least 256/);
  assert.match(secretStrengthProblem('hunter2') ?? '', /too short/);
  assert.match(secretStrengthProblem('') ?? '', /too short: 0 characters/);
  assert.match(secretStrengthProblem('1'.repeat(200)) ?? '', /repeats itself/);
  assert.match(secretStrengthProblem('ab'.repeat(100)) ?? '', /repeats itself/);
  // Digits only count ~3.3 bits each.
  assert.match(secretStrengthProblem('31415926535897932384626433832795028841971693993751') ?? '', /too short/);
});
