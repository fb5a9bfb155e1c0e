/**
 * The API's description (issue 14): /openapi.json is valid OpenAPI 3.1, holds every route Fastify
 * registered (so that routes added later are checked the day they are), gives each registered
 * service an operation typed with its input schema, follows the registry as services come and go,
 * and /docs renders it from this server's own files. Also: what the route schemas refuse still
 * answers in Errand's error shape, and the per-service route behaves as POST /task?service=.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { SERVICE_NAME_PATTERN, serviceNameProblem } from '../../src/core/index.ts';
import { DOCS_CSP } from '../../src/server/openapi.ts';
import { startWorker } from '../../src/worker/index.ts';
import type { Worker } from '../../src/worker/index.ts';
import { bearer, createKeys } from '../support/access.ts';
import type { Backend } from '../support/backends.ts';
import { countTasks, describeEachBackend, testLogger } from '../support/backends.ts';
import { echo, service } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack, TEST_CAPABILITIES } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

type Json = Record<string, any>;

/**
 * Routes that are not in the description, each with the reason. Anything else Fastify registers
 * must be there.
 */
const NOT_DESCRIBED: { test: (url: string) => boolean; reason: string }[] = [
  {
    test: (url) => url === '/docs' || url.startsWith('/docs/'),
    reason: 'the reference page and its files (HTML, scripts, styles, icons), and /docs/json and /docs/yaml, which are /openapi.json again for the page',
  },
];

/** `/task/:id/results/:file` as OpenAPI writes it. */
const openApiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** A service whose schema refers to its own definitions, with an example. */
const regression = service('regress.v2', (input) => ({ fitted: input }), 2, {
  description: 'Fits a line.',
  inputSchema: {
    $schema: 'http://json-schema.org/draft-07/schema#',
    type: 'object',
    required: ['formula', 'data'],
    additionalProperties: false,
    properties: {
      formula: { type: 'string', minLength: 1 },
      data: { $ref: '#/definitions/columns' },
    },
    definitions: { columns: { type: 'object', additionalProperties: { type: 'array', items: { type: 'number' } } } },
  },
  example: { value: { formula: 'y ~ x', data: { x: [1, 2, 3], y: [2, 4, 7] } } },
});

async function documentOf(base: string, headers: Record<string, string> = {}): Promise<{ status: number; etag: string | null; document: Json }> {
  const response = await fetch(`${base}/openapi.json`, { headers });
  return { status: response.status, etag: response.headers.get('etag'), document: (await response.json()) as Json };
}

async function post(url: string, body: string): Promise<{ status: number; json: Json; location: string | null }> {
  const response = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  return { status: response.status, json: (await response.json()) as Json, location: response.headers.get('location') };
}

/** `{"error":{"code","message","field"?}}`, nothing else. */
function assertError(json: Json, code: string, field: string | undefined, what: string): void {
  assert.deepEqual(Object.keys(json), ['error'], what);
  assert.equal(json.error.code, code, `${what}: ${JSON.stringify(json)}`);
  assert.equal(json.error.field, field, `${what}: ${JSON.stringify(json)}`);
  assert.ok(typeof json.error.message === 'string' && json.error.message.length > 10, what);
  assert.deepEqual(Object.keys(json.error).sort(), field === undefined ? ['code', 'message'] : ['code', 'field', 'message'], what);
}

test('the service-name pattern in the schemas agrees with serviceNameProblem', () => {
  const pattern = new RegExp(SERVICE_NAME_PATTERN, 'u');
  for (const name of ['echo', 'a', 'regress.v2', 'my_service-1', '9lives', 'x'.repeat(128), 'x'.repeat(129), '', '-lead', '.dot', 'no such', 'amq.direct', 'errand.x', 'rpc_result', 'rpc_status', 'rpc_results', 'amq', 'errandx', 'é']) {
    assert.equal(pattern.test(name), serviceNameProblem(name) === undefined, JSON.stringify(name));
  }
});

