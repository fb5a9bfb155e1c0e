/**
 * Builds the HTTP server (routes, WebSocket, CORS, errors) without listening: the CLI binds it,
 * tests inject into it or listen on a free port.
 */
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import websocket from '@fastify/websocket';
import type { Logger } from 'pino';
import { createEventPublisher } from '../broker/index.ts';
import type { Broker } from '../broker/index.ts';
import { RESULT_QUEUE } from '../core/index.ts';
import type { FlakeIdGenerator } from '../core/index.ts';
import type { Store } from '../store/index.ts';
import { createApiKeyCheck } from './auth.ts';
import type { ServerSettings } from './context.ts';
import { clientErrorHandler } from './client-errors.ts';
import { frameworkErrorHandler, installErrorHandling } from './errors.ts';
import { httpLimits, serverOptions } from './http-options.ts';
import { refuseIncompleteRequests } from './request-guards.ts';
import { guardUpgrades } from './upgrade.ts';
import { registerDashboardRoutes } from './routes/dashboard.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerServiceRoutes } from './routes/services.ts';
import { registerTaskRoutes } from './routes/tasks.ts';
import { registerUpdatesRoute } from './routes/updates.ts';
import { createServiceGate } from './service-gate.ts';
import { startServiceRegistry } from './registry.ts';
import { startEventHub } from './event-hub.ts';
import { eventSocketHandler } from './routes/events-ws.ts';
import { registerEventSourceRoutes } from './routes/events-sse.ts';
import { answerControlMessages } from './control.ts';

export interface AppDeps {
  store: Store;
  broker: Broker;
  ids: FlakeIdGenerator;
  logger: Logger;
  settings: ServerSettings;
}

/** Patavi's allowed headers, plus the ones its browser clients could never send. */
const ALLOWED_HEADERS = ['Origin', 'X-Requested-With', 'Content-Type', 'Accept', 'Access-Control-Allow-Credentials', 'X-API-Key', 'X-Client-Name', 'Last-Event-ID'];

export async function createApp(deps: AppDeps): Promise<FastifyInstance> {
  const { settings } = deps;
  const limits = httpLimits(settings);
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: settings.bodyLimit,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: settings.trustProxy ?? false,
    // Slow or oversized clients are cut, and every refusal, down to Node's parser, is an Errand error.
    ...serverOptions(limits),
    clientErrorHandler: clientErrorHandler(limits),
    frameworkErrors: frameworkErrorHandler(settings.bodyLimit, limits),
  });
  // Patavi's server declares the reply queue too: results must have a queue before any recorder runs.
  await deps.broker.declareQueue(RESULT_QUEUE);
  const events = await startEventHub({ store: deps.store, broker: deps.broker, logger: deps.logger });
  app.addHook('onClose', () => events.close());
  const publisher = createEventPublisher(deps.store, deps.broker, deps.logger, settings.publicUrl !== undefined ? { publicUrl: settings.publicUrl } : {});
  app.addHook('onClose', () => publisher.close());
  const control = await answerControlMessages({ store: deps.store, broker: deps.broker, logger: deps.logger });
  app.addHook('onClose', () => control.close());
  const registry = await startServiceRegistry({ broker: deps.broker, logger: deps.logger, ...(settings.retainOfflineServicesMs !== undefined ? { retainOfflineMs: settings.retainOfflineServicesMs } : {}) });
  app.addHook('onClose', () => registry.close());

  installErrorHandling(app, settings.bodyLimit, limits);
  refuseIncompleteRequests(app);
  // Task inputs are any JSON whatever the content type says; the route validates the raw bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  await app.register(cors, { origin: true, credentials: true, allowedHeaders: ALLOWED_HEADERS, optionsSuccessStatus: 200, methods: ['GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS'] });
  // ws echoes the first subprotocol a client offers, which MCDA's client needs.
  await app.register(websocket, { options: { maxPayload: 1024 * 1024 } });
  guardUpgrades(app, limits);

  const ctx = {
    store: deps.store,
    broker: deps.broker,
    ids: deps.ids,
    events,
    publisher,
    registry,
    gate: createServiceGate(deps.broker, registry, {
      allowUnknownServices: settings.allowUnknownServices,
      ...(settings.retainOfflineServicesMs !== undefined ? { retainMs: settings.retainOfflineServicesMs } : {}),
    }),
    settings,
    authorize: createApiKeyCheck(settings.apiKey),
  };
  await app.register(async (scoped) => {
    registerTaskRoutes(scoped, ctx);
    registerUpdatesRoute(scoped, ctx);
    const maxBufferedBytes = settings.maxStreamBufferBytes ?? 4 * 1024 * 1024;
    const eventSource = registerEventSourceRoutes(scoped, ctx, { maxBufferedBytes, keepAliveMs: 15_000 });
    scoped.route({ method: 'GET', url: '/events', config: { websocket: true }, handler: eventSource, wsHandler: eventSocketHandler(ctx, { maxBufferedBytes }) });
    registerDashboardRoutes(scoped, ctx);
    registerHealthRoutes(scoped, ctx);
    registerServiceRoutes(scoped, ctx);
  });
  return app;
}
