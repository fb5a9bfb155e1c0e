/**
 * GET /workers: every worker the registry hears, with its services, slots, load, versions, host
 * and times, for operators (`read:all` or `admin`). A worker running a service at another version
 * than the other workers running it is flagged.
 */
import type { FastifyInstance } from 'fastify';
import { operatorAccess } from '../../core/index.ts';
import type { WorkerView } from '../../core/index.ts';
import { requireAllowed } from '../access.ts';
import type { RouteContext } from '../context.ts';
import { errors } from '../api-schemas.ts';

const count = { type: 'integer', minimum: 0 } as const;
const nullableCount = { type: ['integer', 'null'], minimum: 0 } as const;

const workerService = {
  type: 'object',
  required: ['name', 'version', 'slots', 'running', 'done', 'versionDiffers'],
  properties: {
    name: { type: 'string' },
    version: { type: 'string' },
    slots: { ...count, description: 'tasks of the service the worker runs at once' },
    running: { ...count, description: 'tasks of the service it ran at its last announcement' },
    done: { ...nullableCount, description: 'tasks of the service it finished since it started; null from workers that do not count them' },
    versionDiffers: { type: 'boolean', description: 'the version is not the one most workers of the service run (on a tie none prevails, and every one differs)' },
    otherVersions: { type: 'object', additionalProperties: count, description: "when it differs: the other workers' versions, with how many run each" },
  },
} as const;

const worker = {
  type: 'object',
  required: ['id', 'host', 'pid', 'errandVersion', 'startedAt', 'lastSeen', 'announceIntervalMs', 'slots', 'running', 'done', 'flagged', 'services'],
  properties: {
    id: { type: 'string' },
    host: { type: 'string' },
    pid: { type: 'integer' },
    errandVersion: { type: ['string', 'null'], description: 'the Errand version the worker runs; null from workers that do not say' },
    startedAt: { type: 'string' },
    lastSeen: { type: 'string', format: 'date-time' },
    announceIntervalMs: count,
    slots: count,
    running: count,
    done: nullableCount,
    flagged: { type: 'boolean', description: "a service's version differs from the other workers'" },
    services: { type: 'array', items: workerService },
  },
} as const;

export const workersResponseSchema = {
  type: 'object',
  required: ['workers'],
  properties: { workers: { type: 'array', items: worker } },
} as const;

function shown(view: WorkerView) {
  const { intervalMs, lastSeen, ...rest } = view;
  return { ...rest, lastSeen: new Date(lastSeen).toISOString(), announceIntervalMs: intervalMs };
}

export function registerWorkerRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/workers', {
    schema: {
      operationId: 'listWorkers', tags: ['services'],
      summary: 'The workers and what they run (operators: read:all or admin)',
      description: 'Every worker heard from lately: its services and their versions (a version other workers of the service do not run is flagged), slots, tasks running and done, host and times.',
      response: { 200: { description: 'The workers.', ...workersResponseSchema }, ...errors(401, 403) },
    },
  }, async (request) => {
    requireAllowed(operatorAccess(await ctx.auth.caller(request), 'see the workers'));
    return { workers: ctx.registry.workers().map(shown) };
  });
}
