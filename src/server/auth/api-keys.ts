/**
 * Checking API keys (issue 12): the entry point the auth hook calls with what a request presented
 * (`Authorization: Bearer <key>` or Patavi's `x-api-key`). Answers the key's principal
 * (`key:<name>`, scopes as stored), or undefined for anything else: unknown, revoked, expired,
 * malformed. It never throws for what a client sent; it rejects only when the database cannot
 * answer (ErrandError database_unavailable, a 503), and such a failure is not remembered.
 *
 * The hot path costs no database round trip: what a lookup found (a key and its principal, or
 * that the key is refused) is kept in memory for `cacheMs`, in two bounded LRUs so that a flood of
 * made-up keys cannot push the real ones out. A key revoked in the database is therefore still
 * accepted by a server that looked it up less than `cacheMs` ago; an expiry is checked on every
 * request. Concurrent requests with a key not in the cache share one lookup.
 *
 * Timing: a stored key is found by the SHA-256 of what was presented (an index lookup, then a Map
 * lookup), so what any comparison's timing could reveal is a hash, useless without its preimage.
 * Patavi's single --api-key is compared as SHA-256 digests with timingSafeEqual, which takes the
 * same time for any presented value and never sees two lengths.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { apiKeyPrincipalId, hashApiKey, isApiKeyFormat, parseScopes, principalOf } from '../../core/index.ts';
import type { Principal } from '../../core/index.ts';
import type { ApiKeyInfo, Store } from '../../store/index.ts';
import { createLru } from './lru.ts';

export const DEFAULT_API_KEY_CACHE_MS = 10_000;
export const DEFAULT_API_KEY_CACHE_SIZE = 10_000;

/** Patavi's one key from --api-key, with the name (--api-key-name) and scopes (--api-key-scope) it stands for. */
export interface SingleApiKey { key: string; name: string; scopes: string[] }

export interface ApiKeyVerifierOptions {
  /** How long a lookup is trusted; 0 looks every key up every time. */
  cacheMs?: number;
  /** Keys kept looked up at once (and, apart, as many refused ones). */
  cacheSize?: number;
  /** Patavi's --api-key, accepted as one more key. */
  single?: SingleApiKey;
  /** The clock, in ms (tests move it). */
  now?: () => number;
}

export interface ApiKeyVerifier {
  verify(presented: string): Promise<Principal | undefined>;
  /** Drops what this server remembers of the keys of this name (a revoke made through this server). */
  forgetName(name: string): void;
}

interface Accepted { principal: Principal; expiresAt: number | null; fetchedAt: number }

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * Patavi's single key: the presented value against the one configured, as SHA-256 digests in
 * constant time. Synchronous and free of I/O.
 */
export function createSingleKeyCheck(single: SingleApiKey): (presented: string) => Principal | undefined {
  const expected = sha256(single.key);
  const principal = principalOf(apiKeyPrincipalId(single.name), 'api-key', parseScopes(single.scopes, 'api-key-scope'));
  return (presented) => (typeof presented === 'string' && timingSafeEqual(sha256(presented), expected) ? principal : undefined);
}

/** The principal a stored key stands for at `now`, or undefined when it is revoked, expired or its scopes no longer read. */
export function principalOfStoredKey(info: ApiKeyInfo, now: number): Principal | undefined {
  if (info.revokedAt !== null || (info.expiresAt !== null && info.expiresAt.getTime() <= now)) return undefined;
  try {
    return principalOf(apiKeyPrincipalId(info.name), 'api-key', parseScopes(info.scopes), info.expiresAt?.getTime());
  } catch {
    // A scope this version no longer knows: the key grants nothing rather than something else.
    return undefined;
  }
}

export function createApiKeyVerifier(store: Pick<Store, 'useApiKey'>, options: ApiKeyVerifierOptions = {}): ApiKeyVerifier {
  const cacheMs = options.cacheMs ?? DEFAULT_API_KEY_CACHE_MS;
  const cacheSize = options.cacheSize ?? DEFAULT_API_KEY_CACHE_SIZE;
  const now = options.now ?? Date.now;
  const single = options.single ? createSingleKeyCheck(options.single) : undefined;
  const accepted = createLru<string, Accepted>(cacheSize);
  /** Hash of a refused key → when it was looked up. */
  const refused = createLru<string, number>(cacheSize);
  const lookups = new Map<string, Promise<Principal | undefined>>();

  function lookUp(hash: string): Promise<Principal | undefined> {
    const pending = lookups.get(hash);
    if (pending) return pending;
    const lookup = store.useApiKey(hash).then((info) => {
      const fetchedAt = now();
      const principal = info && principalOfStoredKey(info, fetchedAt);
      if (cacheMs > 0) {
        if (principal) accepted.set(hash, { principal, expiresAt: info!.expiresAt?.getTime() ?? null, fetchedAt });
        else refused.set(hash, fetchedAt);
      }
      return principal;
    }).finally(() => lookups.delete(hash));
    lookups.set(hash, lookup);
    return lookup;
  }

  return {
    async verify(presented) {
      if (typeof presented !== 'string') return undefined;
      const patavi = single?.(presented);
      if (patavi) return patavi;
      if (!isApiKeyFormat(presented)) return undefined;
      const hash = hashApiKey(presented);
      const at = now();
      const hit = accepted.get(hash);
      if (hit && at - hit.fetchedAt < cacheMs) return hit.expiresAt !== null && hit.expiresAt <= at ? undefined : hit.principal;
      const refusedAt = refused.get(hash);
      if (refusedAt !== undefined && at - refusedAt < cacheMs) return undefined;
      return lookUp(hash);
    },
    forgetName(name) {
      const id = apiKeyPrincipalId(name);
      accepted.deleteWhere((entry) => entry.principal.id === id);
    },
  };
}
