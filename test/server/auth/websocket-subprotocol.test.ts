/**
 * A browser's WebSocket cannot send Authorization, so `WS /events` and `WS /task/:id/updates` also
 * take the credential as a subprotocol, `errand.bearer.<key or token>` (issue 15, the dashboard
 * signs in this way). It is never named in the answer (offered alone it is refused), a bad one is
 * refused before the upgrade naming the header, and it counts only on an upgrade.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { embeddedBackend } from '../../support/backends.ts';
import type { Backend } from '../../support/backends.ts';
import { bearer, createKeys, httpAnswer, upgradeAnswer } from '../../support/access.ts';
import { echo } from '../../support/services.ts';
import { startStack } from '../../support/stack.ts';
import type { Stack } from '../../support/stack.ts';

let backend: Backend;
let stack: Stack;
let keys: Record<string, string>;
let ws: string;

before(async () => {
  backend = await embeddedBackend.create();
  stack = await startStack(backend, { services: [echo()], settings: { auth: { required: true } } });
  keys = await createKeys(backend.store, [['alice', 'alice-ws', { scopes: ['submit', 'read'] }], ['bob', 'bob-ws', { scopes: ['submit', 'read'] }]]);
  ws = stack.baseUrl.replace(/^http/, 'ws');
});
after(async () => {
  await stack?.close();
  await backend?.close();
});

function open(url: string, protocols: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols);
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function submit(key: string): Promise<string> {
  const response = await fetch(`${stack.baseUrl}/task?service=echo`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(key) }, body: '{}' });
  assert.equal(response.status, 201);
  return ((await response.json()) as { id: string }).id;
}

test('WS /events signs in with errand.bearer.<key>: only that principal\'s events, and the credential is not echoed beside another subprotocol', async () => {
  const socket = await open(`${ws}/events`, ['errand', `errand.bearer.${keys.alice}`]);
  assert.equal(socket.protocol, 'errand', 'the credential is not what the answer names');
  const seen: string[] = [];
  const live = new Promise<void>((resolve) => socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as { type: string; event?: { taskId: string } };
    if (message.type === 'live') resolve();
    if (message.type === 'event') seen.push(message.event!.taskId);
  }));
  socket.send(JSON.stringify({ type: 'subscribe', subscription: 's', filter: { types: ['queued'] } }));
  await live;
  const bobs = await submit(keys.bob!);
  const alices = await submit(keys.alice!);
  while (!seen.includes(alices)) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.ok(!seen.includes(bobs), 'bob\'s task is not alice\'s to see');
  socket.close();

  // Offered alone it would have to be named in the answer (a browser fails a handshake that names
  // none it offered): refused instead, saying what to offer.
  const alone = await upgradeAnswer(`${ws}/events`, { 'sec-websocket-protocol': `errand.bearer.${keys.alice}` });
  assert.equal(alone.status, 400);
  assert.deepEqual([JSON.parse(alone.body).error.code, JSON.parse(alone.body).error.field], ['invalid_handshake', 'sec-websocket-protocol']);
  assert.match(JSON.parse(alone.body).error.message, /offer the subprotocol "errand"/);
});

test('WS /task/:id/updates with the subprotocol: the owner\'s task opens, another\'s is 404', async () => {
  const alices = await submit(keys.alice!);
  const socket = await open(`${ws}/task/${alices}/updates`, ['errand', `errand.bearer.${keys.alice}`]);
  const end = await new Promise<{ eventType: string }>((resolve) => socket.on('message', (data) => resolve(JSON.parse(String(data)))));
  assert.equal(end.eventType, 'done');
  const refused = await upgradeAnswer(`${ws}/task/${alices}/updates`, { 'sec-websocket-protocol': `errand, errand.bearer.${keys.bob}` });
  assert.equal(refused.status, 404);
});

test('a bad credential in the subprotocol is 401 before the upgrade, naming the header; outside an upgrade it is not a credential', async () => {
  const refused = await upgradeAnswer(`${ws}/events`, { 'sec-websocket-protocol': 'errand, errand.bearer.errand_notakeynotakeynotakeynotakeynotakeynotake' });
  assert.equal(refused.status, 401);
  assert.equal(JSON.parse(refused.body).error.field, 'sec-websocket-protocol');
  const plain = await httpAnswer(`${stack.baseUrl}/tasks`, { headers: { 'sec-websocket-protocol': `errand.bearer.${keys.alice}` } });
  assert.equal(plain.status, 401);
  assert.equal(JSON.parse(plain.body).error.field, 'authorization');
});
