/**
 * Web origins as an operator lists them (`--cors-origin`) and as a browser sends them (`Origin`):
 * `scheme://host[:port]`, nothing more. Listed origins are normalised the way a browser serialises
 * its own (lower-case scheme and host, no default port, no trailing slash, IDNs in punycode), so
 * that a request's `Origin` header is compared to them as it stands, byte for byte. Pure.
 */
import { ErrandError } from './errors.ts';

/** In a list: any origin may read, without credentials (see docs/api.md, CORS). */
export const ANY_ORIGIN = '*';

/** The allowlist as read from the command line: exact origins, and whether `*` was given. */
export interface OriginList {
  readonly origins: readonly string[];
  readonly any: boolean;
}

/**
 * `https://app.example.org`, `http://localhost:5173` → the origin a browser would send.
 * Refuses `null`, other schemes, paths, queries, fragments and user names, naming `field`.
 */
export function normaliseOrigin(text: string, field = 'cors-origin'): string {
  const refuse = (why: string): never => {
    throw new ErrandError('invalid_field', `--${field} ${JSON.stringify(text)} is not an origin: ${why}; give scheme://host[:port], such as https://app.example.org`, field);
  };
  const trimmed = text.trim();
  // Sandboxed frames, file: pages and some redirects all send `null`: it names no one.
  if (trimmed.toLowerCase() === 'null') refuse('`null` is what sandboxed and file: pages send, any of them, so it is never allowed');
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return refuse('it is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') refuse('only http and https origins can be listed');
  if (url.username !== '' || url.password !== '') refuse('an origin has no user name or password');
  if (url.pathname !== '/' || /^[a-z]+:\/\/[^/]*\/./i.test(trimmed)) refuse('an origin has no path');
  if (url.search !== '' || trimmed.includes('?')) refuse('an origin has no query');
  if (url.hash !== '' || trimmed.includes('#')) refuse('an origin has no fragment');
  return url.origin;
}

/**
 * The values of every `--cors-origin` flag, or of ERRAND_CORS_ORIGIN; each may hold several
 * origins separated by commas (an origin never holds one). Duplicates are dropped.
 */
export function parseOriginList(values: readonly string[], field = 'cors-origin'): OriginList {
  const origins = new Set<string>();
  let any = false;
  for (const entry of values.flatMap((value) => value.split(',')).map((entry) => entry.trim()).filter(Boolean)) {
    if (entry === ANY_ORIGIN) any = true;
    else origins.add(normaliseOrigin(entry, field));
  }
  return { origins: [...origins], any };
}

/** The origin of a base URL such as the public URL (`https://errand.example.org/api` → `https://errand.example.org`). */
export function originOf(baseUrl: string): string | undefined {
  try {
    const origin = new URL(baseUrl).origin;
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}
