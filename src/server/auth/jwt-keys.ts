/**
 * Where a JWT's verification keys come from: a JWKS URL (fetched by jose, cached, refetched for a
 * `kid` it has not seen at most once per cooldown) or a key file read once at start (a PEM public
 * key or certificate, a JWK, or a JWKS). Both end as a jose key resolver, so the token path is one.
 */
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, errors, importJWK } from 'jose';
import type { CryptoKey, JSONWebKeySet, JWK, JWTVerifyGetKey } from 'jose';
import { ErrandError } from '../../core/index.ts';
import type { JwtAlgorithm, JwtSettings } from '../../core/index.ts';

/** Thrown by the resolver when the JWKS URL could not give keys: the token itself may be fine. */
export class KeysUnavailable extends Error {
  constructor(cause: unknown) {
    super(`the JWKS URL gave no usable key set: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'KeysUnavailable';
  }
}

export interface RemoteKeyTiming {
  /** Shortest time between two fetches caused by an unknown `kid` (random kids cannot hammer the provider). */
  cooldownMs: number;
  /** Keys older than this are fetched again before use. */
  cacheMaxAgeMs: number;
}

export const DEFAULT_REMOTE_KEY_TIMING: RemoteKeyTiming = { cooldownMs: 30_000, cacheMaxAgeMs: 600_000 };

export async function keyResolver(settings: JwtSettings, timing: RemoteKeyTiming): Promise<JWTVerifyGetKey> {
  if ('keyFile' in settings.keys) {
    const { keys, pem } = await readKeyFile(settings.keys.keyFile, settings.algorithms);
    return pem ? singleKey(keys[0]!) : createLocalJWKSet({ keys });
  }
  const remote = createRemoteJWKSet(new URL(settings.keys.jwksUrl), {
    timeoutDuration: settings.jwksTimeoutMs,
    cooldownDuration: timing.cooldownMs,
    cacheMaxAge: timing.cacheMaxAgeMs,
  });
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      // What the token chose (its alg, its kid) is the token's fault; anything else is the fetch's.
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys || err instanceof errors.JOSENotSupported) throw err;
      throw new KeysUnavailable(err);
    }
  };
}

const badFile = (path: string, problem: string): ErrandError =>
  new ErrandError('invalid_field', `--jwt-key-file ${path}: ${problem}`, 'jwt-key-file');

/** The file's keys as a JWKS, refusing private and secret keys and keys no configured algorithm can use. */
export async function readKeyFile(path: string, algorithms: readonly JwtAlgorithm[]): Promise<JSONWebKeySet & { pem: boolean }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw badFile(path, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const pem = !text.trimStart().startsWith('{');
  const keys = pem ? [jwkFromPem(path, text)] : jwksFromJson(path, text);
  for (const key of keys) {
    if (key.kty === 'oct') throw badFile(path, 'holds a secret (oct) key; only public keys are accepted');
    if ('d' in key) throw badFile(path, 'holds a private key; give the public key only');
  }
  if (!keys.some((key) => algorithms.some((alg) => fits(key, alg)))) {
    throw badFile(path, `no key in it can check ${algorithms.join(', ')} (see --jwt-algorithms); it holds ${keys.map(describe).join(', ') || 'no keys'}`);
  }
  return { keys, pem };
}

/**
 * A PEM file holds one key and no `kid`: it checks every token whatever `kid` it names, for the
 * configured algorithms its type fits (jose pins the algorithm before asking for the key).
 */
function singleKey(jwk: JWK): JWTVerifyGetKey {
  const imported = new Map<string, Promise<CryptoKey | Uint8Array>>();
  return (header) => {
    const alg = header.alg as JwtAlgorithm;
    if (!fits(jwk, alg)) throw new errors.JWKSNoMatchingKey();
    let key = imported.get(alg);
    if (key === undefined) imported.set(alg, (key = importJWK(jwk, alg)));
    return key;
  };
}

function jwksFromJson(path: string, text: string): JWK[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw badFile(path, `is not JSON (${(err as Error).message})`);
  }
  const record = value as { keys?: unknown; kty?: unknown };
  if (Array.isArray(record.keys) && record.keys.every((k) => typeof k === 'object' && k !== null)) return record.keys as JWK[];
  if (typeof record.kty === 'string') return [record as JWK];
  throw badFile(path, 'is JSON but neither a JWKS ({"keys": [...]}) nor a JWK');
}

function jwkFromPem(path: string, text: string): JWK {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw badFile(path, 'holds a private key; give the public key only (openssl pkey -pubout)');
  if (!text.includes('-----BEGIN ')) throw badFile(path, 'must be a PEM public key or certificate, a JWK or a JWKS (JSON)');
  try {
    return createPublicKey(text).export({ format: 'jwk' }) as JWK;
  } catch (err) {
    throw badFile(path, `is not a public key or certificate Node can read (${(err as Error).message})`);
  }
}

const CURVES: Partial<Record<JwtAlgorithm, string>> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521', EdDSA: 'Ed25519', Ed25519: 'Ed25519' };

function fits(key: JWK, alg: JwtAlgorithm): boolean {
  if (key.alg !== undefined && key.alg !== alg) return false;
  if (alg.startsWith('RS') || alg.startsWith('PS')) return key.kty === 'RSA';
  return (key.kty === 'EC' || key.kty === 'OKP') && key.crv === CURVES[alg];
}

function describe(key: JWK): string {
  return [key.kty, key.crv, key.alg].filter(Boolean).join(' ');
}
