/**
 * Caps on long-lived connections (issue 11, item 9): open WebSockets and SSE streams per client,
 * subscriptions per socket, and all streams server-wide. Over a cap a client gets a 429 (503 for
 * the server-wide cap) in Errand's error shape before anything is streamed, or, for one
 * subscription too many, close code 4029. The client is its address, which follows
 * --trust-proxy: set here by X-Forwarded-For from a trusted proxy, or by the local address.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import type { ClientRequest, IncomingHttpHeaders } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import type { ServerSettings } from '../../src/server/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';
import { postTask } from '../support/http.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

interface Refusal { status: number; body: { error: { code: string; message: string } }; headers: IncomingHttpHeaders }

/** Opens a WebSocket, or resolves with the HTTP answer that refused the upgrade. */
function openSocket(url: string, options: { forwardedFor?: string; localAddress?: string } = {}): Promise<{ socket: WebSocket } | Refusal> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, {
      ...(options.forwardedFor ? { headers: { 'x-forwarded-for': options.forwardedFor } } : {}),
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    socket.once('open', () => resolve({ socket }));
    socket.once('unexpected-response', (_request, response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { text += chunk; });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as Refusal['body'], headers: response.headers }));
    });
    socket.once('error', reject);
  });
}

/** Opens an SSE stream, or resolves with the answer that refused it. */
function openEventSource(url: string, forwardedFor?: string): Promise<{ request: ClientRequest } | Refusal> {
  return new Promise((resolve, reject) => {
    const request = get(url, { headers: { accept: 'text/event-stream', ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}) } }, (response) => {
      if (response.statusCode === 200) return resolve({ request });
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { text += chunk; });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as Refusal['body'], headers: response.headers }));
    });
    request.on('error', reject);
  });
}

function opened<T extends object>(result: T | Refusal): T {
  if ('status' in result) assert.fail(`refused: ${JSON.stringify(result.body)}`);
  return result as T;
}

function refused(result: object, status: number, code: string): Refusal {
  assert.ok('status' in result, 'the stream was opened, not refused');
  const refusal = result as Refusal;
  assert.equal(refusal.status, status);
  assert.match(String(refusal.headers['content-type']), /^application\/json/);
  assert.equal(refusal.body.error.code, code);
  return refusal;
}

