/**
 * What a caller may do with tasks (issue 12): plain decisions from who is asking (a `Caller`) and
 * what is asked about, never from how the caller signed in. Routes turn each decision into an
 * answer: `any`/`owner` let them read (the second only the caller's own tasks), `unauthenticated`
 * is 401, `forbidden` is 403, and `hidden` is the same 404 as a task that does not exist, so that
 * a task's existence never leaks to someone who may not see it.
 */
import type { Principal, Scope } from './principal.ts';
import { maySubmit } from './principal.ts';

/** A verified capability token: reading one task until it expires. */
export interface Capability {
  readonly task: string;
  /** The token as presented, carried on into the links this caller is given (never extended). */
  readonly token: string;
  /** Milliseconds since the Unix epoch. */
  readonly expiresAt: number;
}

export interface Caller {
  /** Who signed in; undefined: no credential at all. */
  readonly principal?: Principal;
  /** When the credential stops being good (a JWT's exp), in ms since the epoch; streams close then. */
  readonly expiresAt?: number;
  readonly capability?: Capability;
  /** The request carried an access token that did not verify (tampered, expired, another secret). */
  readonly badCapability?: boolean;
  /** `--patavi-open-reads`: every caller reads any task, as under Patavi (signing in never shows less). */
  readonly openReads?: boolean;
  /** What `x-client-name` says: a label kept with the task, never an identity. */
  readonly label: string | null;
}

export type Decision =
  | { readonly kind: 'allowed' }
  | { readonly kind: 'unauthenticated'; readonly message: string }
  | { readonly kind: 'forbidden'; readonly message: string }
  | { readonly kind: 'hidden' };

/** Reading a task: any task, only the caller's own (by owner), or a refusal. */
export type ReadAccess = { readonly kind: 'any' } | { readonly kind: 'owner'; readonly owner: string } | Exclude<Decision, { kind: 'allowed' }>;

/** What a global event stream may carry for this caller. */
export type StreamAccess =
  | { readonly kind: 'all' }
  | { readonly kind: 'owner'; readonly owner: string }
  | { readonly kind: 'task'; readonly task: string }
  | Exclude<Decision, { kind: 'allowed' }>;

const NO_CREDENTIAL = 'this route needs a credential: Authorization: Bearer <API key or token>, x-api-key, a client certificate, or a task link with its access token';
/** For what only a signed-in caller may do: a task link does not help there. */
const NO_SIGN_IN = 'this route needs a credential: Authorization: Bearer <API key or token>, x-api-key, or a client certificate';
const HIDDEN: Decision = { kind: 'hidden' };

function holds(principal: Principal, scope: Scope): boolean {
  return principal.scopes.has('admin') || principal.scopes.has(scope);
}

function noCredential(caller: Caller, message = NO_CREDENTIAL): Exclude<Decision, { kind: 'allowed' } | { kind: 'forbidden' }> {
  // A token was given and did not verify: the task is not there as far as this caller can tell.
  return caller.capability !== undefined || caller.badCapability === true ? HIDDEN as { kind: 'hidden' } : { kind: 'unauthenticated', message };
}

/** Reading task `taskId` or any part of it (input, script, console, results, files, events). */
export function readAccess(caller: Caller, taskId: string): ReadAccess {
  if (caller.capability?.task === taskId || caller.openReads) return { kind: 'any' };
  const { principal } = caller;
  if (principal) {
    if (holds(principal, 'read:all')) return { kind: 'any' };
    if (principal.scopes.has('read')) return { kind: 'owner', owner: principal.id };
    if (caller.capability || caller.badCapability) return HIDDEN as { kind: 'hidden' };
    return { kind: 'forbidden', message: `${principal.id} may not read tasks: it has no read scope` };
  }
  return noCredential(caller);
}

/** Whether a task with `owner` passes a read decision (for answers that list several tasks). */
export function passesRead(access: ReadAccess, owner: string | null): boolean {
  return access.kind === 'any' || (access.kind === 'owner' && owner === access.owner);
}

/** The global event streams (`GET /events`, `WS /events`): which tasks' events they may carry. */
export function streamAccess(caller: Caller): StreamAccess {
  if (caller.openReads) return { kind: 'all' };
  const { principal } = caller;
  if (principal) {
    if (holds(principal, 'read:all')) return { kind: 'all' };
    // A stream asked for under a task link (`/access/<token>/events`) is that task's.
    if (caller.capability) return { kind: 'task', task: caller.capability.task };
    if (principal.scopes.has('read')) return { kind: 'owner', owner: principal.id };
    return { kind: 'forbidden', message: `${principal.id} may not read events: it has no read scope` };
  }
  if (caller.capability) return { kind: 'task', task: caller.capability.task };
  return { kind: 'unauthenticated', message: caller.badCapability ? 'the access token is not valid (tampered, expired or signed with a secret no longer accepted)' : NO_CREDENTIAL };
}

