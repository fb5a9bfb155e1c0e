/**
 * Liveness, readiness and metrics of this server process (issue 14). `/health` and `/ready` answer
 * anyone (load balancers and orchestrators send no credential; a credential sent is not looked
 * at); `/metrics` is for operators once callers must sign in. `/healthz`, the older liveness
 * route, stays as it was.
 */
import type { FastifyInstance } from 'fastify';
import { operatorAccess } from '../../core/index.ts';
import { HEALTH_BODY, readyAnswer } from '../../monitor/index.ts';
import { requireAllowed } from '../access.ts';
import type { RouteContext } from '../context.ts';
import { errors } from '../api-schemas.ts';

export function registerHealthRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/healthz', {
    schema: {
      operationId: 'getHealthz', tags: ['server'], summary: 'This server process is alive',
      description: 'Answers anyone; checks nothing beyond the process itself.',
      response: {
        200: {
          description: 'Alive.', type: 'object', required: ['status', 'nodeId', 'eventPosition', 'eventListeners'],
          properties: {
            status: { type: 'string', enum: ['ok'] },
            nodeId: { type: 'integer', description: 'The node id this process issues task ids with.' },
            eventPosition: { type: 'integer', description: 'The last event id this process\'s event hub has seen.' },
            eventListeners: { type: 'integer', description: 'Streams and sockets listening to the hub.' },
          },
        },
      },
    },
  }, async () => ({ status: 'ok', nodeId: ctx.ids.nodeId, eventPosition: ctx.events.position, eventListeners: ctx.events.listeners }));

  app.get('/health', {
    schema: {
      operationId: 'getHealth', tags: ['server'], summary: 'This process is alive',
      description: 'Answers anyone while the process runs its event loop; checks nothing else (see /ready).',
      response: { 200: { description: 'Alive.', type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } } },
    },
  }, async (_request, reply) => {
    void reply.header('cache-control', 'no-store');
    return HEALTH_BODY;
  });

  app.get('/ready', {
    schema: {
      operationId: 'getReady', tags: ['server'], summary: 'Whether this server should take traffic',
      description: 'PostgreSQL reachable, its schema current, RabbitMQ connected, consumers set up, and not stopping. 503 names the first check that failed (`field`) and lists every check.',
      response: {
        200: { description: 'Ready: every check passed.', type: 'object', additionalProperties: true },
        503: { description: 'Not ready (`not_ready`, field naming the failed check) or stopping; Retry-After says when to ask again.', $ref: 'Error#' },
      },
    },
  }, async (_request, reply) => {
    const { status, body } = readyAnswer(await ctx.monitor.readiness.check());
    if (status === 503) void reply.header('retry-after', '5');
    return reply.code(status as 200 | 503).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(body);
  });

  const { metrics } = ctx.monitor;
  if (!metrics) return;
  app.get('/metrics', {
    schema: {
      operationId: 'getMetrics', tags: ['server'], summary: 'Prometheus metrics of this server',
      description: 'The Prometheus text format (docs/operations.md lists every family). `read:all` or `admin` once callers must sign in.',
      response: {
        200: { description: 'The metrics, as text/plain; version=0.0.4.', content: { 'text/plain': { schema: { type: 'string' } } } },
        ...errors(401, 403),
      },
    },
  }, async (request, reply) => {
    // With authentication off every caller is `local`, allowed everything.
    requireAllowed(operatorAccess(await ctx.auth.caller(request), 'read metrics'));
    const { contentType, body } = await metrics.text();
    return reply.header('cache-control', 'no-store').type(contentType).send(body);
  });
}
