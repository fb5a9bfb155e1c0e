/**
 * What the server does with requests a careless or hostile client sends, as raw bytes where a
 * client library would refuse or normalise them: every answer is Errand's JSON error with the
 * right status, sockets that can no longer be used are closed by the server, refused WebSocket
 * upgrades do not leak their sockets, and slow clients are cut. On both backends.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Backend } from '../support/backends.ts';
import { countTasks, describeEachBackend } from '../support/backends.ts';
import { postTask } from '../support/http.ts';
import { rawExchange, rawRequest, upgradeRequest } from '../support/raw-http.ts';
import type { RawResponse } from '../support/raw-http.ts';
import { echo } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const portOf = (stack: Stack): number => Number(new URL(stack.baseUrl).port);

/** The answer is `{"error":{"code","message","field"?}}` with this status, as JSON. */
function assertError(response: RawResponse, status: number, code: string, field?: string): void {
  assert.equal(response.status, status, response.raw.slice(0, 300));
  assert.match(response.headers['content-type'] ?? '', /^application\/json/);
  const body = JSON.parse(response.body) as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(body), ['error']);
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  assert.ok((body.error.message as string).length > 0);
  assert.equal(body.error.field, field);
  assert.deepEqual(Object.keys(body.error).sort(), field === undefined ? ['code', 'message'] : ['code', 'field', 'message']);
}

/** ... and the server said it closes the connection, and did. */
function assertClosingError(response: RawResponse, status: number, code: string, field?: string): void {
  assertError(response, status, code, field);
  assert.equal(response.headers.connection?.toLowerCase(), 'close');
  assert.equal(response.closedByServer, true);
}

