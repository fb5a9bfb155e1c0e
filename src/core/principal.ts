/**
 * Who is asking, and what they may do (issue 12). Every credential mode (client certificate, API
 * key, JWT, capability token, the open local mode) ends in a `Principal`; routes decide with the
 * pure checks below, never by looking at how the caller signed in.
 *
 * Glossary:
 *   principal   a stable identity: `key:<name>`, `jwt:<issuer>|<sub>`, `cert:<subject>`, `local`
 *   scope       a right: submit (optionally to named services), read (own tasks), read:all,
 *               cancel (own tasks), admin (everything, keys included)
 *   capability  a signed, expiring, read-only token for one task, carried in its links
 */
import { ErrandError } from './errors.ts';
import { serviceNameProblem } from './service-name.ts';

export const SCOPES = ['submit', 'read', 'read:all', 'cancel', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export type CredentialKind = 'client-cert' | 'api-key' | 'jwt' | 'capability' | 'local';

export interface Principal {
  /** Stable identity, recorded as a task's owner. */
  readonly id: string;
  readonly via: CredentialKind;
  readonly scopes: ReadonlySet<Scope>;
  /** `submit` only to these services; undefined: any service. */
  readonly services?: ReadonlySet<string>;
  /** For a capability: the one task it may read. */
  readonly task?: string;
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

export function principalOf(id: string, via: CredentialKind, grant: Grant): Principal {
  return {
    id,
    via,
    scopes: new Set(grant.scopes),
    ...(grant.services.length > 0 ? { services: new Set(grant.services) } : {}),
  };
}

function has(principal: Principal, scope: Scope): boolean {
  return principal.scopes.has('admin') || principal.scopes.has(scope);
}

export function maySubmit(principal: Principal, service: string): boolean {
  if (principal.scopes.has('admin')) return true;
  return principal.scopes.has('submit') && (principal.services === undefined || principal.services.has(service));
}

/** A task's owner, a reader of all tasks, or a capability for this very task. */
export function mayRead(principal: Principal, task: { id: string; owner: string | null }): boolean {
  if (principal.via === 'capability') return principal.task === task.id;
  if (has(principal, 'read:all')) return true;
  return principal.scopes.has('read') && task.owner === principal.id;
}

export function mayCancel(principal: Principal, task: { owner: string | null }): boolean {
  if (principal.scopes.has('admin')) return true;
  return principal.via !== 'capability' && principal.scopes.has('cancel') && task.owner === principal.id;
}

/** Deleting is cancel's right too: a task's owner may remove it. */
export const mayDelete = mayCancel;

export function isAdmin(principal: Principal): boolean {
  return principal.scopes.has('admin');
}
