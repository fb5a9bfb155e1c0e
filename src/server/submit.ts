/**
 * POST /task past HTTP: who may submit, the checks of the service, ttl, deadline and input, the
 * result cache, then the task stored and queued. The route hands over what it read of the request
 * and answers with what comes back (a description) or the ErrandError thrown.
 */
import { sendTask } from '../broker/index.ts';
import { cacheBypassed, cacheKey, canonicalJson, checkCallbackUrl, checkJsonInput, ErrandError, NO_CALLBACKS, ownerOf, submitAccess } from '../core/index.ts';
import type { AnnouncedService, CacheClaim, Caller, TaskDescription, TaskEvent } from '../core/index.ts';
import { isInvalidValue } from '../store/index.ts';
import type { Callbacks, NewTask, TaskChanges, TaskReads, TaskSubmission } from '../store/index.ts';
import { requireAllowed } from './access.ts';
import type { RouteContext } from './context.ts';
import { describeWithEstimate } from './describe.ts';
import { taskDeadline, taskTtl, requestedTtl } from './submission-durations.ts';
import type { DurationLimits } from './submission-durations.ts';

export interface SubmitContext extends Pick<RouteContext, 'broker' | 'ids' | 'publisher' | 'gate' | 'registry' | 'linker' | 'settings' | 'monitor'> {
  store: TaskSubmission & Pick<TaskChanges, 'deleteTask'> & Pick<TaskReads, 'queuePosition'> & Pick<Callbacks, 'addCallback' | 'getCallbacks'>;
  /** The server's bounds on ttl and deadline (durationLimits(settings), computed once). */
  limits: DurationLimits;
}

/** The query of a submission, as its route's schema let it through (SUBMIT_QUERY in api-schemas.ts). */
export interface SubmitQuery {
  /** A valid service name. */
  service: string;
  ttl?: string;
  deadline?: string;
  /** `true` or `false`. */
  cache?: string;
  /** A URL to POST the task's description to when it ends (an allowlisted host). */
  callback?: string;
}

/** A submission as the route read it. */
export interface SubmitRequest {
  caller: Caller;
  query: SubmitQuery;
  /** The Cache-Control header (several joined by commas). */
  cacheControl: string | undefined;
  /** The body as received, whatever its content type. */
  body: Buffer | undefined;
}

/** No credential: refused before the request is looked at. */
export function refuseAnonymousSubmission(caller: Caller): void {
  if (!caller.principal) requireAllowed(submitAccess(caller, ''));
}

/**
 * The cache's part in a submission: none when the service does not cache or the input has no
 * canonical form. Entries are each owner's own (issue 12) unless the service shares them.
 */
function cacheClaim(request: SubmitRequest, definition: AnnouncedService | undefined, input: string, owner: string | null): CacheClaim | undefined {
  const fresh = cacheBypassed(request.query.cache, request.cacheControl);
  if (!definition?.cache.enabled) return undefined;
  const canonical = canonicalJson(input);
  if (canonical === undefined) return undefined;
  const shared = definition.cache.shared === true;
  return { key: cacheKey(definition.name, definition.version, canonical, shared ? undefined : owner), version: definition.version, lifetime: definition.cache.lifetime, fresh, shared };
}

/** The checks a submission passes before anything is written; in this order, so that the first problem is the one reported. */
async function checkedSubmission(ctx: SubmitContext, request: SubmitRequest) {
  const { caller, query } = request;
  const { service } = query;
  refuseAnonymousSubmission(caller);
  requireAllowed(submitAccess(caller, service));
  const askedTtl = requestedTtl(query.ttl, ctx.limits);
  // Checked against the allowlist only: names are resolved when a delivery is made (docs/security.md).
  const callback = query.callback === undefined ? undefined : checkCallbackUrl(query.callback, ctx.settings.callbackHosts ?? NO_CALLBACKS);
  const input = checkJsonInput(request.body, ctx.settings.maxJsonDepth);
  const admission = await ctx.gate.admit(service);
  ctx.gate.checkInput(admission.service, input);
  const definition = admission.service?.definition;
  const ttl = taskTtl(askedTtl, definition?.ttl, ctx.settings.defaultTtl, ctx.limits);
  const deadline = taskDeadline(query.deadline, definition?.queueTimeout, ctx.settings.defaultQueueTimeout, Date.now(), ctx.limits);
  return { service, input, ttl, deadline, definition, consumers: admission.consumers, callback };
}

