/**
 * The result cache's key and the request's say in it. Pure functions: the store keeps entries,
 * the task route decides with these.
 *
 * Two inputs share a key only when every JSON reader sees the same value in them. Key order,
 * whitespace and string escapes do not matter. Numbers must be spelled the same: `1` and `1.0`
 * differ to R's jsonlite (integer or double) and to Python (int or float), and digits beyond a
 * double's precision are kept, so two inputs are never merged by a rounding no script made.
 */
import { createHash } from 'node:crypto';
import { isLosslessNumber, parse } from 'lossless-json';
import { ErrandError } from './errors.ts';

/** What the cache needs of a submission to a service that caches. */
export interface CacheClaim {
  key: string;
  version: string;
  /** ISO 8601 duration a finished result is served for. */
  lifetime: string;
  /** Run anew even if a result or a task under way matches; the new result then replaces the entry. */
  fresh: boolean;
  /** The entry answers every principal (the service's `cache.shared`), not only the owner who made it. */
  shared?: boolean;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isLosslessNumber(value)) return value.value;
  if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    // Sorted by UTF-16 code units, as RFC 8785 orders members.
    return `{${Object.keys(object).sort().map((key) => `${JSON.stringify(key)}:${canonical(object[key])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The input in canonical form: members sorted, no whitespace, strings in JSON.stringify's escapes,
 * numbers as written. Undefined for an object with a key given twice with different values
 * (readers disagree on which one wins), which is then not cached.
 */
export function canonicalJson(text: string): string | undefined {
  let value: unknown;
  try {
    value = parse(text);
  } catch {
    return undefined;
  }
  return canonical(value);
}

/**
 * sha256 of service, version, the owner whose entry it is (issue 12: none for a service that shares
 * its results across principals) and canonical input, as 64 hex digits.
 */
export function cacheKey(service: string, version: string, canonicalInput: string, owner?: string | null): string {
  const scope = owner === undefined ? [service, version] : [service, version, owner];
  return createHash('sha256').update(JSON.stringify(scope)).update('\n').update(canonicalInput).digest('hex');
}

/**
 * Whether the client asked to bypass the cache: `?cache=false`, or `Cache-Control: no-cache`
 * (or `no-store`). `?cache=true` is the default, said out loud; anything else is refused.
 */
export function cacheBypassed(cacheParam: string | undefined, cacheControl: string | undefined): boolean {
  if (cacheParam !== undefined && cacheParam !== 'true' && cacheParam !== 'false') {
    throw new ErrandError('invalid_field', `cache must be true or false, got ${JSON.stringify(cacheParam)}`, 'cache');
  }
  if (cacheParam === 'false') return true;
  const directives = (cacheControl ?? '').split(',').map((d) => d.trim().toLowerCase());
  return directives.includes('no-cache') || directives.includes('no-store');
}