/** Listing tasks (`GET /tasks`): every task, only the caller's own, or a refusal. */
export type ListAccess = { readonly kind: 'all' } | { readonly kind: 'owner'; readonly owner: string } | Exclude<Decision, { kind: 'allowed' } | { kind: 'hidden' }>;

/**
 * Listing tasks: `read:all` and `admin` list every task (and may filter by owner), `read` its own.
 * A task link reads one task and lists nothing: a credential is needed. Open reads list everything,
 * as they read every task and every stream.
 */
export function listAccess(caller: Caller): ListAccess {
  if (caller.openReads) return { kind: 'all' };
  const { principal } = caller;
  if (!principal) return { kind: 'unauthenticated', message: NO_SIGN_IN };
  if (holds(principal, 'read:all')) return { kind: 'all' };
  if (principal.scopes.has('read')) return { kind: 'owner', owner: principal.id };
  return { kind: 'forbidden', message: `${principal.id} may not list tasks: it has no read scope` };
}

/** What only a signed-in caller may do at all (submit, the service registry): a task link is no credential there. */
export function signedInAccess(caller: Caller): Decision {
  return caller.principal ? { kind: 'allowed' } : { kind: 'unauthenticated', message: NO_SIGN_IN };
}

/** What only operators may see (GET /workers: which hosts run what; /metrics on the API's port): `read:all` or `admin`. `what` ends the refusal: "<id> may not <what>". */
export function operatorAccess(caller: Caller, what: string): Decision {
  const { principal } = caller;
  if (!principal) return signedInAccess(caller);
  return holds(principal, 'read:all') ? { kind: 'allowed' } : { kind: 'forbidden', message: `${principal.id} may not ${what}: that needs read:all or admin` };
}

/**
 * A service's figures (`GET /services/:name/stats`): a signed-in caller with a read scope. They
 * count tasks and never name one or its owner, so `read` is enough, whoever owns the tasks.
 */
export function figuresAccess(caller: Caller): Decision {
  const { principal } = caller;
  if (!principal) return signedInAccess(caller);
  if (holds(principal, 'read') || holds(principal, 'read:all')) return { kind: 'allowed' };
  return { kind: 'forbidden', message: `${principal.id} may not read service figures: it has no read scope` };
}

/** Submitting to `service`. */
export function submitAccess(caller: Caller, service: string): Decision {
  const { principal } = caller;
  if (!principal) return signedInAccess(caller);
  if (maySubmit(principal, service)) return { kind: 'allowed' };
  return { kind: 'forbidden', message: principal.scopes.has('submit') ? `${principal.id} may not submit to service ${service}` : `${principal.id} may not submit tasks: it has no submit scope` };
}

/**
 * Canceling or deleting a task: its owner with the cancel scope, or an admin. Someone who may read
 * the task but not change it is told so (403); someone who may not even read it gets the 404 of a
 * task that does not exist.
 */
export function changeAccess(caller: Caller, task: { id: string; owner: string | null }, verb: 'cancel' | 'delete'): Decision {
  const { principal } = caller;
  if (!principal) {
    if (caller.capability?.task === task.id) return { kind: 'forbidden', message: `a task link only reads: to ${verb} a task, sign in` };
    if (caller.openReads) return { kind: 'unauthenticated', message: NO_SIGN_IN };
    return noCredential(caller, NO_SIGN_IN);
  }
  if (principal.scopes.has('admin')) return { kind: 'allowed' };
  if (task.owner === principal.id) {
    return principal.scopes.has('cancel') ? { kind: 'allowed' } : { kind: 'forbidden', message: `${principal.id} may not ${verb} tasks: it has no cancel scope` };
  }
  return passesRead(readAccess(caller, task.id), task.owner) ? { kind: 'forbidden', message: `${principal.id} may ${verb} only its own tasks` } : HIDDEN;
}

/**
 * Whether `caller` may hand out a task link for `task`: only what its own credential reads (a
 * link never grants more than its issuer holds), never through open reads or another link.
 */
export function mayIssueLink(caller: Caller, task: { id: string; owner: string | null }): boolean {
  if (!caller.principal) return false;
  return passesRead(readAccess({ principal: caller.principal, label: null }, task.id), task.owner);
}

/** The principal recorded as the owner of what `caller` submits. */
export function ownerOf(caller: Caller): string | null {
  return caller.principal?.id ?? null;
}
