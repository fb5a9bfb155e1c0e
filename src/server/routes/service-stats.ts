/** `GET /services/:name/stats`: a service's capacity figures (service-stats.ts computes them). */
import type { FastifyInstance } from 'fastify';
import { checkDuration, ErrandError, figuresAccess } from '../../core/index.ts';
import { requireAllowed } from '../access.ts';
import type { RouteContext } from '../context.ts';
import { computeServiceStats, DEFAULT_MODEL_WINDOW, DEFAULT_STATS_SETTINGS, STATS_WINDOWS } from '../service-stats.ts';
import type { StatsWindow } from '../service-stats.ts';
import { errors, SERVICE_PARAMS } from '../api-schemas.ts';
import { rejectInvalid } from '../validation-errors.ts';

const nullable = (schema: Record<string, unknown>) => ({ anyOf: [{ type: 'null' }, schema] });
const seconds = { type: 'number', minimum: 0 };
const perWindow = {
  type: 'object', required: Object.keys(STATS_WINDOWS), additionalProperties: false,
  properties: Object.fromEntries(Object.keys(STATS_WINDOWS).map((w) => [w, seconds])),
  description: 'tasks per second over the last minute, 5 and 15 minutes',
};
const spread = {
  type: 'object', required: ['p50', 'p90', 'p99', 'mean'], additionalProperties: false,
  properties: { p50: seconds, p90: seconds, p99: seconds, mean: seconds },
};

export const serviceStatsSchema = {
  operationId: 'getServiceStats',
  summary: "A service's capacity figures",
  description: 'Queue depth, tasks running, slots, arrival and completion rates, wait and run times, and the slots an M/M/c queue needs for a target wait (docs/operations.md, "Capacity").',
  tags: ['services'],
  params: SERVICE_PARAMS,
  querystring: {
    type: 'object',
    properties: {
      targetWait: { type: 'string', description: 'ISO 8601 duration above 0 the slots needed keep the expected wait under (default --stats-target-wait, PT1M)', examples: ['PT1M'] },
      window: { type: 'string', enum: Object.keys(STATS_WINDOWS), default: DEFAULT_MODEL_WINDOW, description: 'the window whose rates feed the model' },
    },
  },
  response: {
    ...errors(400, 401, 403, 404, 503),
    200: {
      description: "The service's figures now and over the windows, and the model's estimates.",
      type: 'object',
      required: ['service', 'at', 'announced', 'online', 'queue', 'tasks', 'workers', 'arrivalsPerSecond', 'completionsPerSecond', 'failureRate', 'waitSeconds', 'runSeconds', 'sample', 'model', 'estimatedWaitSeconds', 'estimate', 'targetWait', 'targetWaitSeconds', 'slotsNeeded'],
      additionalProperties: false,
      properties: {
        service: { type: 'string' },
        at: { type: 'string', format: 'date-time' },
        announced: { type: 'boolean' },
        online: { type: 'boolean' },
        queue: nullable({
          type: 'object', required: ['messages', 'consumers'], additionalProperties: false,
          properties: { messages: { type: 'integer' }, consumers: { type: 'integer' } },
        }),
        tasks: {
          type: 'object', required: ['queued', 'running', 'oldestQueuedSeconds'], additionalProperties: false,
          properties: { queued: { type: 'integer' }, running: { type: 'integer' }, oldestQueuedSeconds: nullable(seconds) },
        },
        workers: {
          type: 'object', required: ['online', 'slots'], additionalProperties: false,
          properties: { online: { type: 'integer' }, slots: { type: 'integer' } },
        },
        arrivalsPerSecond: perWindow,
        completionsPerSecond: perWindow,
        failureRate: {
          type: 'object', required: ['1m', '5m', '15m'], additionalProperties: false,
          description: 'Share (0 to 1) of the tasks that ran and ended in each window that failed; null when none ended.',
          properties: { '1m': nullable({ type: 'number' }), '5m': nullable({ type: 'number' }), '15m': nullable({ type: 'number' }) },
        },
        waitSeconds: nullable(spread),
        runSeconds: nullable(spread),
        sample: {
          type: 'object', required: ['tasks', 'limit', 'maxAge', 'from', 'to'], additionalProperties: false,
          properties: {
            tasks: { type: 'integer' }, limit: { type: 'integer' }, maxAge: { type: 'string' },
            from: nullable({ type: 'string', format: 'date-time' }), to: nullable({ type: 'string', format: 'date-time' }),
          },
        },
        model: nullable({
          type: 'object', additionalProperties: false,
          required: ['window', 'arrivalRate', 'completionRate', 'meanRunSeconds', 'slots', 'offeredLoad', 'utilization', 'stable', 'waitProbability', 'expectedWaitSeconds'],
          properties: {
            window: { type: 'string', enum: Object.keys(STATS_WINDOWS) },
            arrivalRate: seconds, completionRate: seconds, meanRunSeconds: seconds, slots: { type: 'integer' },
            offeredLoad: { type: 'number' }, utilization: nullable({ type: 'number' }), stable: { type: 'boolean' },
            waitProbability: nullable({ type: 'number' }), expectedWaitSeconds: nullable(seconds),
          },
        }),
        estimatedWaitSeconds: nullable(seconds),
        estimate: { type: 'string', enum: ['free-slot', 'queue', 'overloaded', 'no-slots', 'unknown'] },
        targetWait: { type: 'string' },
        targetWaitSeconds: seconds,
        slotsNeeded: nullable({ type: 'integer' }),
        note: { type: 'string' },
      },
    },
  },
} as const;

export function registerServiceStatsRoute(app: FastifyInstance, ctx: RouteContext): void {
  const settings = ctx.settings.stats ?? DEFAULT_STATS_SETTINGS;
  app.get<{ Params: { name: string }; Querystring: { targetWait?: string; window?: StatsWindow } }>('/services/:name/stats', {
    schema: serviceStatsSchema,
    // A refusal of the schema is answered in Errand's shape, naming the field, after the caller is known.
    attachValidation: true,
  }, async (request) => {
    requireAllowed(figuresAccess(await ctx.auth.caller(request)));
    rejectInvalid(request);
    const { name } = request.params;
    let targetWait: { text: string; seconds: number } | undefined;
    if (request.query.targetWait !== undefined) {
      const text = request.query.targetWait;
      const checked = checkDuration(text);
      if (!checked.ok || checked.ms <= 0) {
        throw new ErrandError('invalid_field', `targetWait must be an ISO 8601 duration above zero, such as PT1M or PT30S, got ${JSON.stringify(text.slice(0, 64))}`, 'targetWait');
      }
      targetWait = { text, seconds: checked.ms / 1000 };
    }
    const stats = await computeServiceStats(ctx, name, { window: request.query.window ?? DEFAULT_MODEL_WINDOW, ...(targetWait ? { targetWait } : {}) }, settings);
    if (!stats) throw new ErrandError('not_found', `no worker runs a service named ${JSON.stringify(name)}`, 'name');
    return stats;
  });
}
