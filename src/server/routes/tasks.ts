/**
 * Patavi's task routes: submit, describe, input, script, results, files, delete, and /status. The
 * routes read the request and shape the answer; submit.ts and cancel.ts do the work behind them.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { canBeIssued, ErrandError, isTerminal, passesRead, readAccess, resultFileNameProblem } from '../../core/index.ts';
import type { Caller, TaskInfo } from '../../core/index.ts';
import { notFound, readerOf, refusal } from '../access.ts';
import { taskCacheControl } from '../cache-control.ts';
import { cancelTask, deleteTask } from '../cancel.ts';
import type { RouteContext } from '../context.ts';
import { describeWithEstimate } from '../describe.ts';
import { NOSNIFF, resultFileHeaders, SCRIPT_TEXT_HEADERS } from '../result-file-headers.ts';
import { submitTask } from '../submit.ts';
import type { SubmitContext } from '../submit.ts';
import { durationLimits } from '../submission-durations.ts';
import { requireExistingTaskId, requireTaskId } from './ids.ts';

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

function headerText(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

export function registerTaskRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store, settings } = ctx;
  const submitting: SubmitContext = { ...ctx, limits: durationLimits(settings) };
  const caching = taskCacheControl(settings);
  /** Task data that may still change: private when answers depend on the caller. */
  const changing = (reply: FastifyReply): void => { if (caching.changing !== undefined) void reply.header('Cache-Control', caching.changing); };

  app.post('/task', async (request, reply) => {
    const caller = await ctx.auth.caller(request);
    const description = await submitTask(submitting, {
      caller, query: request.query as Record<string, unknown>, cacheControl: headerText(request, 'cache-control'), body: request.body as Buffer | undefined,
    });
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

  app.get<IdParams>('/task/:id', async (request, reply) => {
    const id = requireExistingTaskId(request.params.id);
    const { caller, task } = await readableTask(request, id);
    // Links with a token differ per answer and expire: such a description is never kept long.
    if (isTerminal(task.status) && !ctx.linker.carriesToken(caller, task)) reply.header('Cache-Control', caching.immutable);
    else changing(reply);
    return describeWithEstimate(ctx, caller, task);
  });

  app.post<IdParams>('/task/:id/cancel', async (request, reply) => {
    const id = requireExistingTaskId(request.params.id);
    const description = await cancelTask(ctx, await ctx.auth.caller(request), id, request.log);
    changing(reply);
    return description;
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
    await deleteTask(ctx, await ctx.auth.caller(request), id, request.log);
    return reply.code(200).send();
  });
}