const get = (path: string, headers = ''): string => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${headers}Connection: close\r\n\r\n`;

function openConnections(stack: Stack): Promise<number> {
  return new Promise((resolve, reject) => stack.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

await describeEachBackend('HTTP edge', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let port: number;
  let taskId: string;
  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { services: [echo()], settings: { maxStatusIds: 3 } });
    port = portOf(stack);
    taskId = (await postTask(stack.baseUrl, 'echo', { a: 1 })).json.id as string;
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  describe('WebSocket upgrades that are refused', () => {
    test('an upgrade whose URL the router refuses is answered, its socket closed, and the server still shuts down', async () => {
      // A server of its own, so that its connection count is this test's alone.
      const own = await startStack(backend, { recorder: false, nodeId: 7 });
      const ownPort = portOf(own);
      const refused = [
        { path: '/task/%ff/updates', status: 400, code: 'invalid_url' },
        { path: '/events%zz', status: 400, code: 'invalid_url' },
        { path: `/task/${'a'.repeat(300)}/updates`, status: 414, code: 'uri_too_long' },
        { path: '/no-such-route', status: 404, code: 'not_found' },
        { path: '/task/zz/updates', status: 400, code: 'invalid_id' },
      ];
      const answers: [RawResponse, (typeof refused)[number]][] = [];
      for (let round = 0; round < 10; round++) {
        for (const expected of refused) {
          // The client reads the answer and hangs up; the server must close its side too.
          answers.push([await rawRequest(ownPort, upgradeRequest(expected.path), { untilAnswer: true }), expected]);
        }
      }
      await eventually(async () => (await openConnections(own)) === 0, 'the server to release every refused upgrade socket');
      for (const [response, { status, code }] of answers) {
        assertError(response, status, code, code === 'not_found' ? undefined : code === 'invalid_id' ? 'id' : 'url');
        assert.equal(response.headers.connection?.toLowerCase(), 'close');
      }
      // Without the client hanging up first: the server closes.
      const response = await rawRequest(ownPort, upgradeRequest('/task/%ff/updates'));
      assertClosingError(response, 400, 'invalid_url', 'url');
      let closed = false;
      void own.close().then(() => { closed = true; });
      await eventually(() => closed, 'the server to close');
    });

    test('a handshake ws refuses (key, version, upgrade, subprotocol) is a JSON 400 naming the header', async () => {
      const cases: [Record<string, string | undefined>, string][] = [
        [{ 'Sec-WebSocket-Key': undefined }, 'sec-websocket-key'],
        [{ 'Sec-WebSocket-Key': 'short' }, 'sec-websocket-key'],
        [{ 'Sec-WebSocket-Version': undefined }, 'sec-websocket-version'],
        [{ 'Sec-WebSocket-Version': '12' }, 'sec-websocket-version'],
        [{ Upgrade: 'h2c' }, 'upgrade'],
        [{ 'Sec-WebSocket-Protocol': 'a b,,' }, 'sec-websocket-protocol'],
      ];
      for (const path of ['/events', `/task/${taskId}/updates`]) {
        for (const [headers, field] of cases) {
          const response = await rawRequest(port, upgradeRequest(path, headers));
          assertClosingError(response, 400, 'invalid_handshake', field);
          if (field === 'sec-websocket-version') assert.equal(response.headers['sec-websocket-version'], '13');
        }
      }
    });

    test('an upgrade on a route without a WebSocket is refused, not accepted and closed', async () => {
      for (const path of [`/task/${taskId}`, '/healthz', `/status?task=${taskId}`]) {
        assertClosingError(await rawRequest(port, upgradeRequest(path)), 400, 'invalid_handshake', 'upgrade');
      }
    });

    test('HEAD on a streaming route, with or without Upgrade, is answered and holds no stream', async () => {
      // A server of its own with a cap of one stream per client: a HEAD that held one would lock the client out.
      const own = await startStack(backend, { recorder: false, nodeId: 8, settings: { maxEventStreamsPerClient: 1, maxWebSocketsPerClient: 1 } });
      const ownPort = portOf(own);
      for (const path of ['/events', `/task/${taskId}/events`, `/task/${taskId}/updates`]) {
        const plain = await rawRequest(ownPort, `HEAD ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
        assert.ok(plain.status >= 400 && plain.status < 500, `HEAD ${path}: ${plain.status}`);
        assert.equal(plain.closedByServer, true);
        const upgrade = await rawRequest(ownPort, upgradeRequest(path).replace(/^GET /, 'HEAD '));
        assert.equal(upgrade.status, 400, `HEAD upgrade ${path}`);
        assert.equal(upgrade.closedByServer, true);
      }
      await eventually(async () => (await openConnections(own)) === 0, 'the server to release every HEAD socket');
      // The client's one SSE slot is free.
      const abort = new AbortController();
      const stream = await fetch(`http://127.0.0.1:${ownPort}/events`, { headers: { accept: 'text/event-stream' }, signal: abort.signal });
      assert.equal(stream.status, 200);
      abort.abort();
      await own.close();
    });

    test('a plain GET on the updates socket answers 426 with Upgrade: websocket', async () => {
      const response = await rawRequest(port, get(`/task/${taskId}/updates`));
      assertError(response, 426, 'websocket_required');
      assert.equal(response.headers.upgrade, 'websocket');
      const unknown = await rawRequest(port, get('/task/0000000000000001/updates'));
      assertError(unknown, 404, 'not_found', 'id');
    });
  });

  describe('ids past PostgreSQL bigint', () => {
    const ids = ['8000000000000000', 'ffffffffffffffff'];
    test('every id route answers 404 not_found', async () => {
      for (const id of ids) {
        for (const path of ['', '/task', '/script', '/console', '/results', '/results/', '/results/report.txt', '/events', '/updates']) {
          assertError(await rawRequest(port, get(`/task/${id}${path}`)), 404, 'not_found', 'id');
        }
        assertClosingError(await rawRequest(port, upgradeRequest(`/task/${id}/updates`)), 404, 'not_found', 'id');
        assertError(await rawRequest(port, `POST /task/${id}/cancel HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`), 404, 'not_found', 'id');
        assertError(await rawRequest(port, `DELETE /task/${id} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`), 404, 'not_found', 'id');
      }
    });

    test('an event filter naming them finds no events instead of failing (SSE and WebSocket replays)', async () => {
      const filter = { tasks: new Set([ids[1]!, taskId]) };
      // Events get their ids shortly after they are written.
      const all = await eventually(async () => {
        const found = await backend.store.readEvents({ tasks: new Set([taskId]) }, 0, null, 100);
        return found.length > 0 && found;
      }, "the task's events");
      assert.deepEqual(await backend.store.readEvents(filter, 0, null, 100), all);
      assert.deepEqual(await backend.store.lastEvents({ tasks: new Set([ids[0]!]) }, Number.MAX_SAFE_INTEGER, 5), []);
    });

    test('/status leaves them out as it does any unknown id', async () => {
      const response = await fetch(`${stack.baseUrl}/status?task=${ids[0]}&task=${taskId}&task=${ids[1]}`);
      assert.equal(response.status, 200);
      assert.deepEqual(((await response.json()) as { id: string }[]).map((t) => t.id), [taskId]);
    });
  });

  describe('GET /status', () => {
    test('asks for at most --max-status-ids ids, and says so', async () => {
      const query = (n: number) => Array.from({ length: n }, () => `task=${taskId}`).join('&');
      assert.equal((await fetch(`${stack.baseUrl}/status?${query(3)}`)).status, 200);
      const response = await rawRequest(port, get(`/status?${query(4)}`));
      assertError(response, 400, 'invalid_field', 'task');
      assert.match(JSON.parse(response.body).error.message, /at most 3 task ids/);
    });
  });

  describe("what Node's parser refuses, and what Node answers itself", () => {
    const cases: [string, string, number, string, string?][] = [
      ['an unknown method', 'BREW / HTTP/1.1\r\nHost: localhost\r\n\r\n', 400, 'malformed_request'],
      ['a method in lower case', 'get /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n', 400, 'malformed_request'],
      ['a Content-Length that is not a number', 'POST /task?service=echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1x\r\n\r\n{}', 400, 'malformed_request'],
      ['two different Content-Lengths', 'POST /task?service=echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}', 400, 'malformed_request'],
      ['Content-Length with Transfer-Encoding', 'POST /task?service=echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n', 400, 'malformed_request'],
      ['a control character in a header value', 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A: a\x01b\r\n\r\n', 400, 'malformed_request'],
      ['a control character in the path', 'GET /task/\x7f HTTP/1.1\r\nHost: localhost\r\n\r\n', 400, 'malformed_request'],
      ['a bare LF', 'GET /healthz HTTP/1.1\nHost: localhost\n\n', 400, 'malformed_request'],
      ['a bad chunk size', 'POST /task?service=echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n', 400, 'malformed_request'],
      ['CONNECT, which Node would drop unanswered', 'CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n', 405, 'method_not_allowed'],
      ['an Expect other than 100-continue, which Node answers bare', 'POST /task?service=echo HTTP/1.1\r\nHost: localhost\r\nExpect: nonsense\r\nContent-Length: 2\r\n\r\n{}', 417, 'expectation_failed', 'expect'],
      ['headers over the size limit', `GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large'],
      ['a request line over the size limit', `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`, 431, 'headers_too_large'],
    ];
    for (const [what, bytes, status, code, field] of cases) {
      test(`${what}: ${status} ${code}, and the connection is closed`, async () => {
        const before = await countTasks(backend);
        assertClosingError(await rawRequest(port, bytes), status, code, field);
        assert.equal(await countTasks(backend), before);
      });
    }
  });

  test('a client still sending a body after a refused request line gets the answer, not a reset', async () => {
    // Refused at the request line, the rest of a 2 MB body keeps coming: the server answers, closes
    // its side and drops what follows, instead of resetting a connection with unread bytes.
    for (let round = 0; round < 20; round++) {
      const response = await rawExchange(port, (socket) => {
        socket.write(`POST /task?service=echo HTTP/1.1x\r\nHost: localhost\r\nContent-Length: 2000000\r\n\r\n${'a'.repeat(2_000_000)}`);
      });
      assertClosingError(response, 400, 'malformed_request');
    }
  });

  test('a refused upgrade or a bodiless request followed by over 1 MB more is answered and closed, never reset', async () => {
    // Both were reset once more than 1 MiB followed (the fuzz suite's generated cases 199 and 494),
    // and a reset can throw the answer away before the client reads it: the server now reads and
    // drops up to the body limit after such an answer, then closes without a reset.
    const more = 'l'.repeat(1_100_000);
    const exchange = (bytes: string): Promise<{ answer: string; reset: boolean }> => new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      let answer = '';
      let reset = false;
      socket.on('data', (chunk: Buffer) => { answer += chunk.toString('latin1'); });
      socket.on('error', (err: NodeJS.ErrnoException) => { reset ||= err.code === 'ECONNRESET' || err.code === 'EPIPE'; });
      socket.on('close', () => resolve({ answer, reset }));
      socket.write(bytes);
    });
    const upgrade = await exchange(`POST /task?service=echo HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: ${more.length}\r\n\r\n${more}`);
    assert.match(upgrade.answer, /^HTTP\/1\.1 400 [^]*"invalid_handshake"/);
    assert.equal(upgrade.reset, false, 'the refused upgrade was reset');
    const unframed = await exchange(`GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n{"s":"${more}"}`);
    assert.match(unframed.answer, /^HTTP\/1\.1 404 /, 'the answer to the request before the bytes the parser refuses');
    assert.equal(unframed.reset, false, 'the connection with unparseable bytes was reset');
  });

  describe('what the router and the request guards refuse', () => {
    test('a bad percent-encoding: 400 invalid_url', async () => {
      for (const path of ['/task/%ff', '/task/%zz/results', '/events%zz']) assertError(await rawRequest(port, get(path)), 400, 'invalid_url', 'url');
    });

    test('a path part over --max-param-length: 414 uri_too_long', async () => {
      assertError(await rawRequest(port, get(`/task/${'a'.repeat(256)}`)), 414, 'uri_too_long', 'url');
      // At the limit, the route answers.
      assertError(await rawRequest(port, get(`/task/${taskId}/results/${'a'.repeat(255)}`)), 404, 'not_found', 'file');
    });

    test('an unknown route repeats at most 200 characters of its path', async () => {
      const response = await rawRequest(port, get(`/${'b'.repeat(5000)}`));
      assertError(response, 404, 'not_found');
      assert.ok(JSON.parse(response.body).error.message.length < 300);
    });

    test('OPTIONS that is not a CORS preflight: 400 missing_field; a preflight still answers 200 (an unlisted origin\'s 403, issue 12)', async () => {
      assertError(await rawRequest(port, 'OPTIONS /task HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'), 400, 'missing_field', 'origin');
      assertError(await rawRequest(port, 'OPTIONS /task HTTP/1.1\r\nHost: localhost\r\nOrigin: http://app.example\r\nConnection: close\r\n\r\n'), 400, 'missing_field', 'access-control-request-method');
      const own = new URL(stack.baseUrl).origin;
      const preflight = await rawRequest(port, `OPTIONS /task HTTP/1.1\r\nHost: localhost\r\nOrigin: ${own}\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n`);
      assert.equal(preflight.status, 200);
      assert.equal(preflight.headers['access-control-allow-origin'], own);
      assertError(await rawRequest(port, 'OPTIONS /task HTTP/1.1\r\nHost: localhost\r\nOrigin: http://app.example\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n'), 403, 'forbidden_origin', 'origin');
    });

    test('an HTTP/1.1 request without Host: 400 missing_field host (HTTP/1.0 needs none)', async () => {
      assertError(await rawRequest(port, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n'), 400, 'missing_field', 'host');
      assertClosingError(await rawRequest(port, upgradeRequest('/events', { Host: undefined })), 400, 'missing_field', 'host');
      assert.equal((await rawRequest(port, 'GET /healthz HTTP/1.0\r\n\r\n')).status, 200);
    });

    test('the server answers a good request afterwards', async () => {
      assert.equal((await fetch(`${stack.baseUrl}/healthz`)).status, 200);
    });
  });
});

await describeEachBackend('HTTP timeouts', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let port: number;
  before(async () => {
    backend = await kind.create();
    // Short enough to wait for, long against a stall of the busy machine: a whole request that
    // reached the server a moment before a stall must not be cut when the server wakes up.
    stack = await startStack(backend, { services: [echo()], settings: { requestTimeoutMs: 3000, headersTimeoutMs: 2000, keepAliveTimeoutMs: 2000 } });
    port = portOf(stack);
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  /** Sends `head`, then one more byte every 50 ms until the server closes: never a whole request. */
  const trickle = (head: string) => rawExchange(port, (socket) => {
    socket.write(head);
    const timer = setInterval(() => { if (socket.writable) socket.write('x'); }, 50);
    socket.on('close', () => clearInterval(timer));
  });

  // The guard only turns a hang into a failure: without the timeouts the server never answers.
  test('a body that trickles in is cut: 408 request_timeout, connection closed, nothing stored', { timeout: 60_000 }, async () => {
    const before = await countTasks(backend);
    const responses = await Promise.all(Array.from({ length: 5 }, () => trickle('POST /task?service=echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"a":"')));
    for (const response of responses) assertClosingError(response, 408, 'request_timeout');
    assert.equal(await countTasks(backend), before);
  });

  test('headers that trickle in, or never come, are cut too', { timeout: 60_000 }, async () => {
    assertClosingError(await trickle('GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: '), 408, 'request_timeout');
    assertClosingError(await rawExchange(port, () => {}), 408, 'request_timeout');
  });

  test('an idle keep-alive connection is closed by the server after a request', { timeout: 60_000 }, async () => {
    const response = await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    assert.equal(response.status, 200);
    assert.equal(response.closedByServer, true);
  });

  test('a whole request still gets through', async () => {
    assert.equal((await postTask(stack.baseUrl, 'echo', { ok: true })).response.status, 201);
  });
});
