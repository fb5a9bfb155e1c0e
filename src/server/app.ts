/**
 * Builds the HTTP server (routes, WebSocket, CORS, errors) without listening: the CLI binds it,
 * tests inject into it or listen on a free port.
 */
import type { IncomingMessage } from 'node:http';
import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import type { Logger } from 'pino';
import { createEventPublisher } from '../broker/index.ts';
import type { EventPublisher } from '../broker/index.ts';
import type { Broker } from '../broker/index.ts';
import { RESULT_QUEUE, splitAccess } from '../core/index.ts';
import type { FlakeIdGenerator } from '../core/index.ts';
import type { Store } from '../store/index.ts';
import { createAuthenticator, echoedSubprotocol, rememberAccessToken } from './auth/authenticate.ts';
import type { AuthSettings } from './auth/authenticate.ts';
import { createTaskLinker, narrowForCaller } from './access.ts';
import type { RouteContext, ServerSettings } from './context.ts';
import { linksAt, listeningUrl } from './links.ts';
import { createStreamCounter, DEFAULT_STREAM_LIMITS, webSocketSlot } from './stream-limits.ts';
import type { StreamLimits } from './stream-limits.ts';
import { frameworkErrorHandler, installErrorHandling, refuseWhileClosing } from './errors.ts';
import { answerRequestsNodeKeeps, clientErrorHandler } from './client-errors.ts';
import { httpLimits, serverOptions } from './http-options.ts';
import { refuseIncompleteRequests } from './request-guards.ts';
import { guardUpgrades } from './upgrade.ts';
import { installCors } from './cors.ts';
import { createOriginPolicy } from './origin-policy.ts';
import { registerDashboardRoutes } from './routes/dashboard.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerServiceRoutes } from './routes/services.ts';
import { registerServiceStatsRoute } from './routes/service-stats.ts';
import { registerTaskRoutes } from './routes/tasks.ts';
import { registerTaskListRoute } from './routes/task-list.ts';
import { registerUpdatesRoute } from './routes/updates.ts';
import { registerWorkerRoutes } from './routes/workers.ts';
import { createServiceGate } from './service-gate.ts';
import { startServiceRegistry } from './registry.ts';
import type { ServiceRegistry } from './registry.ts';
import { computeServiceStats, DEFAULT_STATS_SETTINGS } from './service-stats.ts';
import { startEventHub } from './event-hub.ts';
import { eventSocketHandler } from './routes/events-ws.ts';
import { registerEventSourceRoutes } from './routes/events-sse.ts';
import { answerControlMessages } from './control.ts';
import { cacheCounts, createReadiness, eventLag, instrumentHttp, SERVICE_METRICS_DEFAULTS, serviceMetrics } from '../monitor/index.ts';
import type { Metrics, Readiness } from '../monitor/index.ts';
import { installApiDescription, registerApiDescriptionRoutes } from './openapi.ts';
import { AJV_OPTIONS, validationError } from './validation-errors.ts';
import { EVENTS_ROUTE_SCHEMA } from './routes/events-sse.ts';

export interface AppDeps {
  store: Store;
  broker: Broker;
  ids: FlakeIdGenerator;
  logger: Logger;
  settings: ServerSettings;
  /** The process's event pipeline, when it is shared with a recorder in the same process. */
  publisher?: EventPublisher;
  /**
   * The process's readiness and metrics (issue 14), which the CLI makes for everything the process
   * runs. Without a readiness the app makes its own, checking its store and broker, ready once
   * built; without metrics it serves no /metrics and counts nothing.
   */
  monitor?: { readiness?: Readiness; metrics?: Metrics };
}

/**
 * Fastify's trustProxy, from --trust-proxy. A hop count becomes a function: Fastify reads a bare
 * number as "trust nothing" (a hop count cannot tell a proxy from a direct client), while the
 * operator who gives one means "the last N hops are my proxies".
 */
function trustProxyOption(setting: ServerSettings['trustProxy']): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof setting === 'number') return (_address, hop) => hop < setting;
  return setting ?? false;
}

/** Patavi's single key as the default of --api-key-name and --api-key-scope. */
export const PATAVI_KEY_NAME = 'patavi';
export const PATAVI_KEY_SCOPES = ['submit', 'read', 'cancel'];

/** What the settings ask of authentication: `auth` as given, else Patavi's key alone, else open. */
export function authSettingsOf(settings: ServerSettings): AuthSettings {
  if (settings.auth) return settings.auth;
  if (settings.apiKey !== undefined) return { required: true, single: { key: settings.apiKey, name: PATAVI_KEY_NAME, scopes: PATAVI_KEY_SCOPES } };
  return { required: false };
}

