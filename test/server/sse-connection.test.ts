/**
 * An event stream's connection is not kept for reuse (`Connection: close`): once the stream ends,
 * here at shutdown, the server closes it, so a client that stopped reading without closing its
 * socket does not hold a closing server for the keep-alive timeout.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { embeddedBackend } from '../support/backends.ts';
import type { Backend } from '../support/backends.ts';
import { startStack } from '../support/stack.ts';
import type { Stack } from '../support/stack.ts';

let backend: Backend;
let stack: Stack;

before(async () => {
  backend = await embeddedBackend.create();
  stack = await startStack(backend, {});
});
after(async () => {
  await backend?.close();
});

test('an SSE stream answers Connection: close, and its socket is closed by the server once the stream ends', async () => {
  const { hostname, port } = new URL(stack.baseUrl);
  const socket = connect(Number(port), hostname);
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  // HTTP/1.1 asks for keep-alive by default; the client never reads to the end nor closes.
  socket.write(`GET /events HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: text/event-stream\r\n\r\n`);
  while (!text.includes('\r\n\r\n')) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.match(text, /^HTTP\/1\.1 200/);
  assert.match(text, /\r\nconnection: close\r\n/i);
  await stack.close();
  // The server ended the stream at shutdown and closed the connection itself.
  await closed;
  assert.equal(socket.destroyed, true);
});