/** Stores and queues a task (or lets the result cache answer); returns its description for the caller. */
export async function submitTask(ctx: SubmitContext, request: SubmitRequest): Promise<TaskDescription> {
  const { caller } = request;
  const { service, input, ttl, deadline, definition, consumers, callback } = await checkedSubmission(ctx, request);
  const id = ctx.ids.next();
  const owner = ownerOf(caller);
  const newTask: NewTask = { id, service, input, owner, clientName: caller.label, ttl, deadline };
  const cache = cacheClaim(request, definition, input, owner);
  let queued: TaskEvent;
  try {
    if (cache) {
      const submitted = await ctx.store.submitCached(newTask, cache);
      if (submitted.kind !== 'queued') {
        // A hit on another principal's result is a new task of the caller's, with events of its own.
        if (submitted.kind === 'hit' && submitted.events) ctx.publisher.written(submitted.events);
        // The task that answers gets this callback too (one per URL): it is delivered when that task ends, or at once if it has.
        if (callback !== undefined) await addCallback(ctx, submitted.task.id, callback, false);
        const task = callback !== undefined ? { ...submitted.task, hasCallbacks: true } : submitted.task;
        // The task that has (or will have) this result answers, as any submission does (Patavi's clients require a 201).
        ctx.monitor.cacheLookup?.(service, submitted.kind);
        const description = await describeWithEstimate(ctx, caller, task, consumers === 0 && task.status === 'queued' ? 'no-workers' : undefined);
        description.cache = { status: submitted.kind };
        return description;
      }
      queued = submitted.event;
    } else {
      queued = await ctx.store.insertTask(newTask);
    }
  } catch (err) {
    if (err instanceof ErrandError) throw err;
    if (isInvalidValue(err)) throw new ErrandError('invalid_json', `request body cannot be stored: ${(err as Error).message}`, 'body');
    throw new ErrandError('database_unavailable', `the task could not be saved: ${(err as Error).message}`, undefined, { cause: err });
  }
  // Before the task is queued, so that it cannot end before its callback is known.
  if (callback !== undefined) {
    try {
      await addCallback(ctx, id, callback, true);
    } catch (err) {
      const removed = await ctx.store.deleteTask(id).catch(() => undefined);
      ctx.publisher.written([queued, ...(removed?.events ?? [])]);
      throw err;
    }
  }
  const sending = sendTask(ctx.broker, { id, service, input }, deadline);
  // Committed, so announced now, in the same socket write as the task's message (event-publisher.ts).
  // Should the broker refuse the message, the task's `deleted` event follows it.
  ctx.publisher.written([queued]);
  try {
    await sending;
  } catch (err) {
    // Not queued, so not kept: a task must never sit in the database with no message to run it.
    const removed = await ctx.store.deleteTask(id).catch(() => undefined);
    ctx.publisher.written(removed?.events ?? []);
    throw new ErrandError('broker_unavailable', `the task could not be queued: ${(err as Error).message}`, undefined, { cause: err });
  }
  const description = ctx.linker.describe(caller, { id, service, status: 'queued', deadline }, consumers === 0 ? 'no-workers' : undefined);
  if (callback !== undefined) description.callbacks = [{ url: callback, state: 'pending', attempts: [] }];
  if (cache) {
    const status = cache.fresh ? 'bypass' : 'miss';
    description.cache = { status };
    ctx.monitor.cacheLookup?.(service, status);
  }
  return description;
}

/** Records the submission's callback for task `id`; a database that is away is a 503 (the task, if new, is not kept). */
async function addCallback(ctx: SubmitContext, id: string, url: string, fresh: boolean): Promise<void> {
  try {
    await ctx.store.addCallback(id, url);
  } catch (err) {
    const what = fresh ? 'the task could not be saved' : `the callback could not be added to task ${id}`;
    throw new ErrandError('database_unavailable', `${what}: ${(err as Error).message}`, undefined, { cause: err });
  }
}
