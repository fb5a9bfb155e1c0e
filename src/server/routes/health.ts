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

  app.get('/health', async (_request, reply) => {
    void reply.header('cache-control', 'no-store');
    return HEALTH_BODY;
  });

  app.get('/ready', async (_request, reply) => {
    const { status, body } = readyAnswer(await ctx.monitor.readiness.check());
    if (status === 503) void reply.header('retry-after', '5');
    return reply.code(status).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(body);
  });

  const { metrics } = ctx.monitor;
  if (!metrics) return;
  app.get('/metrics', async (request, reply) => {
    // With authentication off every caller is `local`, allowed everything.
    requireAllowed(operatorAccess(await ctx.auth.caller(request), 'read metrics'));
    const { contentType, body } = await metrics.text();
    return reply.header('cache-control', 'no-store').type(contentType).send(body);
  });
}
