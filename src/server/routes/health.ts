/** Liveness and identity of this server process. */
import type { FastifyInstance } from 'fastify';
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
}
