/**
 * API keys (issue 12): the key's text form, its hash, its name, and when it expires. Pure apart
 * from drawing random bytes for a new key.
 *
 * A key is `errand_` followed by 43 base64url characters (32 random bytes): the prefix makes a
 * leaked key recognisable to secret scanners and to whoever finds it in a log, and tells an API key
 * from a JWT in an `Authorization: Bearer` header without trying both.
 *
 * Only the key's SHA-256 is stored. A slow password hash (bcrypt, scrypt, argon2) is for secrets
 * people choose, which are guessable; these are 256 bits from the operating system's random
 * source, and no amount of hashing speed makes guessing one feasible (2^256 tries), whereas a slow
 * hash would put a deliberate CPU cost on every request an attacker can send. SHA-256 is also
 * what lets a key be found by an index lookup instead of a comparison with every stored key.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ErrandError } from './errors.ts';
import { checkDuration } from './duration.ts';

export const API_KEY_PREFIX = 'errand_';
/** 32 random bytes as base64url, without padding. */
const API_KEY_FORMAT = /^errand_[A-Za-z0-9_-]{43}$/;

/** A new key, shown to its creator once and never stored. */
export function newApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * True when `text` has the shape of a key Errand issued: anything else (a JWT, a 10 KB string,
 * non-ASCII) is refused without a database lookup.
 */
export function isApiKeyFormat(text: string): boolean {
  return text.length === API_KEY_PREFIX.length + 43 && API_KEY_FORMAT.test(text);
}

/** The SHA-256 of the key, as 64 lower-case hex digits: what the database keeps and is searched by. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Letters, digits, `.`, `_`, `-`; starting with a letter or digit; at most 64. */
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** What is wrong with a key's name (it becomes the principal `key:<name>`), or undefined. */
export function apiKeyNameProblem(name: string): string | undefined {
  if (KEY_NAME.test(name)) return undefined;
  return `key name ${JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}...` : name)} must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`;
}

/** The principal id a key's name stands for. */
export function apiKeyPrincipalId(name: string): string {
  return `key:${name}`;
}

/** When a key expires: after an ISO 8601 duration from its creation, or at a time. */
export type KeyExpiry = { after: string } | { at: Date };

/** A date (2026-01-31) or a date and time with a zone (2026-01-31T12:00:00Z, ...+02:00). */
const TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/**
 * Reads `--expires`: an ISO 8601 duration (P90D, PT12H; the database adds it to the creation
 * time, months as calendar months) or a time in the future. A time without a zone is refused
 * rather than read in whatever zone the operator's shell happens to have.
 */
export function parseKeyExpiry(text: string, now: Date, field = 'expires'): KeyExpiry {
  if (text.startsWith('P')) {
    const checked = checkDuration(text);
    if (!checked.ok || checked.ms <= 0) {
      throw new ErrandError('invalid_field', `--${field} must be an ISO 8601 duration such as P90D (at most P1000Y) or a time such as 2030-01-31T00:00:00Z, got ${JSON.stringify(text)}`, field);
    }
    return { after: text };
  }
  const at = TIME.test(text) ? new Date(text) : undefined;
  if (at === undefined || Number.isNaN(at.getTime())) {
    throw new ErrandError('invalid_field', `--${field} must be an ISO 8601 duration such as P90D or a time with its zone such as 2030-01-31T00:00:00Z, got ${JSON.stringify(text)}`, field);
  }
  if (at.getTime() <= now.getTime()) {
    throw new ErrandError('invalid_field', `--${field} ${text} is not in the future`, field);
  }
  return { at };
}