/**
 * Fastify's rewriteUrl: a capability link's `/access/<token>` prefix is taken off before routing
 * (every route answers under it) and kept for the authenticator. Runs for WebSocket upgrades too.
 */
function takeAccessToken(raw: IncomingMessage): string {
  const url = raw.url ?? '/';
  const split = splitAccess(url);
  if (!split) return url;
  rememberAccessToken(raw, split.token);
  return split.rest;
}

/**
 * Every service's capacity figures and the registry's workers on /metrics, read as GET
 * /services/:name/stats reads them. A service whose figures cannot be read is logged once when it
 * starts failing, and again when it recovers.
 */
function exportServiceFigures(metrics: Metrics, deps: AppDeps, registry: ServiceRegistry, settings: ServerSettings): void {
  const log = deps.logger.child({ part: 'service-metrics' });
  const failing = new Set<string>();
  const stats = settings.stats ?? DEFAULT_STATS_SETTINGS;
  serviceMetrics(metrics, {
    names: () => registry.services().map((s) => s.definition.name),
    figures: async (name) => {
      const figures = await computeServiceStats({ store: deps.store, broker: deps.broker, registry }, name, {}, stats);
      if (failing.delete(name)) log.info({ service: name }, 'service figures read again');
      return figures;
    },
    workers: () => registry.workers(),
  }, {
    ...SERVICE_METRICS_DEFAULTS,
    ...settings.metricsStats,
    onError: (service, err) => {
      if (failing.has(service)) return;
      failing.add(service);
      log.warn({ service, err: (err as Error).message }, 'service figures could not be read; left out of /metrics until they can');
    },
  });
}

