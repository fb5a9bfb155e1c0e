/**
 * CORS and browser origins (issue 12, item 6), on both backends: only listed origins (and the
 * server's own) get CORS headers, credentials only for them, never for `null`; preflights, writes
 * and WebSocket upgrades from other pages are refused 403 forbidden_origin in Errand's shape;
 * clients that send no Origin are not affected; task data is `Cache-Control: private` when
 * answers are per caller.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import type { Backend } from '../support/backends.ts';
import { countTasks, describeEachBackend } from '../support/backends.ts';
import { postTask } from '../support/http.ts';
import { rawRequest, upgradeRequest } from '../support/raw-http.ts';
import type { RawResponse } from '../support/raw-http.ts';
import { steps } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const APP = 'https://app.example';
const OTHER = 'https://evil.example';
const PUBLIC_URL = 'https://errand.example.org';

const portOf = (stack: Stack): number => Number(new URL(stack.baseUrl).port);

function assertForbidden(response: RawResponse): void {
  assert.equal(response.status, 403, response.raw.slice(0, 300));
  assert.match(response.headers['content-type'] ?? '', /^application\/json/);
  const body = JSON.parse(response.body) as { error: Record<string, unknown> };
  assert.equal(body.error.code, 'forbidden_origin');
  assert.equal(body.error.field, 'origin');
  assertNoCors(response);
}

function assertNoCors(response: RawResponse): void {
  assert.equal(response.headers['access-control-allow-origin'], undefined, response.raw.slice(0, 300));
  assert.equal(response.headers['access-control-allow-credentials'], undefined);
  assert.equal(response.headers['access-control-allow-methods'], undefined);
}

function assertCorsWithCredentials(response: RawResponse, origin: string): void {
  assert.equal(response.headers['access-control-allow-origin'], origin, response.raw.slice(0, 300));
  assert.equal(response.headers['access-control-allow-credentials'], 'true');
  assert.match(response.headers.vary ?? '', /Origin/);
}

const request = (method: string, path: string, headers: Record<string, string> = {}, body = ''): string =>
  `${method} ${path} HTTP/1.1\r\nHost: localhost\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}${body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ''}Connection: close\r\n\r\n${body}`;

const preflight = (origin: string, method = 'POST'): string =>
  request('OPTIONS', '/task?service=steps', { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': 'x-api-key, content-type, authorization' });

/** Opens a WebSocket as a browser page of `origin` would (none: as a Node client); resolves with the handshake's status. */
function handshake(url: string, origin?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, origin === undefined ? {} : { origin });
    socket.once('upgrade', () => { resolve(101); socket.terminate(); });
    socket.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); res.resume(); socket.terminate(); });
    socket.once('error', (err) => reject(err));
  });
}

