/** Patavi's task routes: submit, describe, input, script, results, files, delete, and /status. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendTask } from '../../broker/index.ts';
import { isInvalidValue } from '../../store/index.ts';
import { cacheBypassed, cacheKey, canonicalJson, changeAccess, checkJsonInput, canBeIssued, encodeControl, ErrandError, estimateStartSeconds, isTerminal, ownerOf, passesRead, readAccess, resultFileNameProblem, serviceNameProblem, submitAccess } from '../../core/index.ts';
import type { AnnouncedService, CacheClaim, Caller, TaskInfo } from '../../core/index.ts';
import { notFound, readerOf, refusal, requireAllowed } from '../access.ts';
import type { RouteContext } from '../context.ts';
import { NOSNIFF, resultFileHeaders, SCRIPT_TEXT_HEADERS } from '../result-file-headers.ts';
import { requireExistingTaskId, requireTaskId } from './ids.ts';
import { taskCacheControl } from '../cache-control.ts';
import { durationLimits, requestedTtl, taskDeadline, taskTtl } from '../submission-durations.ts';

type IdParams = { Params: { id: string } };

/** Task ids one GET /status may ask for, unless --max-status-ids says otherwise. */
export const DEFAULT_MAX_STATUS_IDS = 500;

/** Answers 304 when the client already holds this immutable representation (finished tasks' parts never change). */
function notModified(request: FastifyRequest, reply: FastifyReply, etag: string, cacheControl: string): boolean {
  reply.header('ETag', etag).header('Cache-Control', cacheControl);
  const given = request.headers['if-none-match'];
  if (given && given.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')) {
    reply.code(304).send();
    return true;
  }
  return false;
}

function queryString(request: FastifyRequest, name: string): string | undefined {
  const value = (request.query as Record<string, unknown>)[name];
  if (Array.isArray(value)) throw new ErrandError('invalid_field', `${name} must be given once`, name);
  return typeof value === 'string' ? value : undefined;
}

/**
 * The cache's part in a submission: none when the service does not cache or the input has no
 * canonical form. Entries are each owner's own (issue 12) unless the service shares them.
 */
function cacheClaim(request: FastifyRequest, definition: AnnouncedService | undefined, input: string, owner: string | null): CacheClaim | undefined {
  const fresh = cacheBypassed(queryString(request, 'cache'), headerText(request, 'cache-control'));
  if (!definition?.cache.enabled) return undefined;
  const canonical = canonicalJson(input);
  if (canonical === undefined) return undefined;
  const shared = definition.cache.shared === true;
  return { key: cacheKey(definition.name, definition.version, canonical, shared ? undefined : owner), version: definition.version, lifetime: definition.cache.lifetime, fresh, shared };
}

