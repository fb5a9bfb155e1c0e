/**
 * The API's description. Every route declares its schema (api-schemas.ts); @fastify/swagger
 * gathers them into an OpenAPI 3.1 document once, and /openapi.json serves it with each
 * registered service added as an operation of its own (openapi-services.ts), made again only
 * when the registry's services change. /docs renders it with Swagger UI, whose files this server
 * serves itself: the page loads nothing from anywhere else, and its CSP says so.
 *
 * Answers are serialised with JSON.stringify, whatever their route's response schema says:
 * fast-json-stringify would drop any field a schema does not list (descriptions carry open-ended
 * ones: a script's progress value, an error's detail, fields added later) for a gain measured at
 * about 0.5 µs on a submission's answer, next to the ~0.75 ms of server time a task costs.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { AnnouncedService } from '../core/index.ts';
import { addSharedSchemas, errors } from './api-schemas.ts';
import type { RouteContext } from './context.ts';
import type { RegisteredService } from './registry.ts';
import { serviceOperations } from './openapi-services.ts';

export interface RegisteredRoute { method: string; url: string; hidden: boolean; schema: unknown }

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered, as Fastify was given it (the OpenAPI coverage test reads it). */
    registeredRoutes(): readonly RegisteredRoute[];
  }
}

type Json = Record<string, unknown>;

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The generic per-service operation, which each registered service's own is made from. */
const SERVICE_SUBMIT_PATH = '/services/{name}/tasks';

const DESCRIPTION = `Errand runs scripts (R, any executable, Node modules) as web services for long-running work.
Submit a task, watch it (WebSocket or server-sent events), fetch its results.

**Each registered service has an operation of its own**, \`POST /services/<name>/tasks\`, whose body
is typed with the service's input schema, so that a client generator makes one typed call per
script. This document is made from the live service registry; with authentication on, those
operations are listed for signed-in callers only (as \`GET /services\` is).

**Credentials**: \`Authorization: Bearer <API key or JWT>\`, \`x-api-key\`, or a client certificate;
\`errand dev\` asks for none. A task link's access token goes in the path instead: every route
also answers under \`/access/<token>/\`.

**Errors** all have one shape: \`{"error": {"code", "message", "field"?}}\` (the \`Error\` schema).`;

/** Registers @fastify/swagger and what it needs; before any route, so that it sees them all. */
export async function installApiDescription(app: FastifyInstance, options: { publicUrl?: string }): Promise<void> {
  const seen: RegisteredRoute[] = [];
  app.addHook('onRoute', (route) => {
    const hidden = (route.schema as { hide?: boolean } | undefined)?.hide === true;
    for (const method of [route.method].flat()) seen.push({ method, url: route.url, hidden, schema: route.schema });
  });
  app.decorate('registeredRoutes', () => seen);
  addSharedSchemas(app);
  // Response schemas describe; they never filter what is sent (see above).
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  // Behind --public-url with a path, the routes are under that path.
  const basePath = options.publicUrl ? new URL(options.publicUrl).pathname.replace(/\/+$/, '') : '';
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Errand', version: VERSION, description: DESCRIPTION, license: { name: 'MIT', identifier: 'MIT' } },
      servers: [{ url: basePath || '/' }],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'A stored API key (errand_...), Patavi\'s --api-key, or a JWT.' },
          apiKeyHeader: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'An API key in Patavi\'s header.' },
          // openapi-types knows no mutualTLS, which OpenAPI 3.1 added.
          clientCertificate: { type: 'mutualTLS', description: 'A client certificate, over HTTPS with --client-ca.' } as never,
        },
      },
      // {}: errand dev and --no-auth ask for nothing.
      security: [{}, { bearer: [] }, { apiKeyHeader: [] }, { clientCertificate: [] }],
      tags: [
        { name: 'tasks', description: 'Submit, read, cancel and delete tasks (Patavi\'s routes and Errand\'s).' },
        { name: 'services', description: 'The services workers run, and a typed submission per service.' },
        { name: 'events', description: 'Progress and state changes as they happen: WebSocket and server-sent events.' },
        { name: 'server', description: 'This server: health, the dashboard, this description.' },
      ],
    },
    // Shared schemas are named by their $id (Error, TaskDescription...), the names generated types get.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
}

