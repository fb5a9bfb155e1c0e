/**
 * A request that reaches the server while it closes (sent on a connection it already had: a closed
 * server takes no new ones) is answered 503 in Errand's error shape, code `shutting_down`, with
 * Retry-After and Connection: close; not with Fastify's own body. Requests under way finish.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import type { Backend } from '../support/backends.ts';
import { embeddedBackend } from '../support/backends.ts';
import { echo } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

let backend: Backend;
let stack: Stack;
before(async () => {
  backend = await embeddedBackend.create();
  stack = await startStack(backend, { services: [echo()] });
});
after(async () => {
  await stack.close().catch(() => undefined);
  await backend.close();
});

interface Answer { status: number; headers: Record<string, string>; body: string }

/** Splits what came back on one connection into its answers (each with a content-length); interim 1xx answers are skipped. */
function answers(raw: string): Answer[] {
  const found: Answer[] = [];
  let rest = raw;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const [statusLine = '', ...lines] = rest.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const status = Number(statusLine.split(' ')[1]);
    const length = Number(headers['content-length'] ?? 0);
    const body = Buffer.from(rest.slice(end + 4), 'latin1').subarray(0, length).toString();
    rest = rest.slice(end + 4 + Buffer.byteLength(body));
    if (status >= 200) found.push({ status, headers, body });
  }
  return found;
}

test('a request sent on an open connection while the server closes gets 503 shutting_down in Errand\'s shape; the one under way is answered', async () => {
  const port = Number(new URL(stack.baseUrl).port);
  const socket = connect({ host: '127.0.0.1', port });
  let raw = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => { raw += chunk.toString('latin1'); });
  socket.on('close', () => { closed = true; });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const body = '{"n":1}';
  // A submission whose body waits for "100 Continue": once that comes, the server is handling it.
  socket.write(`POST /task?service=echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
  await eventually(() => raw.includes('100 Continue'), 'the server to take the submission');
  const closing = stack.app.close();
  // The body of the first request, then a second request on the same connection.
  socket.write(`${body}GET /task/0000000000000001 HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  await eventually(() => answers(raw).length === 2 || closed, 'both answers');
  await closing;
  const [submitted, refused] = answers(raw);
  assert.equal(submitted?.status, 201, raw);
  assert.equal(JSON.parse(submitted.body).status, 'queued');
  assert.equal(refused?.status, 503, raw);
  assert.deepEqual(JSON.parse(refused.body), { error: { code: 'shutting_down', message: 'this server is shutting down: send the request again, to another server or once it is back' } });
  assert.equal(refused.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(refused.headers['retry-after'], '5');
  assert.equal(refused.headers.connection, 'close');
  await eventually(() => closed, 'the server to close the connection');
  socket.destroy();
});
