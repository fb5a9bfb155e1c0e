/**
 * The JSON Schemas the routes declare: parameters, checked by Fastify before a handler runs
 * (failures read as validation-errors.ts says), and answers, which describe the API in
 * /openapi.json. Answers are serialised with JSON.stringify whatever their schema says (see
 * openapi.ts), so a field missing here is still sent.
 */
import type { FastifyInstance } from 'fastify';
import { ErrorCodes, EventTypes, SERVICE_NAME_PATTERN, SERVICE_NAME_RULE, TASK_ID_PATTERN, TaskStatuses } from '../core/index.ts';
import { MAX_FILTER_SERVICES, MAX_FILTER_TASKS, MAX_LAST } from './stream-request.ts';
import type { ErrorAnnotation } from './validation-errors.ts';

type Schema = Record<string, unknown>;

const annotated = (schema: Schema, error: ErrorAnnotation): Schema => ({ ...schema, 'x-error': error });

// Parameters -------------------------------------------------------------------------------

export const TASK_ID: Schema = { type: 'string', pattern: TASK_ID_PATTERN, description: 'A task id: 16 lower-case hex digits.', examples: ['68816a6a1c400000'] };
const TASK_ID_PARAM = annotated(TASK_ID, { code: 'invalid_id', message: 'task id must be 16 lower-case hex digits' });

export function serviceName(description: string): Schema {
  return annotated({ type: 'string', minLength: 1, pattern: SERVICE_NAME_PATTERN, description, examples: ['regression'] }, { message: `a service name is ${SERVICE_NAME_RULE}` });
}

export const ID_PARAMS: Schema = { type: 'object', required: ['id'], properties: { id: TASK_ID_PARAM } };

export const FILE_PARAMS: Schema = {
  type: 'object', required: ['id', 'file'],
  properties: { id: TASK_ID_PARAM, file: { type: 'string', description: 'The file\'s name, as the result\'s index links it.' } },
};

export const SERVICE_PARAMS: Schema = { type: 'object', required: ['name'], properties: { name: serviceName('The service\'s name.') } };

/** ttl, deadline and cache: what a submission may ask besides its service. */
const SUBMIT_OPTIONS: Schema = {
  ttl: annotated({ type: 'string', description: 'How long the task and its results are kept once it ends: an ISO 8601 duration (PT5M, P1D). Without it, the service\'s ttl, then --default-ttl.', examples: ['PT1H'] }, { code: 'invalid_ttl' }),
  deadline: annotated({ type: 'string', description: 'The latest start: a duration from now (PT2H) or a time (2030-01-01T12:00:00Z). A task not started by then ends expired.', examples: ['PT2H'] }, { code: 'invalid_deadline' }),
  cache: annotated({ type: 'string', enum: ['true', 'false'], description: '`false` runs the task even when the result cache could answer.' }, { message: 'cache must be true or false' }),
  callback: { type: 'string', description: 'A URL Errand POSTs the task\'s description to when it ends, signed (Errand-Signature: HMAC-SHA256); its host must be in the server\'s --callback-hosts.', examples: ['https://app.example.org/errand-callback'] },
};

export const SUBMIT_QUERY: Schema = {
  type: 'object', required: ['service'],
  properties: { service: annotated(serviceName('The service to run.'), { missing: 'service is required: POST /task?service=<name>', message: `a service name is ${SERVICE_NAME_RULE}` }), ...SUBMIT_OPTIONS },
};

export const SERVICE_SUBMIT_QUERY: Schema = { type: 'object', properties: SUBMIT_OPTIONS };

export const SUBMIT_HEADERS: Schema = {
  type: 'object',
  properties: {
    'cache-control': { type: 'string', description: '`no-cache` or `no-store`: as `cache=false`.' },
    'x-client-name': { type: 'string', description: 'A label kept with the task (not a credential).' },
  },
};

/** The body of a submission: any JSON, checked against the service's input schema once the service is known. */
export const TASK_INPUT: Schema = { description: 'The task\'s input: any JSON (an empty body is `{}`), whatever the content type says. Checked against the service\'s inputSchema (GET /services/{name}).' };

export function statusQuery(maxIds: number): Schema {
  return {
    type: 'object', required: ['task'],
    properties: {
      task: annotated(
        { type: 'array', minItems: 1, maxItems: maxIds, items: annotated({ ...TASK_ID, minLength: 1 }, { code: 'invalid_id', message: 'task ids are 16 lower-case hex digits', missing: 'give one or more task ids: /status?task=<id>&task=<id>' }), description: `Task ids, repeated: task=<id>&task=<id> (at most ${maxIds}).` },
        { missing: 'give one or more task ids: /status?task=<id>&task=<id>', tooMany: 'give at most {limit} task ids per /status request, got {count}' },
      ),
    },
  };
}