await describeEachBackend('OpenAPI', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let base: string;
  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { services: [echo(), regression], settings: { retainOfflineServicesMs: 300 } });
    base = stack.baseUrl;
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  test('the document is valid OpenAPI 3.1', async () => {
    const { status, document } = await documentOf(base);
    assert.equal(status, 200);
    assert.equal(document.openapi, '3.1.0');
    const validator = new Validator();
    const result = await validator.validate(document);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 1));
    assert.equal(validator.version, '3.1');
    // Every schema in it is a JSON Schema 2020-12 compiles (the validator takes schemas as opaque objects).
    const ajv = new Ajv2020({ strict: false, validateFormats: false });
    ajv.addSchema(document, 'doc');
    for (const name of Object.keys(document.components.schemas)) ajv.compile({ $ref: `doc#/components/schemas/${name}` });
  });

  test('every route Fastify registered is in it, but the reference page\'s own', async () => {
    const { document } = await documentOf(base);
    const routes = stack.app.registeredRoutes();
    assert.ok(routes.length > 20, `${routes.length} routes seen`);
    const documented = (method: string, url: string): boolean => document.paths[openApiPath(url)]?.[method.toLowerCase()] !== undefined;
    const missing = routes.filter(({ method, url }) => {
      if (NOT_DESCRIBED.some((excluded) => excluded.test(url))) return false;
      // Fastify adds a HEAD twin to each GET: the GET's answer without its body, described once as the GET.
      if (method === 'HEAD' && documented('GET', url)) return false;
      return !documented(method, url);
    });
    assert.deepEqual(missing.map(({ method, url }) => `${method} ${url}`), []);
    // Hidden from the description: only what the list above excuses.
    const hidden = routes.filter((route) => route.hidden && !NOT_DESCRIBED.some((excluded) => excluded.test(route.url)));
    assert.deepEqual(hidden.map(({ method, url }) => `${method} ${url}`), []);
    // And the description has no route the server does not have (a service's own path stands for the generic one).
    for (const path of Object.keys(document.paths)) {
      const generic = path.replace(/^\/services\/[^/{}]+\/tasks$/, '/services/{name}/tasks');
      assert.ok(routes.some(({ url }) => openApiPath(url) === generic), path);
    }
  });

  test('every route declares its schema: an operation id, a summary, its parameters and answers', async () => {
    const { document } = await documentOf(base);
    const operationIds = new Set<string>();
    for (const { method, url, schema } of stack.app.registeredRoutes()) {
      if (method === 'HEAD' || NOT_DESCRIBED.some((excluded) => excluded.test(url))) continue;
      const declared = (schema ?? {}) as Json;
      const route = `${method} ${url}`;
      assert.equal(typeof declared.operationId, 'string', `${route}: operationId`);
      assert.equal(typeof declared.summary, 'string', `${route}: summary`);
      assert.ok(declared.response && Object.keys(declared.response).length > 0, `${route}: response`);
      if (url.includes(':')) assert.ok(declared.params, `${route}: params`);
      const operation = document.paths[openApiPath(url)][method.toLowerCase()];
      assert.ok(!Object.values(operation.responses as Json).some((answer: Json) => answer.description === 'Default Response'), `${route}: every answer described`);
      assert.ok(!operationIds.has(declared.operationId), `${route}: operationId ${declared.operationId} used twice`);
      operationIds.add(declared.operationId);
    }
    // Errand's error shape is the one error schema.
    assert.deepEqual(document.components.schemas.Error.required, ['error']);
    assert.deepEqual(document.paths['/task/{id}'].get.responses['404'].content['application/json'].schema, { $ref: '#/components/schemas/Error' });
  });

  test('a registered service is an operation of its own, typed with its input schema', async () => {
    const { document } = await documentOf(base);
    const operation = document.paths['/services/regress.v2/tasks']?.post;
    assert.ok(operation, Object.keys(document.paths).join(' '));
    assert.equal(operation.operationId, 'submitRegressV2');
    assert.match(operation.description, /Fits a line/);
    const media = operation.requestBody.content['application/json'];
    assert.deepEqual(media.schema, { $ref: '#/components/schemas/RegressV2Input' });
    assert.deepEqual(media.example, { formula: 'y ~ x', data: { x: [1, 2, 3], y: [2, 4, 7] } });
    // The service's schema, its own references now pointing inside it.
    assert.deepEqual(document.components.schemas.RegressV2Input, {
      type: 'object',
      required: ['formula', 'data'],
      additionalProperties: false,
      properties: { formula: { type: 'string', minLength: 1 }, data: { $ref: '#/components/schemas/RegressV2Input/definitions/columns' } },
      definitions: { columns: { type: 'object', additionalProperties: { type: 'array', items: { type: 'number' } } } },
    });
    // As a generator would read it: it takes the example and refuses what the server refuses.
    const ajv = new Ajv2020({ strict: false, validateFormats: false });
    ajv.addSchema(document, 'doc');
    const check = ajv.compile({ $ref: 'doc#/components/schemas/RegressV2Input' });
    assert.equal(check(media.example), true, JSON.stringify(check.errors));
    assert.equal(check({ formula: 'y ~ x', data: { x: ['one'] } }), false);
    // The same parameters and answers as the generic route, without its path parameter.
    const generic = document.paths['/services/{name}/tasks'].post;
    assert.deepEqual(operation.responses, generic.responses);
    assert.deepEqual(operation.parameters, generic.parameters.filter((p: Json) => p.in !== 'path'));
    assert.equal(document.paths['/services/echo/tasks'].post.operationId, 'submitEcho');
  });

  test('POST /services/{name}/tasks is POST /task?service={name}', async () => {
    const input = '{"formula": "y ~ x", "data": {"x": [1, 2], "y": [3, 4.0]}}';
    const submitted = await post(`${base}/services/regress.v2/tasks?ttl=PT1H`, input);
    assert.equal(submitted.status, 201, JSON.stringify(submitted.json));
    assert.equal(submitted.json.service, 'regress.v2');
    assert.equal(submitted.location, submitted.json._links.self.href);
    const done = await eventually(async () => {
      const task = (await (await fetch(submitted.json._links.self.href)).json()) as Json;
      return task.status === 'done' ? task : undefined;
    }, 'the task to finish');
    assert.ok(done.expiresAt);
    // The input byte for byte, as POST /task keeps it.
    assert.equal(await (await fetch(`${base}/task/${submitted.json.id}/task`)).text(), input);

    const before = await countTasks(backend);
    const refused: [string, string, number, string, string][] = [
      ['/services/regress.v2/tasks', '{"formula": ""}', 400, 'invalid_input', 'data'],
      ['/services/nobody/tasks', '{}', 400, 'unknown_service', 'service'],
      ['/services/amq.direct/tasks', '{}', 400, 'invalid_field', 'name'],
      ['/services/echo/tasks?service=regress.v2', '{}', 400, 'invalid_field', 'service'],
      ['/services/echo/tasks?ttl=5M', '{}', 400, 'invalid_ttl', 'ttl'],
      ['/services/echo/tasks?deadline=soon', '{}', 400, 'invalid_deadline', 'deadline'],
      ['/services/echo/tasks?cache=maybe', '{}', 400, 'invalid_field', 'cache'],
      ['/services/echo/tasks?ttl=PT1M&ttl=PT2M', '{}', 400, 'invalid_field', 'ttl'],
      ['/services/echo/tasks', '{"a":', 400, 'invalid_json', 'body'],
    ];
    for (const [path, body, status, code, field] of refused) {
      const answer = await post(base + path, body);
      assert.equal(answer.status, status, path);
      assertError(answer.json, code, field, path);
    }
    assert.equal(await countTasks(backend), before, 'a refused submission writes nothing');
  });

  test('what the route schemas refuse answers in Errand\'s shape, naming the field', async () => {
    const cases: [string, RequestInit, number, string, string][] = [
      ['/task/ABCDEF0123456789', {}, 400, 'invalid_id', 'id'],
      ['/task/abc/results/plot.png', {}, 400, 'invalid_id', 'id'],
      ['/task/abc/cancel', { method: 'POST' }, 400, 'invalid_id', 'id'],
      ['/task/abc/events', {}, 400, 'invalid_id', 'id'],
      ['/status', {}, 400, 'missing_field', 'task'],
      ['/status?task=', {}, 400, 'missing_field', 'task'],
      ['/status?task=nothex', {}, 400, 'invalid_id', 'task'],
      ['/task', { method: 'POST', body: '{}' }, 400, 'missing_field', 'service'],
      ['/task?service=a&service=b', { method: 'POST', body: '{}' }, 400, 'invalid_field', 'service'],
      ['/task?service=echo&cache=sometimes', { method: 'POST', body: '{}' }, 400, 'invalid_field', 'cache'],
      ['/services/rpc_result', {}, 400, 'invalid_field', 'name'],
      ['/events?since=-1', {}, 400, 'invalid_field', 'since'],
      ['/events?last=0', {}, 400, 'invalid_field', 'last'],
      ['/events?last=10001', {}, 400, 'invalid_field', 'last'],
      ['/events?since=1&since=2', {}, 400, 'invalid_field', 'since'],
      ['/events?type=finished', {}, 400, 'invalid_field', 'type'],
      ['/events?service=amq.x', {}, 400, 'invalid_field', 'service'],
      [`/events?${Array.from({ length: 101 }, () => 'service=echo').join('&')}`, {}, 400, 'invalid_field', 'service'],
      ['/task/0000000000000001/events?type=nope', {}, 400, 'invalid_field', 'type'],
      ['/events', { headers: { 'last-event-id': 'abc' } }, 400, 'invalid_field', 'Last-Event-ID'],
    ];
    for (const [path, init, status, code, field] of cases) {
      const response = await fetch(base + path, init);
      assert.equal(response.status, status, path.slice(0, 80));
      assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
      assertError((await response.json()) as Json, code, field, path.slice(0, 80));
    }
    // A well-formed id past what is ever issued is unknown, not malformed.
    assert.equal((await fetch(`${base}/task/8000000000000000`)).status, 404);
  });

  test('the document follows the registry: made again when services change, and only then', async () => {
    const first = await documentOf(base);
    const again = await fetch(`${base}/openapi.json`, { headers: { 'if-none-match': first.etag! } });
    assert.equal(again.status, 304);
    assert.equal((await documentOf(base)).etag, first.etag);
    assert.equal(first.document.paths['/services/late/tasks'], undefined);

    let worker: Worker | undefined = await startWorker({
      broker: backend.broker, logger: testLogger,
      services: [service('late', (input) => input, 1, { inputSchema: { type: 'object', properties: { n: { type: 'integer' } } } })],
    });
    try {
      const added = await eventually(async () => {
        const current = await documentOf(base);
        return current.document.paths['/services/late/tasks'] ? current : undefined;
      }, 'the new service in the document');
      assert.notEqual(added.etag, first.etag);
      assert.equal(added.document.paths['/services/late/tasks'].post.operationId, 'submitLate');
      assert.deepEqual(added.document.components.schemas.LateInput, { type: 'object', properties: { n: { type: 'integer' } } });
      assert.equal((await fetch(`${base}/openapi.json`, { headers: { 'if-none-match': first.etag! } })).status, 200);
      await worker.close();
      worker = undefined;
      // Its worker gone, it is kept as offline for --retain-offline-services (300 ms here), then dropped.
      const dropped = await eventually(async () => {
        const current = await documentOf(base);
        return current.document.paths['/services/late/tasks'] ? undefined : current;
      }, 'the service gone from the document');
      assert.equal(dropped.etag, first.etag);
      assert.deepEqual(dropped.document, first.document);
    } finally {
      await worker?.close();
    }
  });

  test('/docs is Swagger UI, every file of it from this server', async () => {
    const page = await fetch(`${base}/docs`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.equal(csp, DOCS_CSP);
    // Nothing but this server and inline data: no other origin may be named anywhere in the policy.
    assert.doesNotMatch(csp, /https?:|\*|\/\//);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    const html = await page.text();
    const references = [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    assert.ok(references.length >= 5, references.join(' '));
    for (const reference of references) {
      const url = new URL(reference, `${base}/docs`);
      assert.equal(url.origin, new URL(base).origin, reference);
      const file = await fetch(url);
      assert.equal(file.status, 200, reference);
      const text = await file.text();
      if (reference.endsWith('.css')) {
        // Stylesheets load no fonts or images from elsewhere.
        assert.doesNotMatch(text, /@import|url\(\s*['"]?(https?:)?\/\//, reference);
      }
    }
    assert.ok(!/<script>|<script [^>]*>[^<\s]/.test(html), 'no inline script (the CSP would refuse it)');
    const initializer = await (await fetch(`${base}/docs/static/swagger-initializer.js`)).text();
    // No validator badge (it would load an image from validator.swagger.io); the document from here.
    assert.match(initializer, /validatorUrl: null/);
    assert.match(initializer, /url: resolveUrl\('\.\/json'\)/);
    const shown = (await (await fetch(`${base}/docs/json`)).json()) as Json;
    assert.deepEqual(shown, (await documentOf(base)).document);
  });
});

await describeEachBackend('OpenAPI with authentication on', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let keys: Record<string, string>;
  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { services: [regression], settings: { auth: { required: true }, capabilities: TEST_CAPABILITIES } });
    keys = await createKeys(backend.store, [['user', 'user', { scopes: ['submit', 'read'] }]]);
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  test('the services\' operations are for signed-in callers, as GET /services is; the routes for anyone', async () => {
    const anonymous = await documentOf(stack.baseUrl);
    assert.equal(anonymous.status, 200);
    assert.ok(anonymous.document.paths['/services/{name}/tasks']);
    assert.equal(anonymous.document.paths['/services/regress.v2/tasks'], undefined);
    assert.equal(anonymous.document.components.schemas.RegressV2Input, undefined);
    const signedIn = await documentOf(stack.baseUrl, bearer(keys.user!));
    assert.ok(signedIn.document.paths['/services/regress.v2/tasks']);
    assert.notEqual(signedIn.etag, anonymous.etag);
    const shown = (await (await fetch(`${stack.baseUrl}/docs/json`, { headers: bearer(keys.user!) })).json()) as Json;
    assert.deepEqual(shown, signedIn.document);
    assert.equal((await documentOf(stack.baseUrl, bearer('errand_not-a-key'))).status, 401);
    // Answers that depend on who asks are kept by no shared cache.
    assert.equal((await fetch(`${stack.baseUrl}/openapi.json`)).headers.get('cache-control'), 'private, no-cache');
  });

  test('who asks is settled before what is asked: no credential is a 401 whatever the query', async () => {
    for (const [path, init] of [['/task', { method: 'POST', body: '{}' }], ['/services/amq.x/tasks', { method: 'POST', body: '{}' }], ['/services/amq.x', {}], ['/events?since=yesterday', {}]] as [string, RequestInit][]) {
      const response = await fetch(stack.baseUrl + path, init);
      assert.equal(response.status, 401, path);
      assertError((await response.json()) as Json, 'unauthorized', 'authorization', path);
    }
    // Signed in, the query's problem is the answer.
    const response = await fetch(`${stack.baseUrl}/task`, { method: 'POST', body: '{}', headers: bearer(keys.user!) });
    assert.equal(response.status, 400);
    assertError((await response.json()) as Json, 'missing_field', 'service', 'POST /task');
  });
});