await describeEachBackend('CORS and browser origins', (kind) => {
  let backend: Backend;
  /** --cors-origin https://app.example, no public URL: its listening address is its own origin. */
  let listed: Stack;
  /** --public-url https://errand.example.org, nothing listed (serve's default). */
  let served: Stack;
  /** --cors-origin '*' --cors-origin https://app.example, answers per caller (privateResponses). */
  let anyOrigin: Stack;
  /** What `errand dev` sets: its addresses are its own. */
  let dev: Stack;
  let doneTask: string;

  before(async () => {
    backend = await kind.create();
    listed = await startStack(backend, { services: [steps()], settings: { corsOrigins: { origins: [APP], any: false } } });
    served = await startStack(backend, { recorder: false, nodeId: 2, settings: { publicUrl: PUBLIC_URL } });
    anyOrigin = await startStack(backend, { recorder: false, nodeId: 3, settings: { corsOrigins: { origins: [APP], any: true }, privateResponses: true } });
    dev = await startStack(backend, { recorder: false, nodeId: 4, settings: { corsOwnAddresses: true } });
    const { json } = await postTask(listed.baseUrl, 'steps', { file: true, pauseMs: 1 });
    doneTask = json.id as string;
    await eventually(async () => ((await (await fetch(`${listed.baseUrl}/task/${doneTask}`)).json()) as { status: string }).status === 'done', 'the task to finish');
  });
  after(async () => {
    for (const stack of [listed, served, anyOrigin, dev]) await stack?.close();
    await backend.close();
  });

  describe('simple requests', () => {
    test('a listed origin gets its origin back, with credentials; the answer varies by Origin', async () => {
      const response = await rawRequest(portOf(listed), request('GET', `/task/${doneTask}`, { Origin: APP }));
      assert.equal(response.status, 200);
      assertCorsWithCredentials(response, APP);
    });

    test('an unlisted origin and `null` are answered (a browser hides it) with no CORS header', async () => {
      for (const origin of [OTHER, 'null', `${APP}:8443`, 'http://app.example', `${APP}/`, `${APP}, ${APP}`]) {
        const response = await rawRequest(portOf(listed), request('GET', `/task/${doneTask}`, { Origin: origin }));
        assert.equal(response.status, 200, origin);
        assertNoCors(response);
        assert.match(response.headers.vary ?? '', /Origin/);
      }
    });

    test('no Origin (not a browser): answered as before, no CORS header', async () => {
      const response = await rawRequest(portOf(listed), request('GET', `/task/${doneTask}`));
      assert.equal(response.status, 200);
      assertNoCors(response);
    });

    test('serve with nothing listed: no cross-origin access; its public URL is its own origin', async () => {
      const foreign = await rawRequest(portOf(served), request('GET', '/healthz', { Origin: APP }));
      assert.equal(foreign.status, 200);
      assertNoCors(foreign);
      assertCorsWithCredentials(await rawRequest(portOf(served), request('GET', '/healthz', { Origin: PUBLIC_URL })), PUBLIC_URL);
    });
  });

  describe('preflights', () => {
    test('from a listed origin: 200 with the origin, credentials, every method and the credential headers', async () => {
      const response = await rawRequest(portOf(listed), preflight(APP, 'DELETE'));
      assert.equal(response.status, 200);
      assertCorsWithCredentials(response, APP);
      assert.match(response.headers['access-control-allow-methods']!, /DELETE/);
      assert.match(response.headers['access-control-allow-headers']!, /X-API-Key/i);
      assert.match(response.headers['access-control-allow-headers']!, /Authorization/i);
    });

    test('from an unlisted origin or `null`: 403 forbidden_origin in Errand\'s shape, no CORS header', async () => {
      for (const origin of [OTHER, 'null']) assertForbidden(await rawRequest(portOf(listed), preflight(origin)));
      assertForbidden(await rawRequest(portOf(served), preflight(APP)));
    });

    test('OPTIONS without Origin is still 400 missing_field (issue 11)', async () => {
      const response = await rawRequest(portOf(listed), request('OPTIONS', '/task'));
      assert.equal(response.status, 400);
      assert.equal(JSON.parse(response.body).error.field, 'origin');
    });
  });

  describe('writes', () => {
    test('a POST or DELETE from an unlisted origin or `null` is refused 403 before it does anything', async () => {
      const before = await countTasks(backend);
      for (const origin of [OTHER, 'null']) {
        assertForbidden(await rawRequest(portOf(listed), request('POST', '/task?service=steps', { Origin: origin, 'Content-Type': 'text/plain' }, '{}')));
        assertForbidden(await rawRequest(portOf(listed), request('POST', `/task/${doneTask}/cancel`, { Origin: origin })));
        assertForbidden(await rawRequest(portOf(listed), request('DELETE', `/task/${doneTask}`, { Origin: origin })));
      }
      assert.equal(await countTasks(backend), before);
      assert.equal((await fetch(`${listed.baseUrl}/task/${doneTask}`)).status, 200);
    });

    test('from a listed origin, the server\'s own, or no Origin: accepted', async () => {
      const listedPost = await rawRequest(portOf(listed), request('POST', '/task?service=steps', { Origin: APP }, '{}'));
      assert.equal(listedPost.status, 201, listedPost.raw.slice(0, 300));
      assertCorsWithCredentials(listedPost, APP);
      const own = new URL(listed.baseUrl).origin;
      assert.equal((await rawRequest(portOf(listed), request('POST', '/task?service=steps', { Origin: own }, '{}'))).status, 201);
      assert.equal((await rawRequest(portOf(listed), request('POST', '/task?service=steps', {}, '{}'))).status, 201);
    });
  });

  describe('WebSocket upgrades', () => {
    const ws = (stack: Stack, path: string): string => `${stack.baseUrl.replace(/^http/, 'ws')}${path}`;

    for (const path of ['/events', '/task/:id/updates']) {
      test(`${path}: a listed origin, the server's own and no Origin open; others are refused 403 before the upgrade`, async () => {
        const target = path.replace(':id', doneTask);
        assert.equal(await handshake(ws(listed, target), APP), 101);
        assert.equal(await handshake(ws(listed, target), new URL(listed.baseUrl).origin), 101);
        assert.equal(await handshake(ws(listed, target)), 101);
        for (const origin of [OTHER, 'null', 'http://app.example']) assert.equal(await handshake(ws(listed, target), origin), 403, origin);
        // The refusal is in Errand's shape, and its socket is closed by the server.
        const refused = await rawRequest(portOf(listed), upgradeRequest(target, { Origin: OTHER }), { untilAnswer: true });
        assertForbidden(refused);
        assert.equal(refused.headers.connection?.toLowerCase(), 'close');
        const closed = await rawRequest(portOf(listed), upgradeRequest(target, { Origin: OTHER }));
        assert.equal(closed.closedByServer, true);
      });
    }

    test('with a public URL, its origin is the server\'s own; the listening address is not', async () => {
      assert.equal(await handshake(ws(served, '/events'), PUBLIC_URL), 101);
      assert.equal(await handshake(ws(served, '/events'), new URL(served.baseUrl).origin), 403);
      assert.equal(await handshake(ws(served, '/events'), APP), 403);
    });
  });

  describe('`*`: any origin may read, without credentials', () => {
    test('reads get `*` and no credentials; a listed origin still gets itself with credentials', async () => {
      const any = await rawRequest(portOf(anyOrigin), request('GET', `/task/${doneTask}`, { Origin: OTHER }));
      assert.equal(any.status, 200);
      assert.equal(any.headers['access-control-allow-origin'], '*');
      assert.equal(any.headers['access-control-allow-credentials'], undefined);
      assertCorsWithCredentials(await rawRequest(portOf(anyOrigin), request('GET', `/task/${doneTask}`, { Origin: APP })), APP);
      const flight = await rawRequest(portOf(anyOrigin), preflight(OTHER, 'GET'));
      assert.equal(flight.status, 200);
      assert.equal(flight.headers['access-control-allow-origin'], '*');
      assert.equal(flight.headers['access-control-allow-credentials'], undefined);
      assert.doesNotMatch(flight.headers['access-control-allow-methods']!, /POST|DELETE/);
    });

    test('`null` is not any origin; writes and WebSockets still need a listed origin', async () => {
      assertNoCors(await rawRequest(portOf(anyOrigin), request('GET', `/task/${doneTask}`, { Origin: 'null' })));
      assertForbidden(await rawRequest(portOf(anyOrigin), preflight('null')));
      assertForbidden(await rawRequest(portOf(anyOrigin), request('POST', '/task?service=steps', { Origin: OTHER }, '{}')));
      assert.equal(await handshake(`${anyOrigin.baseUrl.replace(/^http/, 'ws')}/events`, OTHER), 403);
      assert.equal(await handshake(`${anyOrigin.baseUrl.replace(/^http/, 'ws')}/events`, APP), 101);
    });
  });

  describe('errand dev\'s default', () => {
    test('its own addresses, as 127.0.0.1 and as localhost, are allowed; another port is not', async () => {
      const port = portOf(dev);
      for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
        const flight = await rawRequest(port, preflight(origin));
        assert.equal(flight.status, 200, origin);
        assertCorsWithCredentials(flight, origin);
        assert.equal(await handshake(`ws://127.0.0.1:${port}/events`, origin), 101, origin);
      }
      assertForbidden(await rawRequest(port, preflight(`http://localhost:${port + 1}`)));
      assert.equal(await handshake(`ws://127.0.0.1:${port}/events`, `http://localhost:${port + 1}`), 403);
    });
  });

  describe('Cache-Control of task data', () => {
    const parts = (id: string): string[] => [`/task/${id}`, `/task/${id}/task`, `/task/${id}/results`, `/task/${id}/results/plot.svg`];

    test('answers the same for every caller (the default): a finished task is public for a year', async () => {
      for (const path of parts(doneTask)) {
        const response = await fetch(`${listed.baseUrl}${path}`);
        assert.equal(response.status, 200, path);
        assert.equal(response.headers.get('cache-control'), 'public, max-age=31557600', path);
      }
      assert.equal((await fetch(`${listed.baseUrl}/status?task=${doneTask}`)).headers.get('cache-control'), null);
      const events = await fetch(`${listed.baseUrl}/task/${doneTask}/events`);
      assert.equal(events.headers.get('cache-control'), 'no-cache');
      await events.body?.cancel();
    });

    test('answers per caller (privateResponses): private, never public, including 304s, /status, submissions and events', async () => {
      for (const path of parts(doneTask)) {
        const response = await fetch(`${anyOrigin.baseUrl}${path}`);
        assert.equal(response.status, 200, path);
        assert.equal(response.headers.get('cache-control'), 'private, max-age=31557600', path);
      }
      const revalidated = await fetch(`${anyOrigin.baseUrl}/task/${doneTask}/results`, { headers: { 'if-none-match': `"${doneTask}-results"` } });
      assert.equal(revalidated.status, 304);
      assert.equal(revalidated.headers.get('cache-control'), 'private, max-age=31557600');
      assert.equal((await fetch(`${anyOrigin.baseUrl}/status?task=${doneTask}`)).headers.get('cache-control'), 'private, no-cache');
      const events = await fetch(`${anyOrigin.baseUrl}/task/${doneTask}/events`);
      assert.equal(events.headers.get('cache-control'), 'private, no-cache');
      await events.body?.cancel();
      const submitted = await fetch(`${anyOrigin.baseUrl}/task?service=steps`, { method: 'POST', body: '{}' });
      assert.equal(submitted.status, 201);
      assert.equal(submitted.headers.get('cache-control'), 'private, no-cache');
      const id = ((await submitted.json()) as { id: string }).id;
      const current = await fetch(`${anyOrigin.baseUrl}/task/${id}`);
      assert.match(current.headers.get('cache-control')!, /^private, /);
    });
  });
});
