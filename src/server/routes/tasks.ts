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
import { refuseAnonymousSubmission, submitTask } from '../submit.ts';
import type { SubmitContext, SubmitQuery } from '../submit.ts';
import { durationLimits } from '../submission-durations.ts';
import { issuedTaskId } from './ids.ts';
import { content, errors, FILE_PARAMS, ID_PARAMS, NOT_MODIFIED, SERVICE_PARAMS, SERVICE_SUBMIT_QUERY, statusQuery, SUBMIT_HEADERS, SUBMIT_QUERY, SUBMITTED, TASK_ANSWER, TASK_INPUT } from '../api-schemas.ts';
import { rejectInvalid } from '../validation-errors.ts';

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

  /** A submission: who asks is settled before what is asked (so a request without a credential is a 401 whatever else is wrong). */
  async function submit(request: FastifyRequest, reply: FastifyReply, query: SubmitQuery, problem?: ErrandError) {
    const caller = await ctx.auth.caller(request);
    refuseAnonymousSubmission(caller);
    rejectInvalid(request);
    if (problem) throw problem;
    const description = await submitTask(submitting, { caller, query, cacheControl: headerText(request, 'cache-control'), body: request.body as Buffer | undefined });
    reply.code(201).header('Location', description._links.self.href);
    changing(reply);
    return description;
  }
  const submitted = { 201: SUBMITTED, ...errors(400, 401, 403, 413, 503) };

  // No response schema is compiled into a serialiser (see openapi.ts): the answer is JSON.stringify's.
  app.post<{ Querystring: SubmitQuery }>('/task', {
    attachValidation: true,
    schema: {
      operationId: 'submitTask', tags: ['tasks'], summary: 'Submit a task',
      description: 'Stores the task, then queues it. The input is checked against the service\'s inputSchema first. Each service also has its own operation, typed with its input schema: POST /services/{name}/tasks.',
      querystring: SUBMIT_QUERY, headers: SUBMIT_HEADERS, body: TASK_INPUT, response: submitted,
    },
  }, (request, reply) => submit(request, reply, request.query));

  // The same submission with the service in the path: the form the OpenAPI description gives each service.
  app.post<{ Params: { name: string }; Querystring: Omit<SubmitQuery, 'service'> & { service?: unknown } }>('/services/:name/tasks', {
    attachValidation: true,
    schema: {
      operationId: 'submitServiceTask', tags: ['services'], summary: 'Submit a task to a service named in the path',
      description: 'The same as POST /task?service={name}. The OpenAPI description lists one such operation per registered service, typed with its input schema.',
      params: SERVICE_PARAMS, querystring: SERVICE_SUBMIT_QUERY, headers: SUBMIT_HEADERS, body: TASK_INPUT, response: submitted,
    },
  }, (request, reply) => {
    const { service, ...options } = request.query;
    const twice = service === undefined ? undefined : new ErrandError('invalid_field', 'the service is named by the path: leave service out of the query', 'service');
    return submit(request, reply, { ...options, service: request.params.name }, twice);
  });

  /** The task, if it exists and `caller` may read it; otherwise the same 404 either way. */
  async function readableTask(request: FastifyRequest, id: string): Promise<{ caller: Caller; task: TaskInfo }> {
    const { caller, owner } = await readerOf(ctx.auth, request, id);
    const task = await store.getTask(id);
    if (!task || (owner !== undefined && task.owner !== owner)) throw notFound(id);
    return { caller, task };
  }

  app.get<IdParams>('/task/:id', {
    schema: { operationId: 'getTask', tags: ['tasks'], summary: 'A task\'s description', params: ID_PARAMS, response: { 200: TASK_ANSWER, ...errors(400, 401, 404, 503) } },
  }, async (request, reply) => {
    const id = issuedTaskId(request.params.id);
    const { caller, task } = await readableTask(request, id);
    // Links with a token differ per answer and expire: such a description is never kept long.
    if (isTerminal(task.status) && !ctx.linker.carriesToken(caller, task)) reply.header('Cache-Control', caching.immutable);
    else changing(reply);
    return describeWithEstimate(ctx, caller, task);
  });

  app.post<IdParams>('/task/:id/cancel', {
    schema: { operationId: 'cancelTask', tags: ['tasks'], summary: 'Cancel a queued or running task', params: ID_PARAMS, response: { 200: TASK_ANSWER, ...errors(400, 401, 403, 404, 409, 503) } },
  }, async (request, reply) => {
    const id = issuedTaskId(request.params.id);
    const description = await cancelTask(ctx, await ctx.auth.caller(request), id, request.log);
    changing(reply);
    return description;
  });

  app.get<{ Querystring: { task: string[] } }>('/status', {
    attachValidation: true,
    schema: {
      operationId: 'getStatus', tags: ['tasks'], summary: 'Several tasks at once',
      description: 'The descriptions in the order asked, leaving out unknown ids and tasks the caller may not read.',
      querystring: statusQuery(settings.maxStatusIds ?? DEFAULT_MAX_STATUS_IDS),
      response: { 200: { description: 'The tasks found.', type: 'array', items: { $ref: 'TaskDescription#' } }, ...errors(400, 401, 403, 503) },
    },
  }, async (request, reply) => {
    const caller = await ctx.auth.caller(request);
    rejectInvalid(request);
    // Ids past bigint name no task, as unknown ids do: left out of the answer, not asked for.
    const ids = request.query.task.filter(canBeIssued);
    // No credential and no token for any of them: refused as a whole, before any lookup.
    const general = readAccess({ ...caller, capability: undefined } as Caller, '');
    if ((general.kind === 'unauthenticated' || general.kind === 'forbidden') && !caller.capability) throw refusal(general);
    changing(reply);
    const owner = general.kind === 'owner' && !caller.capability ? general.owner : undefined;
    // Tasks the caller may not read are left out, as unknown ids are.
    const visible = (await store.getTasks(ids, owner)).filter((task) => passesRead(readAccess(caller, task.id), task.owner));
    return visible.map((task) => ctx.linker.describe(caller, { ...task, hasScript: false }));
  });

  app.get<IdParams>('/task/:id/task', {
    schema: { operationId: 'getTaskInput', tags: ['tasks'], summary: 'The input as submitted', params: ID_PARAMS, response: { 200: content('application/json', {}, 'The input, byte for byte as it was posted.'), 304: NOT_MODIFIED, ...errors(400, 401, 404, 503) } },
  }, async (request, reply) => {
    const id = issuedTaskId(request.params.id);
    const { owner } = await readerOf(ctx.auth, request, id);
    const input = await store.getInput(id, owner);
    if (input === undefined) throw notFound(id);
    reply.headers(NOSNIFF);
    if (notModified(request, reply, `"${id}-task"`, caching.immutable)) return reply;
    return reply.type('application/json; charset=utf-8').send(input);
  });

  app.get<IdParams>('/task/:id/script', {
    schema: { operationId: 'getTaskScript', tags: ['tasks'], summary: 'The script the worker ran', params: ID_PARAMS, response: { 200: content('text/plain', { type: 'string' }, 'The script the worker reported running.'), 304: NOT_MODIFIED, ...errors(400, 401, 404, 503) } },
  }, async (request, reply) => {
    const id = issuedTaskId(request.params.id);
    const { owner } = await readerOf(ctx.auth, request, id);
    const script = await store.getScript(id, owner);
    if (script === undefined) throw new ErrandError('not_found', `task ${id} has no script (it does not exist, or its worker sent none)`, 'id');
    reply.headers(SCRIPT_TEXT_HEADERS);
    if (notModified(request, reply, `"${id}-script"`, caching.immutable)) return reply;
    return reply.type('text/plain; charset=utf-8').send(script);
  });

  app.get<IdParams>('/task/:id/console', {
    schema: { operationId: 'getTaskConsole', tags: ['tasks'], summary: 'What the script printed', params: ID_PARAMS, response: { 200: content('text/plain', { type: 'string' }, 'The last 32 KB the script printed.'), 304: NOT_MODIFIED, ...errors(400, 401, 404, 503) } },
  }, async (request, reply) => {
    const id = issuedTaskId(request.params.id);
    const { owner } = await readerOf(ctx.auth, request, id);
    const text = await store.getConsole(id, owner);
    if (text === undefined) throw new ErrandError('not_found', `task ${id} has no console output (it does not exist, has not finished, or printed nothing)`, 'id');
    reply.headers(SCRIPT_TEXT_HEADERS);
    if (notModified(request, reply, `"${id}-console"`, caching.immutable)) return reply;
    return reply.type('text/plain; charset=utf-8').send(text);
  });

  const results = async (request: FastifyRequest<IdParams>, reply: FastifyReply) => {
    const id = issuedTaskId(request.params.id);
    const { owner } = await readerOf(ctx.auth, request, id);
    const result = await store.getResult(id, owner);
    if (result === undefined) throw new ErrandError('not_found', `task ${id} has no results (it does not exist or has not finished)`, 'id');
    reply.headers(NOSNIFF);
    if (notModified(request, reply, `"${id}-results"`, caching.immutable)) return reply;
    return reply.type('application/json; charset=utf-8').send(result);
  };
  const resultsSchema = (operationId: string) => ({
    operationId, tags: ['tasks'], summary: 'The task\'s result',
    description: 'The JSON the script returned, or the index of a multi-file result, as the worker wrote it; for a failed task, Patavi\'s failure document. 404 until the task has ended.',
    params: ID_PARAMS,
    response: { 200: content('application/json', {}, 'The result.'), 304: NOT_MODIFIED, ...errors(400, 401, 404, 503) },
  });
  app.get<IdParams>('/task/:id/results', { schema: resultsSchema('getTaskResults') }, results);
  // Patavi's clients resolve file links against this one.
  app.get<IdParams>('/task/:id/results/', { schema: resultsSchema('getTaskResultsIndex') }, results);

  app.get<{ Params: { id: string; file: string } }>('/task/:id/results/:file', {
    schema: {
      operationId: 'getTaskResultFile', tags: ['tasks'], summary: 'One file of a multi-file result', params: FILE_PARAMS,
      response: { 200: content('*/*', { type: 'string', format: 'binary' }, 'The file, typed as the worker typed it; inline only for inert types.'), 304: NOT_MODIFIED, ...errors(400, 401, 404, 503) },
    },
  }, async (request, reply) => {
    const id = issuedTaskId(request.params.id);
    const { owner } = await readerOf(ctx.auth, request, id);
    const name = request.params.file;
    // A name no result file can have (NUL, "..", a control character) is not looked up: it is not there.
    const file = resultFileNameProblem(name) === undefined ? await store.getFile(id, name, owner) : undefined;
    if (!file) throw new ErrandError('not_found', `task ${id} has no result file ${JSON.stringify(name)}`, 'file');
    reply.headers(resultFileHeaders(name, file.contentType));
    if (notModified(request, reply, `"${id}-file-${Buffer.from(name).toString('base64url')}"`, caching.immutable)) return reply;
    return reply.send(file.content);
  });

  app.delete<IdParams>('/task/:id', {
    schema: {
      operationId: 'deleteTask', tags: ['tasks'], summary: 'Cancel if needed, then remove a task and its results', params: ID_PARAMS,
      response: { 200: { type: 'null', description: 'Removed: an empty body.' }, ...errors(400, 401, 403, 404, 503) },
    },
  }, async (request, reply) => {
    const id = issuedTaskId(request.params.id);
    await deleteTask(ctx, await ctx.auth.caller(request), id, request.log);
    return reply.code(200).send();
  });
}