interface Served { document: Json; text: string; etag: string }

function served(document: Json): Served {
  const text = JSON.stringify(document);
  return { document, text, etag: `"${createHash('sha256').update(text).digest('base64url').slice(0, 27)}"` };
}

/** The base document with each service's operation and input schema added. */
function withServices(base: Json, definitions: AnnouncedService[]): Json {
  const paths = base.paths as Record<string, Json>;
  const template = paths[SERVICE_SUBMIT_PATH]?.post as Json | undefined;
  if (!template || definitions.length === 0) return base;
  const added = serviceOperations(definitions, template);
  const components = base.components as Json;
  return {
    ...base,
    paths: { ...paths, ...added.paths },
    components: { ...components, schemas: { ...(components.schemas as Json), ...added.schemas } },
  };
}

/**
 * The documents, made on request and kept until the registry's services change: the routes alone
 * (for callers not signed in, when authentication is on) and the routes with the services.
 */
function documents(app: FastifyInstance, ctx: RouteContext) {
  let routesOnly: Served | undefined;
  let full: { services: RegisteredService[]; key: string; served: Served } | undefined;
  const base = (): Json => app.swagger() as unknown as Json;
  return (signedIn: boolean): Served => {
    if (!signedIn) return (routesOnly ??= served(base()));
    // The registry hands out the same list until it looks again (at most every 200 ms, or on an announcement).
    const services = ctx.registry.services();
    if (full?.services === services) return full.served;
    const definitions = services.map((service) => service.definition);
    const key = JSON.stringify(definitions.map((d) => [d.name, d.version, d.description, d.docs, d.inputSchema, d.example]));
    if (full?.key === key) full.services = services;
    else full = { services, key, served: served(withServices(base(), definitions)) };
    return full.served;
  };
}

/** Content-Security-Policy of /docs: Swagger UI's own files, from here; its requests to this server only. */
export const DOCS_CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** `GET /openapi.json` and the reference page at `/docs`. */
export async function registerApiDescriptionRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const documentFor = documents(app, ctx);
  /** The services are registry information: shown to those who may read GET /services. */
  const forRequest = async (request: FastifyRequest): Promise<Served> => documentFor(Boolean((await ctx.auth.caller(request)).principal));
  const cacheControl = ctx.settings.privateResponses ? 'private, no-cache' : 'no-cache';

  app.get('/openapi.json', {
    schema: {
      operationId: 'getOpenApi', tags: ['server'], summary: 'This description (OpenAPI 3.1)',
      description: 'Made from the live service registry: each registered service has its own operation. With an ETag: send If-None-Match to be told 304 when nothing changed.',
      response: {
        200: { description: 'The OpenAPI 3.1 document.', type: 'object' },
        304: { type: 'null', description: 'Not modified.' },
        ...errors(401),
      },
    },
  }, async (request: FastifyRequest, reply: FastifyReply) => {
    const document = await forRequest(request);
    reply.header('ETag', document.etag).header('Cache-Control', cacheControl);
    const given = request.headers['if-none-match'];
    if (given && given.split(',').some((tag) => tag.trim() === document.etag)) return reply.code(304).send();
    return reply.type('application/json; charset=utf-8').send(document.text);
  });

  // Swagger UI's routes take the document from here (its /docs/json), each for its caller.
  const asked = new WeakMap<FastifyRequest, Served>();
  await app.register(async (docs) => {
    docs.addHook('onRequest', async (_request, reply) => {
      reply.headers({ 'content-security-policy': DOCS_CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' });
    });
    await docs.register(swaggerUi, {
      routePrefix: '/docs',
      theme: { title: 'Errand API' },
      uiConfig: { deepLinking: true, validatorUrl: null },
      uiHooks: {
        preHandler: async (request: FastifyRequest) => {
          if (/\/(json|yaml)$/.test(request.routeOptions.url ?? '')) asked.set(request, await forRequest(request));
        },
      },
      transformSpecificationClone: false,
      transformSpecification: (_document, request) => (asked.get(request as FastifyRequest)?.document ?? {}) as Record<string, unknown>,
    });
  });
}
