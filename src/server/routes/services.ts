/** The service registry over HTTP: which services run, their input schema, docs, workers and queue. */
import type { FastifyInstance } from 'fastify';
import type { FastifyRequest } from 'fastify';
import { ErrandError, signedInAccess } from '../../core/index.ts';
import { errors, SERVICE_PARAMS } from '../api-schemas.ts';
import { rejectInvalid } from '../validation-errors.ts';
import { requireAllowed } from '../access.ts';
import type { RouteContext } from '../context.ts';
import type { RegisteredService } from '../registry.ts';

function summary(service: RegisteredService, base: string) {
  const { definition } = service;
  return {
    name: definition.name,
    version: definition.version,
    description: definition.description,
    runtime: definition.runtime,
    online: service.online,
    workers: service.workers.length,
    capacity: service.workers.reduce((sum, w) => sum + w.concurrency, 0),
    busy: service.workers.reduce((sum, w) => sum + w.busy, 0),
    _links: { self: { href: `${base}/services/${encodeURIComponent(definition.name)}` }, submit: { href: `${base}/task?service=${encodeURIComponent(definition.name)}` } },
  };
}

export function registerServiceRoutes(app: FastifyInstance, ctx: RouteContext): void {
  /**
   * With authentication on, the registry is for signed-in callers (a task link does not show it),
   * and which workers run where (ids, hosts) only for operators: read:all or admin.
   */
  async function viewer(request: FastifyRequest): Promise<{ operator: boolean }> {
    const caller = await ctx.auth.caller(request);
    // With auth off every caller is `local`: always signed in.
    requireAllowed(signedInAccess(caller));
    const scopes = caller.principal!.scopes;
    return { operator: scopes.has('admin') || scopes.has('read:all') };
  }

  app.get('/services', {
    schema: {
      operationId: 'listServices', tags: ['services'], summary: 'The services workers run',
      response: {
        200: { description: 'Every service announced, and those whose workers left within the hour (online: false).', type: 'object', required: ['services'], properties: { services: { type: 'array', items: { $ref: 'ServiceSummary#' } } } },
        ...errors(401),
      },
    },
  }, async (request) => {
    await viewer(request);
    const base = ctx.links().http;
    return { services: ctx.registry.services().map((service) => summary(service, base)) };
  });

  app.get<{ Params: { name: string } }>('/services/:name', {
    attachValidation: true,
    schema: {
      operationId: 'getService', tags: ['services'], summary: 'A service: its input schema, docs, workers and queue',
      params: SERVICE_PARAMS,
      response: { 200: { description: 'The service.', $ref: 'Service#' }, ...errors(400, 401, 404, 503) },
    },
  }, async (request) => {
    const { operator } = await viewer(request);
    rejectInvalid(request);
    const { name } = request.params;
    const base = ctx.links().http;
    const service = ctx.registry.service(name);
    const stats = await ctx.broker.queueStats(name).catch((err: Error) => {
      throw new ErrandError('broker_unavailable', `cannot read the ${name} queue: ${err.message}`, undefined, { cause: err });
    });
    const queue = stats ? { messages: stats.messages, consumers: stats.consumers } : null;
    if (!service) {
      // A worker that does not announce (Patavi's) still serves the queue: say what is known.
      if (stats && stats.consumers > 0) {
        return { name, announced: false, online: true, queue, _links: { self: { href: `${base}/services/${encodeURIComponent(name)}` }, submit: { href: `${base}/task?service=${encodeURIComponent(name)}` } } };
      }
      throw new ErrandError('not_found', `no worker runs a service named ${JSON.stringify(name)}`, 'name');
    }
    const { definition } = service;
    return {
      ...summary(service, base),
      announced: true,
      versions: service.versions,
      inputSchema: definition.inputSchema,
      ...(definition.example ? { example: definition.example.value } : {}),
      docs: definition.docs,
      timeout: definition.timeout,
      ttl: definition.ttl,
      cache: definition.cache,
      lastSeen: new Date(service.lastSeen).toISOString(),
      workers: service.workers.map((w) => ({ ...(operator ? { id: w.id, host: w.host } : {}), version: w.version, concurrency: w.concurrency, busy: w.busy, lastSeen: new Date(w.lastSeen).toISOString() })),
      queue,
    };
  });
}
