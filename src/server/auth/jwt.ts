/**
 * JWT bearer tokens (issue 12): `Authorization: Bearer <jwt>` from an identity provider or from the
 * operator's own signer becomes a Principal.
 *
 * `verify` answers one of three things, so the auth hook can chain modes:
 *   not-jwt    the value is not shaped like a signed JWT (three base64url parts, a JSON header with
 *              `alg`): it may be an API key sent as a bearer; try the other modes
 *   refused    it is a JWT and it is not accepted: `error` is 401 `unauthorized` with a message that
 *              says why, or 503 `auth_unavailable` when the JWKS URL could not give keys (the token
 *              may be fine; the client should retry, not sign in again)
 *   principal  `jwt:<iss>|<sub>` (`jwt:|<sub>` for a token without `iss`), scopes from the
 *              configured claim; unknown scopes are ignored (a provider's `scope` also holds
 *              `openid`, `email`...), never widened
 *
 * Checked, in order: size (before any decoding), shape, the pinned algorithm, the key (by `kid`),
 * the signature, then `exp` (required), `nbf`, `iss` and `aud` (when configured) with the clock
 * tolerance, then `sub` (required).
 */
import { errors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { ErrandError, parseScopes, principalOf } from '../../core/index.ts';
import type { JwtSettings, Principal } from '../../core/index.ts';
import { DEFAULT_REMOTE_KEY_TIMING, keyResolver, KeysUnavailable } from './jwt-keys.ts';
import type { RemoteKeyTiming } from './jwt-keys.ts';

export type JwtRefusal =
  | 'too_large' | 'encrypted' | 'malformed' | 'algorithm' | 'no_key' | 'signature'
  | 'expired' | 'not_yet_valid' | 'issuer' | 'audience' | 'claims' | 'no_subject' | 'keys_unavailable';

export type JwtOutcome =
  | { readonly kind: 'principal'; readonly principal: Principal; /** ms since the epoch */ readonly expiresAt: number }
  | { readonly kind: 'not-jwt' }
  | { readonly kind: 'refused'; readonly reason: JwtRefusal; readonly error: ErrandError };

export interface JwtVerifier {
  verify(token: string): Promise<JwtOutcome>;
}

export interface JwtVerifierOptions {
  settings: JwtSettings;
  /** The clock `exp` and `nbf` are checked against, in ms (tests inject one). */
  now?: () => number;
  /** JWKS caching (jose's); the defaults suit production. */
  remoteKeys?: Partial<RemoteKeyTiming>;
}

/** Longest `sub` and `iss` taken into a principal id (it is stored as every task's owner). */
const MAX_ID_PART = 256;
const FIELD = 'authorization';
const SEGMENT = /^[A-Za-z0-9_-]+$/;

/** Reads the key file (or prepares the JWKS fetcher) once; a bad key file stops the start. */
export async function createJwtVerifier(options: JwtVerifierOptions): Promise<JwtVerifier> {
  const { settings } = options;
  const now = options.now ?? Date.now;
  const getKey = await keyResolver(settings, { ...DEFAULT_REMOTE_KEY_TIMING, ...options.remoteKeys });
  return {
    async verify(token) {
      if (token.length > settings.maxTokenBytes) return refuse('too_large', `the bearer token is longer than ${settings.maxTokenBytes} bytes`);
      const parts = token.split('.');
      const header = parts.length === 3 || parts.length === 5 ? headerOf(parts[0]!) : undefined;
      if (header === undefined) return { kind: 'not-jwt' };
      if (parts.length === 5) {
        return typeof header.enc === 'string' ? refuse('encrypted', 'encrypted tokens (JWE) are not accepted; send a signed JWT') : { kind: 'not-jwt' };
      }
      // Pinned before jose is asked: `none`, HS256 (alg confusion) and anything unlisted stop here.
      if (!(settings.algorithms as readonly unknown[]).includes(header.alg)) return refuse('algorithm', algorithmMessage(header, settings));
      return check(token, header, getKey, settings, now());
    },
  };
}

/** A JSON-object header with a string `alg`, or undefined: then the value is not a JWT at all. */
function headerOf(segment: string): Record<string, unknown> | undefined {
  if (!SEGMENT.test(segment)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    return typeof (value as { alg?: unknown }).alg === 'string' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

async function check(token: string, header: Record<string, unknown>, getKey: JWTVerifyGetKey, settings: JwtSettings, nowMs: number): Promise<JwtOutcome> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, getKey, {
      algorithms: [...settings.algorithms],
      ...(settings.issuer !== undefined ? { issuer: settings.issuer } : {}),
      ...(settings.audience !== undefined ? { audience: [...settings.audience] } : {}),
      clockTolerance: settings.clockToleranceSeconds,
      currentDate: new Date(nowMs),
      // A token that never expires would be a password nobody can change.
      requiredClaims: ['exp'],
    }));
  } catch (err) {
    return refusal(err, header, settings);
  }
  const { sub, iss } = payload;
  if (typeof sub !== 'string' || sub === '') return refuse('no_subject', 'the bearer token has no sub (subject) claim: it names nobody');
  if (!idPart(sub)) return refuse('claims', `the bearer token's sub claim must be 1 to ${MAX_ID_PART} printable characters`);
  if (iss !== undefined && (!idPart(iss) || iss.includes('|'))) return refuse('claims', `the bearer token's iss claim must be 1 to ${MAX_ID_PART} printable characters without "|"`);
  const scopes = scopesOf(payload[settings.scopesClaim]);
  if (scopes === undefined) return refuse('claims', `the bearer token's ${settings.scopesClaim} claim must be a space-separated string or an array of strings`);
  return {
    kind: 'principal',
    principal: principalOf(`jwt:${iss ?? ''}|${sub}`, 'jwt', parseScopes(scopes)),
    expiresAt: (payload.exp as number) * 1000,
  };
}