function headerText(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

export function registerTaskRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store, broker, settings } = ctx;
  const limits = durationLimits(settings);
  const caching = taskCacheControl(settings);
  /** Task data that may still change: private when answers depend on the caller. */
  const changing = (reply: FastifyReply): void => { if (caching.changing !== undefined) void reply.header('Cache-Control', caching.changing); };

  /** Tells every worker to stop (or never start) the task, and every watcher that it ended. */
  async function announceCancel(id: string, events: Parameters<RouteContext['publisher']['written']>[0], log: FastifyRequest['log']): Promise<void> {
    ctx.publisher.written(events);
    await broker.broadcast('control', encodeControl({ type: 'cancel', taskIds: [id] })).catch((err: Error) => {
      log.warn({ taskId: id, err: err.message }, 'could not tell the workers of a cancel; a worker running it finishes and its result is ignored');
    });
  }

  /** The task description as `caller` sees it, with a start estimate while it waits in the queue. */
  async function describe(caller: Caller, task: TaskInfo, statusOverride?: 'no-workers') {
    const description = ctx.linker.describe(caller, task, statusOverride);
    if (task.status === 'queued') {
      const view = ctx.registry.service(task.service);
      const position = await store.queuePosition(task);
      const workers = view?.online ? view.workers : [];
      const estimate = estimateStartSeconds({
        queuedAhead: position.queuedAhead,
        running: workers.reduce((n, w) => n + w.busy, 0),
        capacity: workers.reduce((n, w) => n + w.concurrency, 0),
        meanDurationSeconds: position.meanDurationSeconds,
      });
      description.queue = { ahead: position.queuedAhead, ...(estimate !== undefined ? { estimatedStartSeconds: estimate } : {}) };
    }
    return description;
  }

  app.post('/task', async (request, reply) => {
    const caller = await ctx.auth.caller(request);
    // No credential: refused before the request is looked at.
    if (!caller.principal) requireAllowed(submitAccess(caller, ''));
    const service = queryString(request, 'service');
    if (service === undefined || service === '') throw new ErrandError('missing_field', 'service is required: POST /task?service=<name>', 'service');
    const nameProblem = serviceNameProblem(service);
    if (nameProblem) throw new ErrandError('invalid_field', nameProblem, 'service');
    requireAllowed(submitAccess(caller, service));
    const askedTtl = requestedTtl(queryString(request, 'ttl'), limits);
    const input = checkJsonInput(request.body as Buffer | undefined, settings.maxJsonDepth);
    const admission = await ctx.gate.admit(service);
    ctx.gate.checkInput(admission.service, input);
    const { consumers } = admission;
    const ttl = taskTtl(askedTtl, admission.service?.definition.ttl, settings.defaultTtl, limits);
    const deadline = taskDeadline(queryString(request, 'deadline'), admission.service?.definition.queueTimeout, settings.defaultQueueTimeout, Date.now(), limits);

    const id = ctx.ids.next();
    const owner = ownerOf(caller);
    const newTask = { id, service, input, owner, clientName: caller.label, ttl, deadline };
    const cache = cacheClaim(request, admission.service?.definition, input, owner);
    let queued;
    try {
      if (cache) {
        const submitted = await store.submitCached(newTask, cache);
        if (submitted.kind !== 'queued') {
          // A hit on another principal's result is a new task of the caller's, with events of its own.
          if (submitted.kind === 'hit' && submitted.events) ctx.publisher.written(submitted.events);
          // The task that has (or will have) this result answers: 201 as for any submission, which Patavi's clients require.
          const description = await describe(caller, submitted.task, consumers === 0 && submitted.task.status === 'queued' ? 'no-workers' : undefined);
          description.cache = { status: submitted.kind };
          reply.code(201).header('Location', description._links.self.href);
          changing(reply);
          return description;
        }
        queued = submitted.event;
      } else {
        queued = await store.insertTask(newTask);
      }
    } catch (err) {
      if (isInvalidValue(err)) throw new ErrandError('invalid_json', `request body cannot be stored: ${(err as Error).message}`, 'body');
      throw new ErrandError('database_unavailable', `the task could not be saved: ${(err as Error).message}`, undefined, { cause: err });
    }
    try {
      await sendTask(broker, { id, service, input }, deadline);
    } catch (err) {
      // Not queued, so not kept: a task must never sit in the database with no message to run it.
      const removed = await store.deleteTask(id).catch(() => undefined);
      ctx.publisher.written([queued, ...(removed?.events ?? [])]);
      throw new ErrandError('broker_unavailable', `the task could not be queued: ${(err as Error).message}`, undefined, { cause: err });
    }
    ctx.publisher.written([queued]);
    const description = ctx.linker.describe(caller, { id, service, status: 'queued', deadline }, consumers === 0 ? 'no-workers' : undefined);
    if (cache) description.cache = { status: cache.fresh ? 'bypass' : 'miss' };
    reply.code(201).header('Location', description._links.self.href);
    changing(reply);
    return description;
  });

  /** The task, if it exists and `caller` may read it; otherwise the same 404 either way. */
  async function readableTask(request: FastifyRequest, id: string): Promise<{ caller: Caller; task: TaskInfo }> {
    const { caller, owner } = await readerOf(ctx.auth, request, id);
    const task = await store.getTask(id);
    if (!task || (owner !== undefined && task.owner !== owner)) throw notFound(id);
    return { caller, task };
  }

  /**
   * A task `caller` may cancel or delete: refused before anything changes, with the 404 of a
   * missing task when the caller may not even read it.
   */
  async function changeableTask(request: FastifyRequest, id: string, verb: 'cancel' | 'delete'): Promise<{ caller: Caller; task: TaskInfo }> {
    const caller = await ctx.auth.caller(request);
    // Without a credential the answer does not depend on the task (only a credential changes
    // anything): nothing is looked up.
    if (!caller.principal) requireAllowed(changeAccess(caller, { id, owner: null }, verb), id);
    const task = await store.getTask(id);
    if (!task) throw notFound(id);
    requireAllowed(changeAccess(caller, task, verb), id);
    return { caller, task };
  }

  app.get<IdParams>('/task/:id', async (request, reply) => {
    const id = requireExistingTaskId(request.params.id);
    const { caller, task } = await readableTask(request, id);
    // Links with a token differ per answer and expire: such a description is never kept long.
    if (isTerminal(task.status) && !ctx.linker.carriesToken(caller, task)) reply.header('Cache-Control', caching.immutable);
    else changing(reply);
    return describe(caller, task);
  });

  app.post<IdParams>('/task/:id/cancel', async (request, reply) => {
    const id = requireExistingTaskId(request.params.id);
    const { caller } = await changeableTask(request, id, 'cancel');
    const outcome = await store.cancelTask(id, caller.principal?.id);
    if (outcome.kind === 'unknown-task') throw notFound(id);
    if (outcome.kind === 'ended') throw new ErrandError('task_ended', `task ${id} has already ended (${outcome.status}); only a queued or running task can be canceled`, 'id');
    await announceCancel(id, outcome.events, request.log);
    const task = await store.getTask(id);
    changing(reply);
    return ctx.linker.describe(caller, task ?? { id, service: outcome.events[0]!.service, status: 'canceled' });
  });

  app.get('/status', async (request, reply) => {
    const caller = await ctx.auth.caller(request);
    const raw = (request.query as Record<string, unknown>).task;
    if (raw === undefined || raw === '') throw new ErrandError('missing_field', 'give one or more task ids: /status?task=<id>&task=<id>', 'task');
    const given = Array.isArray(raw) ? raw : [raw];
    const max = settings.maxStatusIds ?? DEFAULT_MAX_STATUS_IDS;
    if (given.length > max) throw new ErrandError('invalid_field', `give at most ${max} task ids per /status request, got ${given.length}`, 'task');
    // Ids past bigint name no task, as unknown ids do: left out of the answer, not asked for.
    const ids = given.map((value) => requireTaskId(value, 'task')).filter(canBeIssued);
    // No credential and no token for any of them: refused as a whole, before any lookup.
    const general = readAccess({ ...caller, capability: undefined } as Caller, '');
    if ((general.kind === 'unauthenticated' || general.kind === 'forbidden') && !caller.capability) throw refusal(general);
    changing(reply);
    const owner = general.kind === 'owner' && !caller.capability ? general.owner : undefined;
    // Tasks the caller may not read are left out, as unknown ids are.
    const visible = (await store.getTasks(ids, owner)).filter((task) => passesRead(readAccess(caller, task.id), task.owner));
    return visible.map((task) => ctx.linker.describe(caller, { ...task, hasScript: false }));
  });

  app.get<IdParams>('/task/:id/task', async (request, reply) => {
    const id = requireExistingTaskId(request.params.id);
    const { owner } = await readerOf(ctx.auth, request, id);
    const input = await store.getInput(id, owner);
    if (input === undefined) throw notFound(id);
    reply.headers(NOSNIFF);
    if (notModified(request, reply, `"${id}-task"`, caching.immutable)) return reply;
    return reply.type('application/json; charset=utf-8').send(input);
  });

  app.get<IdParams>('/task/:id/script', async (request, reply) => {
    const id = requireExistingTaskId(request.params.id);
    const { owner } = await readerOf(ctx.auth, request, id);
    const script = await store.getScript(id, owner);
    if (script === undefined) throw new ErrandError('not_found', `task ${id} has no script (it does not exist, or its worker sent none)`, 'id');
    reply.headers(SCRIPT_TEXT_HEADERS);
    if (notModified(request, reply, `"${id}-script"`, caching.immutable)) return reply;
    return reply.type('text/plain; charset=utf-8').send(script);
  });

  app.get<IdParams>('/task/:id/console', async (request, reply) => {
    const id = requireExistingTaskId(request.params.id);
    const { owner } = await readerOf(ctx.auth, request, id);
    const text = await store.getConsole(id, owner);
    if (text === undefined) throw new ErrandError('not_found', `task ${id} has no console output (it does not exist, has not finished, or printed nothing)`, 'id');
    reply.headers(SCRIPT_TEXT_HEADERS);
    if (notModified(request, reply, `"${id}-console"`, caching.immutable)) return reply;
    return reply.type('text/plain; charset=utf-8').send(text);
  });

  const results = async (request: FastifyRequest<IdParams>, reply: FastifyReply) => {
    const id = requireExistingTaskId(request.params.id);
    const { owner } = await readerOf(ctx.auth, request, id);
    const result = await store.getResult(id, owner);
    if (result === undefined) throw new ErrandError('not_found', `task ${id} has no results (it does not exist or has not finished)`, 'id');
    reply.headers(NOSNIFF);
    if (notModified(request, reply, `"${id}-results"`, caching.immutable)) return reply;
    return reply.type('application/json; charset=utf-8').send(result);
  };
  app.get<IdParams>('/task/:id/results', results);
  app.get<IdParams>('/task/:id/results/', results);

  app.get<{ Params: { id: string; file: string } }>('/task/:id/results/:file', async (request, reply) => {
    const id = requireExistingTaskId(request.params.id);
    const { owner } = await readerOf(ctx.auth, request, id);
    const name = request.params.file;
    // A name no result file can have (NUL, "..", a control character) is not looked up: it is not there.
    const file = resultFileNameProblem(name) === undefined ? await store.getFile(id, name, owner) : undefined;
    if (!file) throw new ErrandError('not_found', `task ${id} has no result file ${JSON.stringify(name)}`, 'file');
    reply.headers(resultFileHeaders(name, file.contentType));
    if (notModified(request, reply, `"${id}-file-${Buffer.from(name).toString('base64url')}"`, caching.immutable)) return reply;
    return reply.send(file.content);
  });

  app.delete<IdParams>('/task/:id', async (request, reply) => {
    const id = requireExistingTaskId(request.params.id);
    const { caller } = await changeableTask(request, id, 'delete');
    const by = caller.principal?.id;
    // A task still queued or running is canceled first, so that it stops and its watchers hear it.
    const canceled = await store.cancelTask(id, by);
    if (canceled.kind === 'canceled') await announceCancel(id, canceled.events, request.log);
    const removed = await store.deleteTask(id, by);
    if (!removed.deleted) throw notFound(id);
    ctx.publisher.written(removed.events);
    return reply.code(200).send();
  });
}
