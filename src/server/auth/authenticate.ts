/**
 * Who is asking (issue 12): every request's `Caller`, from what it presents, once per request.
 *
 *   Authorization: Bearer <v>   an API key (`errand_…`), else a JWT (when configured), else
 *                               Patavi's single --api-key; anything presented and not accepted
 *                               is a 401, never a fall back to an anonymous caller
 *   x-api-key: <v>              Patavi's header: the single key, or a stored one
 *   Sec-WebSocket-Protocol: errand.bearer.<v>
 *                               on a WebSocket upgrade only, as Authorization: Bearer <v>: a
 *                               browser's WebSocket cannot send headers, only subprotocols
 *   a client certificate        verified against --client-ca: `cert:<subject>`
 *   /access/<token>/…           a capability for one task (beside any of the above)
 *
 * With authentication off (`errand dev`, `errand serve --no-auth`) every caller is `local`, which
 * may do everything. `x-client-name` is read as a label only.
 */
import type { FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { ErrandError, isApiKeyFormat, LOCAL_PRINCIPAL, verifyCapabilityToken } from '../../core/index.ts';
import type { Caller, CapabilityKeyring, JwtSettings, Principal } from '../../core/index.ts';
import type { Store } from '../../store/index.ts';
import { createApiKeyVerifier } from './api-keys.ts';
import type { SingleApiKey } from './api-keys.ts';
import { certificatePrincipal } from './client-cert.ts';
import type { ClientCertSettings } from './client-cert.ts';
import { createJwtVerifier } from './jwt.ts';
import type { JwtVerifierOptions } from './jwt.ts';

export interface AuthSettings {
  /** False: no credentials are asked for and every caller is `local` (errand dev, --no-auth). */
  required: boolean;
  /** Patavi's single --api-key, one more key. */
  single?: SingleApiKey;
  jwt?: JwtSettings;
  /** JWKS caching and the clock (tests). */
  jwtOptions?: Omit<JwtVerifierOptions, 'settings'>;
  apiKeyCacheMs?: number;
  apiKeyCacheSize?: number;
  /** --patavi-open-reads: callers without a credential read any task, as Patavi's clients did. */
  pataviOpenReads?: boolean;
}

export interface Authenticator {
  /** The request's caller; throws 401 for a credential that is not accepted, 503 when one cannot be checked now. */
  caller(request: FastifyRequest): Promise<Caller>;
  readonly required: boolean;
}

/** Where the capability token taken from the path (see tokenFromPath) waits for the authenticator. */
const ACCESS_TOKEN = Symbol('errand.access-token');
type WithToken = IncomingMessage & { [ACCESS_TOKEN]?: string };

export function rememberAccessToken(raw: IncomingMessage, token: string): void {
  (raw as WithToken)[ACCESS_TOKEN] = token;
}

/** A label is for people: bounded, one line. */
const MAX_LABEL = 200;

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

function labelOf(request: FastifyRequest): string | null {
  const value = header(request, 'x-client-name');
  return value === undefined ? null : value.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, MAX_LABEL);
}

const BEARER = /^Bearer +([^\s]+) *$/i;

/** The subprotocol a browser's WebSocket carries its credential in (it cannot set Authorization). */
export const BEARER_SUBPROTOCOL_PREFIX = 'errand.bearer.';

/**
 * The subprotocol a WebSocket answer names: the first offered that is not a credential, never the
 * credential (an upgrade offering only that is refused before it gets here: bearerFromSubprotocols).
 */
export function echoedSubprotocol(offered: Set<string>): string | false {
  for (const protocol of offered) if (!protocol.startsWith(BEARER_SUBPROTOCOL_PREFIX)) return protocol;
  return false;
}

/** The credential in a WebSocket upgrade's subprotocols, when one is offered. */
export function bearerFromSubprotocols(request: { headers: Record<string, string | string[] | undefined> }): string | undefined {
  if (String(request.headers.upgrade ?? '').toLowerCase() !== 'websocket') return undefined;
  const offered = request.headers['sec-websocket-protocol'];
  const all = (Array.isArray(offered) ? offered.join(',') : offered ?? '').split(',').map((p) => p.trim());
  const entry = all.find((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX));
  if (entry === undefined) return undefined;
  // A browser fails a handshake whose answer names none of the subprotocols it offered, and the
  // answer must not name the credential: so another one must be offered beside it.
  if (!all.some((p) => p !== '' && !p.startsWith(BEARER_SUBPROTOCOL_PREFIX))) {
    throw new ErrandError('invalid_handshake', `offer the subprotocol "errand" beside ${BEARER_SUBPROTOCOL_PREFIX}<credential>, which is never named in the answer`, 'sec-websocket-protocol');
  }
  return entry.slice(BEARER_SUBPROTOCOL_PREFIX.length);
}

