/**
 * Capability tokens (issue 12): what a task's links carry so that a browser can watch that one task,
 * read its results and files and resume its event stream with no other credential. A token is
 * signed by the server (HMAC-SHA256 with a configured secret), names one task, expires, and grants
 * reading only. It holds no secret and no state: any server replica with the same secret verifies
 * it, after any restart.
 *
 * Layout, 35 bytes, sent as 47 characters of base64url (no padding):
 *   1 byte   version (1)
 *   4 bytes  key id: which secret signed it (see capabilityKeyId), so that rotation is a lookup
 *   6 bytes  expiry, milliseconds since the Unix epoch, big-endian (good until the year 10889)
 *   8 bytes  task id (the 16 hex digits as bytes)
 *  16 bytes  HMAC-SHA256 over a context label and the 19 bytes above, truncated to 128 bits
 *            (as RFC 4868's HMAC-SHA-256-128; NIST SP 800-107 allows it): forging one takes ~2^128
 *            tries against the server, and the full 32 bytes would make every link 22 characters longer.
 *
 * verifyCapability never throws, whatever it is given (a query parameter may be missing, repeated
 * into an array, huge, truncated or not ASCII): it answers with a reason instead.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ErrandError } from './errors.ts';
import { isTaskId } from './ids.ts';

export const CAPABILITY_VERSION = 1;
const KEY_ID_BYTES = 4;
const EXPIRY_BYTES = 6;
const TASK_BYTES = 8;
const MAC_BYTES = 16;
const PAYLOAD_BYTES = 1 + KEY_ID_BYTES + EXPIRY_BYTES + TASK_BYTES;
const TOKEN_BYTES = PAYLOAD_BYTES + MAC_BYTES;
/** Characters of a token: every well-formed one has exactly this many. */
export const CAPABILITY_TOKEN_LENGTH = Math.ceil((TOKEN_BYTES * 8) / 6);
const TOKEN_TEXT = /^[A-Za-z0-9_-]+$/;
const MAX_EXPIRY = 2 ** (EXPIRY_BYTES * 8) - 1;
/** Signed along with the payload: a MAC made with the same secret for another purpose never passes. */
const MAC_CONTEXT = Buffer.from('errand capability v1\0');
const KEY_ID_CONTEXT = 'errand capability key id\0';
const KEY_ID = /^[0-9a-f]{8}$/;

/** The key id of a secret: the first 4 bytes of a SHA-256 of it, so that operators need not name keys. */
export function capabilityKeyId(secret: string): string {
  return createHash('sha256').update(KEY_ID_CONTEXT).update(secret, 'utf8').digest('hex').slice(0, KEY_ID_BYTES * 2);
}

/** The secrets a server signs with and accepts: the newest signs, older ones stay accepted until removed. */
export interface CapabilityKeyring {
  readonly signing: { readonly keyId: string; readonly secret: string };
  /** Key id to secret, the signing secret included. */
  readonly secrets: ReadonlyMap<string, string>;
}

/**
 * The keyring of a current secret and previous ones still accepted. Two different secrets with the
 * same 32-bit key id (odds ~1 in 4 billion per pair) are refused: one of them could never verify.
 */
export function capabilityKeyring(current: string, previous: readonly string[] = []): CapabilityKeyring {
  const secrets = new Map<string, string>();
  for (const secret of [current, ...previous]) {
    const keyId = capabilityKeyId(secret);
    const known = secrets.get(keyId);
    if (known !== undefined && known !== secret) {
      throw new ErrandError('invalid_field', `two capability secrets share the key id ${keyId}: replace one of them`, 'capability-secret-previous');
    }
    secrets.set(keyId, secret);
  }
  return { signing: { keyId: capabilityKeyId(current), secret: current }, secrets };
}

export interface IssueOptions {
  secret: string;
  /** Defaults to capabilityKeyId(secret); give it to save the hash on every issue. */
  keyId?: string;
  lifetimeMs: number;
  /** Milliseconds since the Unix epoch. */
  now: number;
}

/** A token for reading `taskId` until `now + lifetimeMs`. Throws only on a caller's mistake. */
export function issueCapability(taskId: string, options: IssueOptions): string {
  const keyId = options.keyId ?? capabilityKeyId(options.secret);
  const expiresAt = Math.floor(options.now + options.lifetimeMs);
  if (!isTaskId(taskId)) throw new ErrandError('internal', `a capability names a task id (16 hex digits), got ${JSON.stringify(taskId)}`);
  if (!KEY_ID.test(keyId)) throw new ErrandError('internal', `a capability key id is 8 hex digits, got ${JSON.stringify(keyId)}`);
  if (options.secret.length === 0) throw new ErrandError('internal', 'a capability needs a signing secret');
  if (!(options.lifetimeMs > 0) || !(expiresAt > options.now) || expiresAt > MAX_EXPIRY) {
    throw new ErrandError('internal', `a capability's lifetime must be positive and end before the year 10889, got ${options.lifetimeMs} ms from ${options.now}`);
  }
  const token = Buffer.alloc(TOKEN_BYTES);
  token.writeUInt8(CAPABILITY_VERSION, 0);
  token.write(keyId, 1, KEY_ID_BYTES, 'hex');
  token.writeUIntBE(expiresAt, 1 + KEY_ID_BYTES, EXPIRY_BYTES);
  token.write(taskId, 1 + KEY_ID_BYTES + EXPIRY_BYTES, TASK_BYTES, 'hex');
  mac(options.secret, token.subarray(0, PAYLOAD_BYTES)).copy(token, PAYLOAD_BYTES);
  return token.toString('base64url');
}

