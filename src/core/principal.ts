/**
 * Who is asking, and what they may do (issue 12). Every credential mode (client certificate, API
 * key, JWT, the open local mode) ends in a `Principal`; routes decide with the pure checks in
 * access.ts, never by looking at how the caller signed in.
 *
 * Glossary:
 *   principal   a stable identity: `key:<name>`, `jwt:<issuer>|<sub>`, `cert:<subject>`, `local`
 *   scope       a right: submit (optionally to named services), read (own tasks), read:all,
 *               cancel (own tasks), admin (everything, keys included)
 * Capability tokens are not principals: a caller may hold one beside a credential (access.ts).
 */
import { ErrandError } from './errors.ts';
import { serviceNameProblem } from './service-name.ts';

export const SCOPES = ['submit', 'read', 'read:all', 'cancel', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export type CredentialKind = 'client-cert' | 'api-key' | 'jwt' | 'local';

export interface Principal {
  /** Stable identity, recorded as a task's owner. */
  readonly id: string;
  readonly via: CredentialKind;
  readonly scopes: ReadonlySet<Scope>;
  /** `submit` only to these services; undefined: any service. */
  readonly services?: ReadonlySet<string>;
  /** When the credential it came from stops being accepted (a key's or certificate's expiry, a JWT's exp), ms since the epoch. */
  readonly expiresAt?: number;
}

export interface Grant {
  scopes: Scope[];
  /** Services `submit` is limited to; empty: any. */
  services: string[];
}

/**
 * Reads scopes as written on the command line or in a token: `submit`, `submit:echo`,
 * `submit:echo,regression`, `read`, `read:all`, `cancel`, `admin`. Several `submit:` entries add up;
 * a plain `submit` lifts the service limit.
 */
export function parseScopes(texts: readonly string[], field = 'scope'): Grant {
  const scopes = new Set<Scope>();
  const services = new Set<string>();
  let anyService = false;
  for (const text of texts.flatMap((t) => t.split(/\s+/)).filter(Boolean)) {
    if (text.startsWith('submit:')) {
      scopes.add('submit');
      for (const name of text.slice('submit:'.length).split(',')) {
        const problem = serviceNameProblem(name);
        if (problem) throw new ErrandError('invalid_field', `scope ${JSON.stringify(text)}: ${problem}`, field);
        services.add(name);
      }
      continue;
    }
    if (!(SCOPES as readonly string[]).includes(text)) {
      throw new ErrandError('invalid_field', `unknown scope ${JSON.stringify(text)}; scopes are ${SCOPES.join(', ')} and submit:<service>[,<service>...]`, field);
    }
    if (text === 'submit') anyService = true;
    scopes.add(text as Scope);
  }
  return { scopes: [...scopes], services: anyService ? [] : [...services] };
}

export function principalOf(id: string, via: CredentialKind, grant: Grant, expiresAt?: number): Principal {
  return {
    id,
    via,
    scopes: new Set(grant.scopes),
    ...(grant.services.length > 0 ? { services: new Set(grant.services) } : {}),
    ...(expiresAt !== undefined ? { expiresAt } : {}),
  };
}

export function maySubmit(principal: Principal, service: string): boolean {
  if (principal.scopes.has('admin')) return true;
  return principal.scopes.has('submit') && (principal.services === undefined || principal.services.has(service));
}

/** Whoever uses a server started without authentication (`errand dev`, `errand serve --no-auth`): everything. */
export const LOCAL_PRINCIPAL: Principal = principalOf('local', 'local', { scopes: [...SCOPES], services: [] });