/** An event id, or an empty value for none (as a missing one). */
function eventCount(description: string, minimum: number, maximum: number, field: string): Schema {
  return annotated(
    { anyOf: [{ type: 'integer', minimum, maximum }, { type: 'string', maxLength: 0 }], description },
    { message: `${field} must be a whole number from ${minimum} to ${maximum}` },
  );
}

const EVENT_START: Schema = {
  since: eventCount('Replay from after this event id (0: from the first kept).', 0, Number.MAX_SAFE_INTEGER, 'since'),
  last: eventCount('Replay the last N events first.', 1, MAX_LAST, 'last'),
};

const EVENT_TYPE_FILTER: Schema = {
  type: 'array', maxItems: EventTypes.length, items: annotated({ type: 'string', enum: [...EventTypes] }, { message: `event types are ${EventTypes.join(', ')}` }), description: 'Only these event types (repeat the parameter).',
};

export const EVENTS_QUERY: Schema = {
  type: 'object',
  properties: {
    task: { type: 'array', maxItems: MAX_FILTER_TASKS, items: annotated({ ...TASK_ID }, { code: 'invalid_id', message: 'task ids are 16 lower-case hex digits' }), description: 'Only these tasks\' events (repeat the parameter).' },
    service: { type: 'array', maxItems: MAX_FILTER_SERVICES, items: serviceName('A service name.'), description: 'Only these services\' events (repeat the parameter).' },
    type: EVENT_TYPE_FILTER,
    ...EVENT_START,
  },
};

export const TASK_EVENTS_QUERY: Schema = { type: 'object', properties: { type: EVENT_TYPE_FILTER, ...EVENT_START } };

export const EVENT_STREAM_HEADERS: Schema = {
  type: 'object',
  properties: {
    'last-event-id': annotated({ type: 'string', pattern: '^[0-9]*$', description: 'What an EventSource sends when it reconnects: resume after this event id (wins over since and last).' }, { field: 'Last-Event-ID', message: 'Last-Event-ID must be an event id' }),
  },
};

// Answers ----------------------------------------------------------------------------------