export type CapabilityCheck =
  | { kind: 'ok'; taskId: string; keyId: string; expiresAt: number }
  /** Signed by us for this task, but past its expiry. */
  | { kind: 'expired'; taskId: string; keyId: string; expiresAt: number }
  /** Signed by us, for another task. */
  | { kind: 'wrong-task'; taskId: string; keyId: string; expiresAt: number }
  /** Well formed, but not signed by any accepted secret (tampered, forged, or its secret removed). */
  | { kind: 'bad-signature' }
  /** Not a token at all: missing, not a string, wrong length or characters, unknown version. */
  | { kind: 'malformed' };

export interface VerifyOptions {
  /** Key id to secret: every secret still accepted (CapabilityKeyring.secrets). */
  secrets: ReadonlyMap<string, string>;
  /** Milliseconds since the Unix epoch. */
  now: number;
}

type SignedFacts = { taskId: string; keyId: string; expiresAt: number };

/** The facts of a token signed by an accepted secret, or why it is not one. The MAC is checked before anything is believed. */
function signedFacts(token: unknown, secrets: ReadonlyMap<string, string>): SignedFacts | { kind: 'bad-signature' } | { kind: 'malformed' } {
  // The length first: nothing else looks at a 100 KB string.
  if (typeof token !== 'string' || token.length !== CAPABILITY_TOKEN_LENGTH || !TOKEN_TEXT.test(token)) return { kind: 'malformed' };
  const bytes = Buffer.from(token, 'base64url');
  // Buffer ignores stray trailing bits: the canonical text is the only one accepted.
  if (bytes.length !== TOKEN_BYTES || bytes.toString('base64url') !== token) return { kind: 'malformed' };
  if (bytes[0] !== CAPABILITY_VERSION) return { kind: 'malformed' };
  const keyId = bytes.toString('hex', 1, 1 + KEY_ID_BYTES);
  const secret = secrets.get(keyId);
  if (secret === undefined) return { kind: 'bad-signature' };
  const expected = mac(secret, bytes.subarray(0, PAYLOAD_BYTES));
  if (!timingSafeEqual(expected, bytes.subarray(PAYLOAD_BYTES))) return { kind: 'bad-signature' };
  const expiresAt = bytes.readUIntBE(1 + KEY_ID_BYTES, EXPIRY_BYTES);
  return { taskId: bytes.toString('hex', 1 + KEY_ID_BYTES + EXPIRY_BYTES, PAYLOAD_BYTES), keyId, expiresAt };
}

/**
 * Checks that `token` lets its bearer read `taskId` at `now`. The signature is checked before
 * anything the token says is believed, and compared in constant time. Never throws.
 */
export function verifyCapability(token: unknown, taskId: unknown, options: VerifyOptions): CapabilityCheck {
  const facts = signedFacts(token, options.secrets);
  if ('kind' in facts) return facts;
  if (facts.taskId !== taskId) return { kind: 'wrong-task', ...facts };
  // Expired from its expiry millisecond on; a clock that is not a number expires everything.
  if (!(options.now < facts.expiresAt)) return { kind: 'expired', ...facts };
  return { kind: 'ok', ...facts };
}

/**
 * Checks a token whatever task it names (a request whose path names no task, such as `GET
 * /events`): the answer says which task it may read. Never throws.
 */
export function verifyCapabilityToken(token: unknown, options: VerifyOptions): Exclude<CapabilityCheck, { kind: 'wrong-task' }> {
  const facts = signedFacts(token, options.secrets);
  if ('kind' in facts) return facts;
  if (!(options.now < facts.expiresAt)) return { kind: 'expired', ...facts };
  return { kind: 'ok', ...facts };
}

function mac(secret: string, payload: Buffer): Buffer {
  return createHmac('sha256', secret).update(MAC_CONTEXT).update(payload).digest().subarray(0, MAC_BYTES);
}

/** Bits a secret must carry: 32 random bytes, as much as the HMAC-SHA256 key can use. */
export const MIN_SECRET_BITS = 256;

/**
 * Why a secret is too weak to sign capabilities, or undefined. Its strength is estimated from its
 * length and the smallest alphabet it fits (digits, hex, base64/base64url, printable ASCII, else
 * bytes): `openssl rand -base64 32` (44 characters) and `openssl rand -hex 32` (64) pass, a
 * passphrase of a few words does not. Few distinct characters (aaaa..., abab...) fail whatever the length.
 */
export function secretStrengthProblem(secret: string): string | undefined {
  const bits = Math.floor(secretBits(secret));
  const distinct = new Set(secret).size;
  const advice = 'use 32 random bytes, for example from `openssl rand -base64 32`';
  if (bits < MIN_SECRET_BITS) return `is too short: ${secret.length} characters carry at most ${bits} bits, at least ${MIN_SECRET_BITS} are needed; ${advice}`;
  if (distinct < 10) return `repeats itself: ${distinct} distinct characters cannot be random; ${advice}`;
  return undefined;
}

function secretBits(secret: string): number {
  const alphabets: [RegExp, number][] = [
    [/^[0-9]*$/, 10],
    [/^[0-9a-f]*$/i, 16],
    [/^[A-Za-z0-9+/_=-]*$/, 64],
    [/^[\x20-\x7e]*$/, 95],
  ];
  const size = alphabets.find(([pattern]) => pattern.test(secret))?.[1];
  // Outside printable ASCII: count UTF-8 bytes at 8 bits each, the most they can hold.
  return size === undefined ? Buffer.byteLength(secret, 'utf8') * 8 : secret.length * Math.log2(size);
}
