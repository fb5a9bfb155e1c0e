/**
 * `GET /tasks` (issue 14): the tasks a caller may read, newest first, filtered, a page at a time.
 * The query's shape is the route's schema (checked by Fastify, answered as Errand's errors by
 * schema-errors.ts); who may list what is core/access.ts's listAccess; the order and the cursor
 * are core/task-list.ts's.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DEFAULT_MAX_TASK_LIST_LIMIT, DEFAULT_TASK_LIST_LIMIT, decodeTaskCursor, encodeTaskCursor, ErrandError, filterTime, listAccess, TaskStatuses } from '../../core/index.ts';
import type { Caller, ListAccess, TaskListQuery, TaskStatus } from '../../core/index.ts';
import { refusal } from '../access.ts';
import { taskCacheControl } from '../cache-control.ts';
import type { RouteContext } from '../context.ts';
import { describeListed } from '../describe.ts';
import { errors } from '../api-schemas.ts';

interface ListParams {
  service?: string;
  status?: TaskStatus[];
  owner?: string;
  createdSince?: string;
  createdUntil?: string;
  completedSince?: string;
  completedUntil?: string;
  errorCode?: string;
  cursor?: string;
  limit: number;
}

const TIME_FILTERS = ['createdSince', 'createdUntil', 'completedSince', 'completedUntil'] as const;
const PARAMETERS = ['service', 'status', 'owner', ...TIME_FILTERS, 'errorCode', 'cursor', 'limit'] as const;

function querySchema(maxLimit: number) {
  const time = (what: string) => ({ type: 'string', format: 'date-time', description: `${what} (RFC 3339 date-time with a time zone)` });
  return {
    type: 'object',
    properties: {
      service: { type: 'string', minLength: 1, maxLength: 128, description: 'only tasks of this service' },
      status: { type: 'array', items: { type: 'string', enum: [...TaskStatuses] }, maxItems: TaskStatuses.length, description: 'only tasks in one of these states (repeat the parameter for several)' },
      owner: { type: 'string', minLength: 1, maxLength: 1024, description: 'only tasks of this principal (key:NAME, jwt:ISS|SUB, cert:SUBJECT, local); needs read:all unless it is the caller' },
      createdSince: time('created at or after'),
      createdUntil: time('created before'),
      completedSince: time('ended at or after'),
      completedUntil: time('ended before'),
      errorCode: { type: 'string', minLength: 1, maxLength: 128, description: "only tasks that ended with this error code (failed, canceled, expired: script_error, timeout, worker_lost, ...)" },
      cursor: { type: 'string', minLength: 1, maxLength: 64, description: 'where the page starts: the cursor of the previous page\'s next link, as it is' },
      limit: { type: 'integer', minimum: 1, maximum: maxLimit, default: Math.min(DEFAULT_TASK_LIST_LIMIT, maxLimit), description: `tasks per page (at most ${maxLimit}, --max-tasks-per-page)` },
    },
    // A misspelt filter is refused rather than ignored: ignoring it would list tasks it meant to leave out.
    propertyNames: { enum: [...PARAMETERS] },
  } as const;
}

const RESPONSE_SCHEMA = {
  200: {
    description: 'A page of tasks, newest first; `_links.next` is the next page, when there is one.',
    type: 'object',
    required: ['tasks', '_links'],
    properties: {
      tasks: { type: 'array', items: { $ref: 'TaskDescription#' } },
      _links: { type: 'object', required: ['self'], properties: { self: { $ref: 'Link#' }, next: { $ref: 'Link#' } } },
    },
  },
} as const;

/** The list's access, or the refusal thrown: 401 without a credential, 403 without `read`. */
async function lister(ctx: RouteContext, request: FastifyRequest): Promise<{ caller: Caller; access: Extract<ListAccess, { kind: 'all' | 'owner' }> }> {
  const caller = await ctx.auth.caller(request);
  const access = listAccess(caller);
  if (access.kind !== 'all' && access.kind !== 'owner') throw refusal(access);
  return { caller, access };
}

/** The query string of a page: the filters as given (never the caller's implied owner), then the cursor. */
function pageQuery(params: ListParams, cursor: string | undefined): string {
  const query = new URLSearchParams();
  for (const name of PARAMETERS) {
    if (name === 'cursor' || name === 'limit') continue;
    const value = params[name];
    for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) query.append(name, v);
  }
  query.set('limit', String(params.limit));
  if (cursor !== undefined) query.set('cursor', cursor);
  return query.toString();
}

export function registerTaskListRoute(app: FastifyInstance, ctx: RouteContext): void {
  const maxLimit = ctx.settings.maxTasksPerPage ?? DEFAULT_MAX_TASK_LIST_LIMIT;
  const caching = taskCacheControl(ctx.settings);

  app.get<{ Querystring: ListParams }>('/tasks', {
    schema: {
      operationId: 'listTasks', tags: ['tasks'], summary: 'Tasks, newest first, filtered and paged',
      description: 'A page of task descriptions (without inputs or results) ordered by creation, newest first; `_links.next` follows on. A `read` caller sees its own tasks; `read:all` or `admin` sees everyone\'s.',
      querystring: querySchema(maxLimit), response: { ...RESPONSE_SCHEMA, ...errors(400, 401, 403, 503) },
    },
    // Who asks is settled before the query is looked at: no credential is a 401 whatever the query says.
    preValidation: async (request) => { await lister(ctx, request); },
  }, async (request, reply) => {
    const { caller, access } = await lister(ctx, request);
    const params = request.query;
    let owner = params.owner;
    if (access.kind === 'owner') {
      // A principal's own name is no secret to it; anyone else's list is for read:all.
      if (owner !== undefined && owner !== access.owner) {
        throw new ErrandError('forbidden', `${access.owner} may list only its own tasks: owner=${owner} needs read:all`, 'owner');
      }
      owner = access.owner;
    }
    const query: TaskListQuery = {
      limit: params.limit,
      ...(params.service !== undefined ? { service: params.service } : {}),
      ...(params.status !== undefined ? { statuses: params.status } : {}),
      ...(owner !== undefined ? { owner } : {}),
      ...(params.errorCode !== undefined ? { errorCode: params.errorCode } : {}),
      ...(params.cursor !== undefined ? { after: decodeTaskCursor(params.cursor) } : {}),
    };
    for (const name of TIME_FILTERS) {
      const text = params[name];
      if (text !== undefined) query[name] = filterTime(text, name);
    }
    const page = await ctx.store.listTasks(query);
    if (caching.changing !== undefined) void reply.header('Cache-Control', caching.changing);
    const base = `${ctx.links().http}/tasks`;
    return {
      tasks: page.tasks.map((task) => describeListed(ctx, caller, task, access.kind === 'all')),
      _links: {
        self: { href: `${base}?${pageQuery(params, params.cursor)}` },
        ...(page.next ? { next: { href: `${base}?${pageQuery(params, encodeTaskCursor(page.next))}` } } : {}),
      },
    };
  });
}
