/**
 * Streams end when the credential that opened them does (issue 12): a capability link's token and
 * an API key that expire while a task is still running close `WS /task/:id/updates` with 4001, end
 * `GET /task/:id/events` with an `unauthorized` error event, and close `WS /events`. A reconnect
 * with the expired credential is refused.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { accessBase, issueCapability, newApiKey, hashApiKey } from '../../src/core/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';
import { hold } from '../support/access.ts';
import type { Stack } from '../support/stack.ts';
import { startStack, TEST_CAPABILITIES } from '../support/stack.ts';

/**
 * A credential's whole life: each stream must open (and the SSE one send its first event) within
 * it, so it is far longer than that takes even on a busy machine (1.5 s left it little room),
 * and short enough to wait for.
 */
const SHORT_MS = 5000;

function closeOf(url: string, headers: Record<string, string> = {}, send?: string): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    if (send) socket.on('open', () => socket.send(send));
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    socket.on('error', reject);
  });
}

function sseEnding(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { accept: 'text/event-stream' } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { text += chunk; });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
    }).on('error', reject);
  });
}

await describeEachBackend('streams end with their credential', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let taskId: string;
  let adminKey: string;
  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { services: [hold()], settings: { auth: { required: true }, capabilities: TEST_CAPABILITIES } });
    adminKey = newApiKey();
    await backend.store.createApiKey({ name: 'admin', scopes: ['admin'], secretSha256: hashApiKey(adminKey), expires: null });
    const posted = await fetch(`${stack.baseUrl}/task?service=hold`, { method: 'POST', body: '{}', headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' } });
    taskId = ((await posted.json()) as { id: string }).id;
  });
  after(async () => {
    await fetch(`${stack.baseUrl}/task/${taskId}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}` } });
    await stack.close();
    await backend.close();
  });

  const shortLink = (): { http: string; ws: string } => {
    const { signing } = TEST_CAPABILITIES.keyring;
    const token = issueCapability(taskId, { secret: signing.secret, keyId: signing.keyId, lifetimeMs: SHORT_MS, now: Date.now() });
    return accessBase({ http: stack.baseUrl, ws: stack.baseUrl.replace(/^http/, 'ws') }, token);
  };

  test('a task link: the updates socket closes with 4001 and the SSE stream ends with an unauthorized event; the same link then answers 404', async () => {
    const base = shortLink();
    const [socket, sse] = await Promise.all([closeOf(`${base.ws}/task/${taskId}/updates`), sseEnding(`${base.http}/task/${taskId}/events`)]);
    assert.deepEqual(socket, { code: 4001, reason: 'credential expired: connect again with a fresh one' });
    assert.equal(sse.status, 200);
    assert.match(sse.text, /event: queued\n/, 'the stream ran before it ended');
    assert.match(sse.text, /event: error\ndata: \{"code":"unauthorized",[^\n]*\n\n$/);
    assert.equal((await fetch(`${base.http}/task/${taskId}`)).status, 404);
  });

  test('a task link used beside a credential that never expires still ends the stream when the link does', async () => {
    const base = shortLink();
    const closed = await closeOf(`${base.ws}/task/${taskId}/updates`, { authorization: `Bearer ${adminKey}` });
    assert.equal(closed.code, 4001);
  });

  test('an API key that expires: WS /events closes with 4001, and the key is refused after', async () => {
    const key = newApiKey();
    await backend.store.createApiKey({ name: 'short', scopes: ['read:all'], secretSha256: hashApiKey(key), expires: { at: new Date(Date.now() + SHORT_MS) } });
    const headers = { authorization: `Bearer ${key}` };
    const closed = await closeOf(`${stack.baseUrl.replace(/^http/, 'ws')}/events`, headers, JSON.stringify({ type: 'subscribe', subscription: 's', filter: {} }));
    assert.equal(closed.code, 4001);
    assert.equal((await fetch(`${stack.baseUrl}/task/${taskId}`, { headers })).status, 401);
  });
});
