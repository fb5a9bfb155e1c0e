/**
 * JWT bearer tokens (issue 12): what `errand serve` is told about the tokens it accepts, checked
 * once at start so that a mistake stops the server with one line instead of failing every request.
 *
 * Only public-key algorithms are accepted. An HMAC algorithm (HS256...) needs the verifier to hold
 * the signing secret, and with a public key configured it is the classic "alg confusion" attack
 * (a token MACed with the public key's bytes); `none` is no signature at all.
 */
import { ErrandError } from './errors.ts';

export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export const DEFAULT_JWT_ALGORITHMS: readonly JwtAlgorithm[] = ['RS256', 'ES256'];
export const DEFAULT_JWT_SCOPES_CLAIM = 'scope';
export const DEFAULT_JWT_CLOCK_TOLERANCE_SECONDS = 30;
export const MAX_JWT_CLOCK_TOLERANCE_SECONDS = 300;
export const DEFAULT_JWT_JWKS_TIMEOUT_MS = 5000;
export const DEFAULT_JWT_MAX_BYTES = 8192;

export type JwtKeySource = { readonly jwksUrl: string } | { readonly keyFile: string };

export interface JwtSettings {
  readonly keys: JwtKeySource;
  /** Pinned: a token whose header names another algorithm is refused before its signature is checked. */
  readonly algorithms: readonly JwtAlgorithm[];
  /** Required `iss` (and the issuer part of the principal id); required with a JWKS URL. */
  readonly issuer?: string;
  /** Accepted `aud` values (the token must name one); required with a JWKS URL. */
  readonly audience?: readonly string[];
  /** Top-level claim holding the scopes: a space-separated string or an array of strings. */
  readonly scopesClaim: string;
  readonly clockToleranceSeconds: number;
  /** Longest wait for the JWKS URL to answer. */
  readonly jwksTimeoutMs: number;
  /** Longer bearer values are refused before anything is decoded. */
  readonly maxTokenBytes: number;
}

/** The flags as given (undefined: not given). */
export interface JwtFlags {
  jwksUrl?: string;
  keyFile?: string;
  algorithms?: string;
  issuer?: string;
  audience?: string;
  scopesClaim?: string;
  clockToleranceSeconds: number;
  jwksTimeoutMs: number;
  maxTokenBytes: number;
}

const fail = (field: string, message: string): never => {
  throw new ErrandError('invalid_field', message, field);
};

/** The JWT mode's settings, undefined when no key source is given, or a one-line refusal. */
export function jwtSettings(flags: JwtFlags): JwtSettings | undefined {
  const { jwksUrl, keyFile } = flags;
  if (jwksUrl === undefined && keyFile === undefined) {
    const stray = (['algorithms', 'issuer', 'audience', 'scopesClaim'] as const).find((name) => flags[name] !== undefined);
    if (stray !== undefined) fail('jwt-jwks-url', `JWT options are set but no key source: give --jwt-jwks-url or --jwt-key-file`);
    return undefined;
  }
  if (jwksUrl !== undefined && keyFile !== undefined) fail('jwt-key-file', '--jwt-jwks-url and --jwt-key-file are two key sources: give one');
  if (jwksUrl !== undefined) checkJwksUrl(jwksUrl);
  const algorithms = parseAlgorithms(flags.algorithms);
  const issuer = flags.issuer?.trim();
  if (issuer !== undefined && (issuer === '' || issuer.includes('|'))) fail('jwt-issuer', `--jwt-issuer must be the issuer's identifier (no "|"), such as https://login.example.org/, got ${JSON.stringify(flags.issuer)}`);
  const audience = flags.audience?.split(',').map((a) => a.trim()).filter(Boolean);
  if (audience !== undefined && audience.length === 0) fail('jwt-audience', '--jwt-audience must name at least one audience');
  // A public JWKS (an OIDC provider's) signs tokens for every application it serves: without an
  // issuer and an audience, a token minted for any of them would be accepted here.
  if (jwksUrl !== undefined && (issuer === undefined || audience === undefined)) {
    fail(issuer === undefined ? 'jwt-issuer' : 'jwt-audience', '--jwt-jwks-url needs --jwt-issuer and --jwt-audience: without them a token the provider signed for any other application would be accepted');
  }
  const scopesClaim = flags.scopesClaim?.trim() ?? DEFAULT_JWT_SCOPES_CLAIM;
  if (scopesClaim === '') fail('jwt-scopes-claim', '--jwt-scopes-claim must name a claim, such as scope');
  return {
    keys: jwksUrl !== undefined ? { jwksUrl } : { keyFile: keyFile! },
    algorithms,
    ...(issuer !== undefined ? { issuer } : {}),
    ...(audience !== undefined ? { audience } : {}),
    scopesClaim,
    clockToleranceSeconds: flags.clockToleranceSeconds,
    jwksTimeoutMs: flags.jwksTimeoutMs,
    maxTokenBytes: flags.maxTokenBytes,
  };
}

function parseAlgorithms(text: string | undefined): JwtAlgorithm[] {
  if (text === undefined) return [...DEFAULT_JWT_ALGORITHMS];
  const names = text.split(',').map((n) => n.trim()).filter(Boolean);
  if (names.length === 0) fail('jwt-algorithms', `--jwt-algorithms must name at least one of ${JWT_ALGORITHMS.join(', ')}`);
  for (const name of names) {
    if (/^HS\d+$/i.test(name)) fail('jwt-algorithms', `--jwt-algorithms: ${name} is an HMAC (shared secret) algorithm; Errand verifies tokens only with public keys (${JWT_ALGORITHMS.join(', ')})`);
    if (!(JWT_ALGORITHMS as readonly string[]).includes(name)) fail('jwt-algorithms', `--jwt-algorithms: unknown or refused algorithm ${JSON.stringify(name)}; accepted are ${JWT_ALGORITHMS.join(', ')}`);
  }
  return [...new Set(names as JwtAlgorithm[])];
}

/** https, or http to this machine only (a local provider, tests): keys over plain HTTP can be swapped on the way. */
function checkJwksUrl(text: string): void {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail('jwt-jwks-url', `--jwt-jwks-url must be a URL such as https://login.example.org/.well-known/jwks.json, got ${JSON.stringify(text)}`);
  }
  const loopback = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i.test(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    fail('jwt-jwks-url', `--jwt-jwks-url must be https (plain http only to localhost), got ${JSON.stringify(text)}`);
  }
}