export async function createAuthenticator(
  settings: AuthSettings,
  deps: { store: Pick<Store, 'useApiKey'>; certificates: ClientCertSettings; capabilities?: CapabilityKeyring; now?: () => number },
): Promise<Authenticator> {
  const now = deps.now ?? Date.now;
  const keys = createApiKeyVerifier(deps.store, {
    ...(settings.single ? { single: settings.single } : {}),
    ...(settings.apiKeyCacheMs !== undefined ? { cacheMs: settings.apiKeyCacheMs } : {}),
    ...(settings.apiKeyCacheSize !== undefined ? { cacheSize: settings.apiKeyCacheSize } : {}),
  });
  const jwt = settings.jwt ? await createJwtVerifier({ settings: settings.jwt, ...settings.jwtOptions }) : undefined;
  const callers = new WeakMap<FastifyRequest, Promise<Caller>>();

  const invalidKey = (field: string): ErrandError => new ErrandError('unauthorized', `the API key in ${field} is not valid (unknown, revoked or expired)`, field);

  /** The principal and its expiry from what the request presents, or undefined when it presents nothing. */
  async function presented(request: FastifyRequest): Promise<{ principal: Principal; expiresAt?: number } | undefined> {
    const authorization = header(request, 'authorization');
    const subprotocol = authorization === undefined ? bearerFromSubprotocols(request) : undefined;
    if (subprotocol !== undefined) return bearer(subprotocol, 'sec-websocket-protocol');
    if (authorization !== undefined) {
      const value = BEARER.exec(authorization)?.[1];
      if (value === undefined) throw new ErrandError('unauthorized', 'Authorization must be "Bearer <API key or token>"', 'authorization');
      return bearer(value, 'authorization');
    }
    const apiKey = header(request, 'x-api-key');
    if (apiKey !== undefined) {
      const principal = await keys.verify(apiKey);
      if (!principal) throw invalidKey('x-api-key');
      return { principal };
    }
    const certificate = certificatePrincipal(request, deps.certificates);
    return certificate ? { principal: certificate } : undefined;
  }

  /** A bearer value (from Authorization, or a WebSocket's subprotocol): an API key, a JWT, or Patavi's single key. */
  async function bearer(value: string, field: string): Promise<{ principal: Principal; expiresAt?: number }> {
    if (!isApiKeyFormat(value) && jwt) {
      const outcome = await jwt.verify(value);
      // Requests are accepted up to exp plus the clock tolerance: streams run as long.
      if (outcome.kind === 'principal') return { principal: outcome.principal, expiresAt: outcome.expiresAt + settings.jwt!.clockToleranceSeconds * 1000 };
      if (outcome.kind === 'refused') throw outcome.error;
    }
    const principal = await keys.verify(value);
    if (principal) return { principal };
    throw isApiKeyFormat(value) || !jwt ? invalidKey(field) : new ErrandError('unauthorized', 'the bearer value is neither an API key nor a signed JWT', field);
  }

  /** A key's or certificate's end, which the principal carries; a JWT's comes with the outcome. */
  const ending = (found: { principal: Principal; expiresAt?: number }): number | undefined => found.expiresAt ?? found.principal.expiresAt;

  async function authenticate(request: FastifyRequest): Promise<Caller> {
    const label = labelOf(request);
    const token = (request.raw as WithToken)[ACCESS_TOKEN];
    let capability: Caller['capability'];
    let badCapability = false;
    if (token !== undefined) {
      const check = deps.capabilities ? verifyCapabilityToken(token, { secrets: deps.capabilities.secrets, now: now() }) : { kind: 'malformed' as const };
      if (check.kind === 'ok') capability = { task: check.taskId, token, expiresAt: check.expiresAt };
      else badCapability = true;
    }
    const withToken = { ...(capability ? { capability } : {}), ...(badCapability ? { badCapability } : {}) };
    if (!settings.required) return { principal: LOCAL_PRINCIPAL, label, ...withToken };
    const open = settings.pataviOpenReads ? { openReads: true } : {};
    const credential = await presented(request);
    if (!credential) return { label, ...withToken, ...open };
    const expiresAt = ending(credential);
    return { principal: credential.principal, label, ...withToken, ...open, ...(expiresAt !== undefined ? { expiresAt } : {}) };
  }

  return {
    required: settings.required,
    caller(request) {
      let caller = callers.get(request);
      if (!caller) callers.set(request, (caller = authenticate(request)));
      return caller;
    },
  };
}
