/**
 * JSON Schemas of what task routes answer, for Fastify's route declarations (serialisation, and
 * the OpenAPI description built from them). Unknown keys pass through (`additionalProperties`),
 * so a field added to the description is never dropped by a schema that has not caught up.
 */
import { TaskStatuses } from '../core/index.ts';

const href = { type: 'object', properties: { href: { type: 'string', format: 'uri' } }, required: ['href'] } as const;
const time = { type: 'string', format: 'date-time' } as const;

/** The task description (docs/api.md, "The task description"), keys in its order. */
export const TASK_DESCRIPTION_SCHEMA = {
  type: 'object',
  required: ['id', 'service', 'status', '_links'],
  properties: {
    id: { type: 'string', pattern: '^[0-9a-f]{16}$', description: '64-bit flake id as 16 lower-case hex digits' },
    service: { type: 'string' },
    status: { type: 'string', enum: [...TaskStatuses, 'no-workers'] },
    _links: {
      type: 'object',
      required: ['self', 'updates', 'task'],
      properties: { self: href, updates: href, task: href, events: href, cancel: href, results: href, script: href, console: href },
      additionalProperties: href,
    },
    createdAt: time,
    startedAt: time,
    completedAt: time,
    expiresAt: time,
    deadline: time,
    attempts: { type: 'integer' },
    progress: {
      type: 'object',
      properties: { value: {}, percent: { type: 'number' }, etaSeconds: { type: 'number' }, at: time },
      additionalProperties: true,
    },
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, detail: {} },
      additionalProperties: true,
    },
    queue: { type: 'object', properties: { ahead: { type: 'integer' }, estimatedStartSeconds: { type: 'number' } }, additionalProperties: true },
  },
  additionalProperties: true,
} as const;

/** Every error answer: `{ "error": { "code", "message", "field"? } }` (src/server/errors.ts). */
export const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, field: { type: 'string' } },
    },
  },
} as const;

export { href as HREF_SCHEMA };