function idPart(value: unknown): value is string {
  // eslint-disable-next-line no-control-regex
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_PART && !/[\u0000-\u001f\u007f]/.test(value);
}

/** The known scopes among the claim's words; undefined when the claim has the wrong type. */
function scopesOf(claim: unknown): string[] | undefined {
  if (claim === undefined) return [];
  // A string is split at spaces (OAuth's `scope`); an array's entries are one scope each, so an
  // entry with a space in it is no scope at all rather than two.
  const words = typeof claim === 'string' ? claim.split(/\s+/) : Array.isArray(claim) && claim.every((w) => typeof w === 'string') ? (claim as string[]) : undefined;
  if (words === undefined) return undefined;
  return words.filter((word) => {
    if (word === '' || /\s/.test(word)) return false;
    try {
      parseScopes([word]);
      return true;
    } catch {
      return false;
    }
  });
}

function refuse(reason: JwtRefusal, message: string, cause?: unknown): JwtOutcome {
  const code = reason === 'keys_unavailable' ? 'auth_unavailable' : 'unauthorized';
  return { kind: 'refused', reason, error: new ErrandError(code, message, FIELD, cause === undefined ? undefined : { cause }) };
}

/** jose's error, said in the client's terms; the cause stays attached for the log. */
function refusal(err: unknown, header: Record<string, unknown>, settings: JwtSettings): JwtOutcome {
  const alg = JSON.stringify(header.alg);
  if (err instanceof KeysUnavailable) return refuse('keys_unavailable', 'the keys to check this bearer token could not be fetched; try again later', err);
  if (err instanceof errors.JWTExpired) return refuse('expired', 'the bearer token has expired', err);
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'nbf': return refuse('not_yet_valid', 'the bearer token is not valid yet (nbf)', err);
      case 'iss': return refuse('issuer', `the bearer token's issuer is not ${settings.issuer ?? 'accepted'}`, err);
      case 'aud': return refuse('audience', `the bearer token is not meant for this server (aud must name ${settings.audience?.join(' or ') ?? 'it'})`, err);
      case 'exp': return refuse('claims', err.reason === 'missing' ? 'the bearer token has no exp (expiry) claim' : `the bearer token's exp claim is not valid: ${err.message}`, err);
      default: return refuse('claims', `the bearer token's ${err.claim} claim is not valid: ${err.message}`, err);
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return refuse('algorithm', algorithmMessage(header, settings), err);
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return refuse('no_key', `no key is known for this bearer token (alg ${alg}${typeof header.kid === 'string' ? `, kid ${JSON.stringify(header.kid)}` : ''})`, err);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return refuse('signature', 'the bearer token\'s signature is not valid', err);
  // JWSInvalid, JWTInvalid (payload not a JSON object, bad base64url), an unknown `crit` header...
  return refuse('malformed', `the bearer token is not a valid signed JWT${err instanceof errors.JOSEError ? `: ${err.message}` : ''}`, err);
}

function algorithmMessage(header: Record<string, unknown>, settings: JwtSettings): string {
  return `the bearer token's algorithm ${JSON.stringify(header.alg)} is not accepted (accepted: ${settings.algorithms.join(', ')})`;
}
