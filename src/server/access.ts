/**
 * Turns access decisions (core/access.ts) into answers: 401 without a credential, 403 with one that
 * lacks the right, and for a task the caller may not see, the very 404 of a task that does not exist.
 */
import type { FastifyRequest } from 'fastify';
import { accessBase, describeTask, ErrandError, issueCapability, mayIssueLink, readAccess, streamAccess } from '../core/index.ts';
import type { Caller, CapabilityKeyring, Decision, EventFilter, Links, ReadAccess, TaskDescription, TaskInfo } from '../core/index.ts';
import type { Authenticator } from './auth/authenticate.ts';

export function notFound(id: string): ErrandError {
  return new ErrandError('not_found', `no task ${id}`, 'id');
}

/** The error for a refusal; `hidden` is the task's 404. */
export function refusal(decision: Exclude<Decision, { kind: 'allowed' }>, id?: string): ErrandError {
  switch (decision.kind) {
    case 'unauthenticated': return new ErrandError('unauthorized', decision.message, 'authorization');
    case 'forbidden': return new ErrandError('forbidden', decision.message);
    case 'hidden': return id === undefined ? new ErrandError('not_found', 'not found') : notFound(id);
  }
}

export function requireAllowed(decision: Decision, id?: string): void {
  if (decision.kind !== 'allowed') throw refusal(decision, id);
}

/**
 * Reading task `id`: undefined when the caller may read any task, the owner its reads are limited
 * to otherwise; throws the refusal.
 */
export async function readerOf(auth: Authenticator, request: FastifyRequest, id: string): Promise<{ caller: Caller; owner: string | undefined }> {
  const caller = await auth.caller(request);
  const access: ReadAccess = readAccess(caller, id);
  if (access.kind === 'any') return { caller, owner: undefined };
  if (access.kind === 'owner') return { caller, owner: access.owner };
  throw refusal(access, id);
}

/** The filter of a global event stream, narrowed to what the caller may read; throws the refusal. */
export function narrowForCaller(caller: Caller, filter: EventFilter): EventFilter {
  const access = streamAccess(caller);
  switch (access.kind) {
    case 'all': return filter;
    case 'owner': return { ...filter, owner: access.owner };
    case 'task': return { ...filter, tasks: new Set(!filter.tasks || filter.tasks.has(access.task) ? [access.task] : []) };
    default: throw refusal(access);
  }
}

export interface TaskLinkSettings {
  /** Signs new capability tokens; without it links carry none. */
  keyring?: CapabilityKeyring;
  lifetimeMs: number;
  /** Tokens are issued only when credentials are asked for: an open server needs none. */
  issue: boolean;
  now?: () => number;
}

/** The links a caller is given for a task: with a capability token when one applies. */
export interface TaskLinker {
  /** Base links for a task as `caller` is to see them (`owner`: the task's). */
  baseFor(caller: Caller, task: { id: string; owner: string | null }): Links;
  /** True when the links given for this caller and task carry a token (they differ per answer). */
  carriesToken(caller: Caller, task: { id: string; owner: string | null }): boolean;
  /** A task's description for `caller`: read links with its token, `cancel` without (a token only reads). */
  describe(caller: Caller, task: Pick<TaskInfo, 'id' | 'service' | 'status'> & Partial<TaskInfo>, statusOverride?: 'no-workers'): TaskDescription;
}

export function createTaskLinker(plain: () => Links, settings: TaskLinkSettings): TaskLinker {
  const now = settings.now ?? Date.now;
  /** Whether a new token is signed: by a signed-in caller, for what its own credential reads. */
  const issues = (caller: Caller, task: { id: string; owner: string | null }): boolean =>
    settings.issue && settings.keyring !== undefined && mayIssueLink(caller, task);
  function baseFor(caller: Caller, task: { id: string; owner: string | null }): Links {
    const base = plain();
    // A token the caller came with is passed on as it is: never a later expiry than it had.
    if (caller.capability?.task === task.id) return accessBase(base, caller.capability.token);
    if (!issues(caller, task)) return base;
    const { signing } = settings.keyring!;
    return accessBase(base, issueCapability(task.id, { secret: signing.secret, keyId: signing.keyId, lifetimeMs: settings.lifetimeMs, now: now() }));
  }
  return {
    baseFor,
    carriesToken: (caller, task) => caller.capability?.task === task.id || issues(caller, task),
    describe(caller, task, statusOverride) {
      // A task without a recorded owner here is one the caller is submitting: its own.
      const base = baseFor(caller, { id: task.id, owner: task.owner !== undefined ? task.owner : caller.principal?.id ?? null });
      const description = describeTask(base, task, statusOverride);
      if (description._links.cancel) description._links.cancel = { href: `${plain().http}/task/${task.id}/cancel` };
      return description;
    },
  };
}