await describeEachBackend('stream caps', (kind) => {
  let backend: Backend;
  const stacks: Stack[] = [];
  let taskId: string;
  const start = async (settings: Partial<ServerSettings>) => {
    const stack = await startStack(backend, { settings: { allowUnknownServices: true, ...settings }, recorder: false, nodeId: 10 + stacks.length });
    stacks.push(stack);
    return stack;
  };
  before(async () => { backend = await kind.create(); });
  after(async () => {
    for (const stack of stacks) await stack.close();
    await backend.close();
  });

  describe('per client, by X-Forwarded-For from a trusted proxy address', () => {
    let stack: Stack;
    let ws: string;
    before(async () => {
      stack = await start({ trustProxy: ['127.0.0.1'], maxWebSocketsPerClient: 2, maxEventStreamsPerClient: 2, maxSubscriptionsPerSocket: 2 });
      ws = stack.baseUrl.replace('http', 'ws');
      // A task no worker takes: its streams stay open.
      taskId = (await postTask(stack.baseUrl, 'nobody', {})).json.id as string;
    });

    test('WebSockets: both routes count; one more is a 429 in Errand\'s shape; another client is not affected; a freed slot is usable again', async () => {
      const client = { forwardedFor: '10.0.0.1' };
      const first = opened(await openSocket(`${ws}/events`, client));
      const second = opened(await openSocket(`${ws}/task/${taskId}/updates`, client));
      const refusal = refused(await openSocket(`${ws}/events`, client), 429, 'too_many_streams');
      assert.match(refusal.body.error.message, /at most 2/);
      refused(await openSocket(`${ws}/task/${taskId}/updates`, client), 429, 'too_many_streams');

      const other = opened(await openSocket(`${ws}/events`, { forwardedFor: '10.0.0.2' }));
      other.socket.close();

      second.socket.close();
      const again = await eventually(async () => {
        const result = await openSocket(`${ws}/task/${taskId}/updates`, client);
        return 'socket' in result ? result.socket : false;
      }, 'the freed slot to be usable');
      again.close();
      first.socket.close();
    });

    test('SSE streams: both routes count; one more is a 429; another client is not affected; a freed slot is usable again', async () => {
      const client = '10.0.0.3';
      const first = opened(await openEventSource(`${stack.baseUrl}/events`, client));
      const second = opened(await openEventSource(`${stack.baseUrl}/task/${taskId}/events`, client));
      refused(await openEventSource(`${stack.baseUrl}/events`, client), 429, 'too_many_streams');
      refused(await openEventSource(`${stack.baseUrl}/task/${taskId}/events`, client), 429, 'too_many_streams');
      // SSE and WebSockets are counted apart.
      opened(await openSocket(`${ws}/events`, { forwardedFor: client })).socket.close();

      opened(await openEventSource(`${stack.baseUrl}/events`, '10.0.0.4')).request.destroy();

      first.request.destroy();
      const again = await eventually(async () => {
        const result = await openEventSource(`${stack.baseUrl}/events`, client);
        return 'request' in result ? result.request : false;
      }, 'the freed slot to be usable');
      again.destroy();
      second.request.destroy();
    });

    test('subscriptions: one over the socket\'s cap closes it with 4029 and a reason; a new socket subscribes again', async () => {
      const { socket } = opened(await openSocket(`${ws}/events`, { forwardedFor: '10.0.0.5' }));
      const messages: Array<{ type: string; subscription?: string; error?: { code: string } }> = [];
      socket.on('message', (raw) => messages.push(JSON.parse(raw.toString()) as (typeof messages)[number]));
      const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
      const subscribe = (name: string) => socket.send(JSON.stringify({ type: 'subscribe', subscription: name, filter: { tasks: [taskId] } }));
      subscribe('a');
      subscribe('b');
      await eventually(() => messages.filter((m) => m.type === 'subscribed').length === 2, 'a and b to be subscribed');
      subscribe('c');
      const { code, reason } = await closed;
      assert.equal(code, 4029);
      assert.match(reason, /too many subscriptions: a socket holds at most 2/);
      assert.deepEqual(messages.filter((m) => m.type === 'subscribed').map((m) => m.subscription).sort(), ['a', 'b']);
      assert.deepEqual(messages.find((m) => m.type === 'error'), { type: 'error', subscription: 'c', error: { code: 'too_many_subscriptions', message: 'too many subscriptions: a socket holds at most 2', field: 'subscription' } });

      const fresh = opened(await openSocket(`${ws}/events`, { forwardedFor: '10.0.0.5' })).socket;
      const subscribed = new Promise((resolve) => fresh.on('message', (raw) => { if ((JSON.parse(raw.toString()) as { type: string }).type === 'subscribed') resolve(undefined); }));
      fresh.send(JSON.stringify({ type: 'subscribe', subscription: 'a', filter: { tasks: [taskId] } }));
      await subscribed;
      fresh.close();
    });
  });

  test('without --trust-proxy, X-Forwarded-For is ignored: the address the connection comes from is the client', async () => {
    const stack = await start({ maxWebSocketsPerClient: 1 });
    const ws = stack.baseUrl.replace('http', 'ws');
    const first = opened(await openSocket(`${ws}/events`, { forwardedFor: '10.0.1.1' }));
    refused(await openSocket(`${ws}/events`, { forwardedFor: '10.0.1.2' }), 429, 'too_many_streams');
    // A connection from another local address is another client.
    const other = opened(await openSocket(`${ws}/events`, { localAddress: '127.0.0.2' }));
    other.socket.close();
    first.socket.close();
  });

  test('a hop count trusts that many proxies: the entry before them is the client, whatever the client wrote before it', async () => {
    const stack = await start({ trustProxy: 1, maxWebSocketsPerClient: 1 });
    const ws = stack.baseUrl.replace('http', 'ws');
    const first = opened(await openSocket(`${ws}/events`, { forwardedFor: 'spoofed-1, 10.0.2.1' }));
    refused(await openSocket(`${ws}/events`, { forwardedFor: '10.0.2.9, 10.0.2.1' }), 429, 'too_many_streams');
    const other = opened(await openSocket(`${ws}/events`, { forwardedFor: '10.0.2.1, 10.0.2.2' }));
    other.socket.close();
    first.socket.close();
  });

  test('a proxy address list: X-Forwarded-For counts only when the connection comes from a listed proxy', async () => {
    const stack = await start({ trustProxy: ['127.0.0.2'], maxEventStreamsPerClient: 1 });
    // From 127.0.0.1 (not a listed proxy) every X-Forwarded-For is the same client: 127.0.0.1.
    const first = opened(await openEventSource(`${stack.baseUrl}/events`, '10.0.3.1'));
    refused(await openEventSource(`${stack.baseUrl}/events`, '10.0.3.2'), 429, 'too_many_streams');
    first.request.destroy();
  });

  test('the server-wide cap: 503 server_busy with Retry-After, whoever asks', async () => {
    const stack = await start({ trustProxy: true, maxStreams: 2 });
    const ws = stack.baseUrl.replace('http', 'ws');
    const first = opened(await openSocket(`${ws}/events`, { forwardedFor: '10.0.4.1' }));
    const second = opened(await openEventSource(`${stack.baseUrl}/events`, '10.0.4.2'));
    const busy = refused(await openSocket(`${ws}/events`, { forwardedFor: '10.0.4.3' }), 503, 'server_busy');
    assert.equal(busy.headers['retry-after'], '5');
    refused(await openEventSource(`${stack.baseUrl}/events`, '10.0.4.4'), 503, 'server_busy');
    second.request.destroy();
    const again = await eventually(async () => {
      const result = await openSocket(`${ws}/events`, { forwardedFor: '10.0.4.3' });
      return 'socket' in result ? result.socket : false;
    }, 'the freed slot to be usable');
    again.close();
    first.socket.close();
  });
});