export async function createApp(deps: AppDeps): Promise<FastifyInstance> {
  const auth = authSettingsOf(deps.settings);
  // Answers that depend on who asks must not be shared by caches (issue 12).
  const settings: ServerSettings = auth.required ? { privateResponses: true, ...deps.settings } : deps.settings;
  const limits = httpLimits(settings);
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: settings.bodyLimit,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: trustProxyOption(settings.trustProxy),
    rewriteUrl: takeAccessToken,
    // Slow or oversized clients are cut, and every refusal, down to Node's parser, is an Errand error.
    ...serverOptions(limits, settings.tls),
    clientErrorHandler: clientErrorHandler(limits),
    frameworkErrors: frameworkErrorHandler(settings.bodyLimit, limits),
    // Route schemas check parameters; their failures leave as Errand's errors (validation-errors.ts).
    ajv: AJV_OPTIONS,
    schemaErrorFormatter: validationError,
    // Requests that arrive while it closes are answered in Errand's shape (refuseWhileClosing).
    return503OnClosing: false,
  });
  refuseWhileClosing(app, limits);
  // Before any route: it gathers every route's schema into /openapi.json.
  await installApiDescription(app, { ...(settings.publicUrl !== undefined ? { publicUrl: settings.publicUrl } : {}) });
  // Patavi's server declares the reply queue too: results must have a queue before any recorder runs.
  await deps.broker.declareQueue(RESULT_QUEUE);
  const metrics = deps.monitor?.metrics;
  // Read when a link is built: the listening address is known only once the server listens.
  const publicBase = (): string => settings.publicUrl ?? listeningUrl(app.server.address(), settings.tls ? 'https' : 'http');
  // The process's one pipeline when the caller shares it (serve with its recorder); else the app's own.
  const publisher = deps.publisher ?? createEventPublisher(deps.broker, deps.logger, { publicUrl: publicBase });
  if (!deps.publisher) app.addHook('onClose', () => publisher.close());
  // The hub hears what this process commits straight from the pipeline (event-hub.ts `local`).
  const events = await startEventHub({ store: deps.store, broker: deps.broker, logger: deps.logger, local: publisher, ...(metrics ? { onDelivered: eventLag(metrics) } : {}) });
  app.addHook('onClose', () => events.close());
  const control = await answerControlMessages({ store: deps.store, broker: deps.broker, logger: deps.logger });
  app.addHook('onClose', () => control.close());
  const registry = await startServiceRegistry({ broker: deps.broker, logger: deps.logger, ...(settings.retainOfflineServicesMs !== undefined ? { retainOfflineMs: settings.retainOfflineServicesMs } : {}) });
  app.addHook('onClose', () => registry.close());

  installErrorHandling(app, settings.bodyLimit, limits);
  refuseIncompleteRequests(app);
  answerRequestsNodeKeeps(app.server);
  // Task inputs are any JSON whatever the content type says; the route validates the raw bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  // Browsers: CORS for listed origins only; writes and WebSockets from other pages refused (issue 12).
  const origins = createOriginPolicy({
    list: settings.corsOrigins ?? { origins: [], any: false },
    ...(settings.publicUrl !== undefined ? { publicUrl: settings.publicUrl } : {}),
    ownAddresses: settings.corsOwnAddresses === true,
  });
  app.addHook('onListen', (done) => {
    const address = app.server.address();
    origins.listening(publicBase(), typeof address === 'object' && address !== null ? address.port : 0);
    done();
  });
  installCors(app, origins);
  // ws echoes the first subprotocol a client offers, which MCDA's client needs; never a credential
  // (errand.bearer.<key>, how a browser's WebSocket signs in): that one is not echoed back.
  await app.register(websocket, { options: { maxPayload: 1024 * 1024, handleProtocols: echoedSubprotocol } });
  guardUpgrades(app, limits);

  const streamLimits: StreamLimits = {
    webSocketsPerClient: settings.maxWebSocketsPerClient ?? DEFAULT_STREAM_LIMITS.webSocketsPerClient,
    eventStreamsPerClient: settings.maxEventStreamsPerClient ?? DEFAULT_STREAM_LIMITS.eventStreamsPerClient,
    subscriptionsPerSocket: settings.maxSubscriptionsPerSocket ?? DEFAULT_STREAM_LIMITS.subscriptionsPerSocket,
    total: settings.maxStreams ?? DEFAULT_STREAM_LIMITS.total,
  };
  const readiness = deps.monitor?.readiness ?? createReadiness({ timeoutMs: 2000, role: 'server' });
  if (!deps.monitor?.readiness) readiness.use({ store: deps.store, broker: deps.broker });
  const ctx: RouteContext = {
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
    auth: await createAuthenticator(auth, {
      store: deps.store,
      certificates: { ...(settings.tls ? { tls: settings.tls } : {}), ...(settings.clientCertGrant ? { clientCertGrant: settings.clientCertGrant } : {}) },
      ...(settings.capabilities ? { capabilities: settings.capabilities.keyring } : {}),
    }),
    links: () => linksAt(publicBase()),
    linker: createTaskLinker(() => linksAt(publicBase()), {
      issue: auth.required,
      lifetimeMs: settings.capabilities?.lifetimeMs ?? 7 * 24 * 3600 * 1000,
      ...(settings.capabilities ? { keyring: settings.capabilities.keyring } : {}),
    }),
    streams: createStreamCounter(streamLimits),
    monitor: { readiness, ...(metrics ? { metrics, cacheLookup: cacheCounts(metrics) } : {}) },
  };
  // Before the routes, so that every one of them is timed.
  if (metrics) {
    instrumentHttp(app, metrics, ctx.streams);
    exportServiceFigures(metrics, deps, registry, settings);
  }
  await app.register(async (scoped) => {
    registerTaskRoutes(scoped, ctx);
    registerTaskListRoute(scoped, ctx);
    registerUpdatesRoute(scoped, ctx);
    const maxBufferedBytes = settings.maxStreamBufferBytes ?? 4 * 1024 * 1024;
    const eventSource = registerEventSourceRoutes(scoped, ctx, { maxBufferedBytes, keepAliveMs: 15_000 });
    scoped.route({
      method: 'GET', url: '/events', exposeHeadRoute: false, config: { websocket: true }, schema: EVENTS_ROUTE_SCHEMA,
      // Who may watch is settled before the upgrade, so that a refusal is an HTTP status.
      preValidation: async (request) => { narrowForCaller(await ctx.auth.caller(request), {}); },
      preHandler: webSocketSlot(ctx.streams), handler: eventSource, wsHandler: eventSocketHandler(ctx, { maxBufferedBytes, maxSubscriptions: streamLimits.subscriptionsPerSocket }) });
    registerDashboardRoutes(scoped, ctx);
    registerHealthRoutes(scoped, ctx);
    registerServiceRoutes(scoped, ctx);
    registerWorkerRoutes(scoped, ctx);
    registerServiceStatsRoute(scoped, ctx);
    await registerApiDescriptionRoutes(scoped, ctx);
  });
  if (!deps.monitor?.readiness) readiness.started();
  return app;
}
