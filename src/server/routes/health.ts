/** Liveness and identity of this server process. */
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.ts';

export function registerHealthRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/healthz', async () => ({ status: 'ok', nodeId: ctx.ids.nodeId, eventPosition: ctx.events.position, eventListeners: ctx.events.listeners }));
}