/** Shared schemas, named in the OpenAPI description's components by their $id. */
const SHARED: Schema[] = [
  {
    $id: 'Error', type: 'object', required: ['error'], description: 'Every error, from every route, has this shape.',
    properties: {
      error: {
        type: 'object', required: ['code', 'message'],
        properties: {
          code: { type: 'string', enum: Object.keys(ErrorCodes), description: 'What went wrong, for programs.' },
          message: { type: 'string', description: 'What went wrong, for people.' },
          field: { type: 'string', description: 'The parameter, header or input field at fault.' },
        },
      },
    },
  },
  { $id: 'Link', type: 'object', required: ['href'], properties: { href: { type: 'string', format: 'uri' } } },
  {
    $id: 'TaskDescription', type: 'object', required: ['id', 'service', 'status', '_links'],
    description: 'A task as the task routes describe it (Patavi\'s keys first; Errand\'s after).',
    properties: {
      id: TASK_ID,
      service: { type: 'string' },
      status: { type: 'string', enum: [...TaskStatuses, 'no-workers'], description: '`no-workers`: queued, and no worker consumes the service now (a submission\'s answer only).' },
      _links: {
        type: 'object', required: ['self', 'updates', 'task'],
        properties: Object.fromEntries(['self', 'updates', 'task', 'events', 'cancel', 'results', 'script', 'console'].map((name) => [name, { $ref: 'Link#' }])),
      },
      createdAt: { type: 'string', format: 'date-time' },
      startedAt: { type: 'string', format: 'date-time' },
      completedAt: { type: 'string', format: 'date-time' },
      expiresAt: { type: 'string', format: 'date-time' },
      deadline: { type: 'string', format: 'date-time' },
      attempts: { type: 'integer' },
      progress: {
        type: 'object', required: ['value', 'at'], description: 'A running task\'s latest progress.',
        properties: { value: { description: 'What the script reported.' }, percent: { type: 'number' }, etaSeconds: { type: 'number' }, at: { type: 'string', format: 'date-time' } },
      },
      queue: { type: 'object', required: ['ahead'], description: 'A queued task\'s place.', properties: { ahead: { type: 'integer' }, estimatedStartSeconds: { type: 'number' } } },
      error: { type: 'object', required: ['code', 'message'], description: 'Why a task failed.', properties: { code: { type: 'string' }, message: { type: 'string' }, detail: {} } },
      cache: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['hit', 'joined', 'miss', 'bypass'] } } },
      callbacks: {
        type: 'array', description: 'The task\'s completion callbacks, each with every delivery attempt (not shown through a task link).',
        items: {
          type: 'object', required: ['url', 'state', 'attempts'],
          properties: {
            url: { type: 'string' }, state: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
            attempts: { type: 'array', items: { type: 'object', properties: { attempt: { type: 'integer' }, at: { type: 'string', format: 'date-time' }, durationMs: { type: ['number', 'null'] }, statusCode: { type: ['integer', 'null'] }, error: { type: ['string', 'null'] }, retryAt: { type: ['string', 'null'], format: 'date-time' } } } },
          },
        },
      },
    },
  },
  {
    $id: 'ServiceSummary', type: 'object', required: ['name', 'version', 'online'],
    properties: {
      name: { type: 'string' }, version: { type: 'string' }, description: { type: 'string' }, runtime: { type: 'string' },
      online: { type: 'boolean' }, workers: { type: 'integer' }, capacity: { type: 'integer' }, busy: { type: 'integer' },
      _links: { type: 'object', properties: { self: { $ref: 'Link#' }, submit: { $ref: 'Link#' } } },
    },
  },
  {
    $id: 'Service', type: 'object', required: ['name', 'online'],
    description: 'A service: its summary, input schema, docs, workers and queue. A service whose worker does not announce (Patavi\'s) has `announced: false` and only name, online and queue.',
    properties: {
      name: { type: 'string' }, version: { type: 'string' }, description: { type: 'string' }, runtime: { type: 'string' },
      online: { type: 'boolean' }, announced: { type: 'boolean' }, workers: {}, capacity: { type: 'integer' }, busy: { type: 'integer' },
      versions: { type: 'array', items: { type: 'string' } },
      inputSchema: { type: ['object', 'null'], description: 'The JSON Schema inputs must satisfy.' },
      example: { description: 'An input that works.' },
      docs: { type: ['string', 'null'], description: 'Markdown.' },
      timeout: { type: ['string', 'null'] }, ttl: { type: ['string', 'null'] }, cache: {},
      lastSeen: { type: 'string', format: 'date-time' },
      queue: { type: ['object', 'null'], properties: { messages: { type: 'integer' }, consumers: { type: 'integer' } } },
      _links: { type: 'object', properties: { self: { $ref: 'Link#' }, submit: { $ref: 'Link#' } } },
    },
  },
];

export function addSharedSchemas(app: FastifyInstance): void {
  for (const schema of SHARED) app.addSchema(schema);
}

const ERROR_WHEN: Record<number, string> = {
  400: 'A bad request: the field named is at fault.',
  401: 'No credential where one is needed, or one not accepted.',
  403: 'Signed in, without the right to do this.',
  404: 'No such task (or one the caller may not read), service, file or route.',
  409: 'The task has already ended.',
  413: 'The body is over --body-limit.',
  426: 'A WebSocket endpoint asked without an upgrade.',
  429: 'Over the client\'s stream cap.',
  503: 'PostgreSQL or RabbitMQ cannot be reached now, or the server is at its stream cap; Retry-After says when to try again.',
};

/** Error answers, in Errand's shape, for these statuses. */
export function errors(...statuses: number[]): Record<number, Schema> {
  return Object.fromEntries(statuses.map((status) => [status, { description: ERROR_WHEN[status] ?? 'An error.', $ref: 'Error#' }]));
}

export const TASK_ANSWER: Schema = { description: 'The task.', $ref: 'TaskDescription#' };

export const SUBMITTED: Schema = {
  description: 'Stored and queued (or answered by the result cache): the task.',
  headers: { location: { type: 'string', description: 'The task\'s URL.' } },
  $ref: 'TaskDescription#',
};

export const NOT_MODIFIED: Schema = { type: 'null', description: 'Not modified: the client\'s copy (If-None-Match) is current.' };

export function content(mediaType: string, schema: Schema, description: string): Schema {
  return { description, content: { [mediaType]: { schema } } };
}

export const SWITCHING_PROTOCOLS: Schema = { type: 'null', description: 'The WebSocket is open.' };
