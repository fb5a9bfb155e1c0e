/** Nothing lost: a stopped recorder, expiry by ttl, and the API key, on both backends. */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { WebSocket } from 'ws';
import { after, before, test } from 'node:test';
import { RESULT_QUEUE } from '../../src/core/index.ts';
import { startJanitor } from '../../src/recorder/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, testLogger } from '../support/backends.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { echo } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

await describeEachBackend('reliability', (kind) => {
  let backend: Backend;
  let stack: Stack;
  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { services: [echo()], recorder: false, settings: { apiKey: 's3cret' } });
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });
  const key = { 'x-api-key': 's3cret', 'x-client-name': 'GeMTC-open' };

  test('results wait in the broker while no recorder runs, and are recorded when one starts', async () => {
    const created = await Promise.all(Array.from({ length: 20 }, (_, i) => postTask(stack.baseUrl, 'echo', { i }, { headers: key })));
    // Watchers subscribe before any result can be recorded: each must still see its end.
    const watching = created.map(({ json }) => watchUpdates(json._links.updates.href));
    await eventually(async () => (await backend.broker.queueStats(RESULT_QUEUE))!.messages >= 20, 'every task to report');
    // Every task ran and reported (a result each, which carries its start: they end before
    // --start-report-after) but nothing is recorded yet.
    assert.equal((await backend.broker.queueStats(RESULT_QUEUE))!.messages, 20);
    for (const { json } of created) assert.equal((await backend.store.getTask(json.id))?.status, 'queued');
    await stack.startRecorder();
    const ends = await Promise.all(watching);
    assert.ok(ends.every((u) => u.messages.at(-1)?.eventType === 'done'));
    for (const [i, { json }] of created.entries()) {
      assert.deepEqual(await (await fetch(`${stack.baseUrl}/task/${json.id}/results`, { headers: key })).json(), { i });
    }
  });

  test('a task and its files are removed once completion + ttl has passed; others stay', async () => {
    const short = await postTask(stack.baseUrl, 'echo', { n: 1 }, { ttl: 'PT0S', headers: key });
    const long = await postTask(stack.baseUrl, 'echo', { n: 2 }, { ttl: 'PT1H', headers: key });
    await Promise.all([watchUpdates(short.json._links.updates.href), watchUpdates(long.json._links.updates.href)]);
    const janitor = startJanitor({ store: backend.store, broker: backend.broker, logger: testLogger, batchSize: 1, intervalMs: 3_600_000 });
    assert.ok((await janitor.sweep()) >= 1);
    await janitor.stop();
    assert.equal((await fetch(`${stack.baseUrl}/task/${short.json.id}`, { headers: key })).status, 404);
    assert.equal((await fetch(`${stack.baseUrl}/task/${long.json.id}`, { headers: key })).status, 200);
  });

  test('with an API key configured, every route needs it (or the task link); the owner is key:patavi, x-client-name a label', async () => {
    const none = await postTask(stack.baseUrl, 'echo', {});
    assert.equal(none.response.status, 401);
    assert.equal(none.json.error.code, 'unauthorized');
    assert.equal(none.response.headers.get('www-authenticate'), 'Bearer realm="errand"');
    const wrong = await postTask(stack.baseUrl, 'echo', {}, { headers: { 'x-api-key': 'guess' } });
    assert.equal(wrong.response.status, 401);
    assert.deepEqual(wrong.json.error, { code: 'unauthorized', message: 'the API key in x-api-key is not valid (unknown, revoked or expired)', field: 'x-api-key' });
    const right = await postTask(stack.baseUrl, 'echo', {}, { headers: key });
    assert.equal(right.response.status, 201);
    const stored = await backend.db.query<{ owner: string; client_name: string }>('SELECT principal AS owner, client_name FROM task WHERE id = $1', [BigInt(`0x${right.json.id}`).toString()]);
    assert.deepEqual(stored.rows[0], { owner: 'key:patavi', client_name: 'GeMTC-open' });
    const plain = `${stack.baseUrl}/task/${right.json.id}`;
    assert.equal((await fetch(plain)).status, 401, 'reads need the key too');
    assert.equal((await fetch(plain, { headers: key })).status, 200);
    assert.equal((await fetch(right.json._links.self.href)).status, 200, 'the link handed out carries its own access');
    assert.equal((await fetch(right.json._links.self.href, { method: 'DELETE' })).status, 403, 'a task link only reads');
    assert.equal((await fetch(plain, { method: 'DELETE' })).status, 401);
    assert.equal((await fetch(plain, { method: 'DELETE', headers: key })).status, 200);
    // Patavi's clients use GET / with their key as a health check.
    assert.equal((await fetch(`${stack.baseUrl}/`, { headers: key })).status, 200);
    assert.equal((await fetch(`${stack.baseUrl}/`, { headers: { 'x-api-key': 'guess' } })).status, 401);
  });

  test('the key itself is never stored', async () => {
    const rows = await backend.db.query<{ row: string }>('SELECT row_to_json(task)::text AS row FROM task');
    assert.ok(rows.rows.length > 0);
    assert.ok(rows.rows.every((r) => !r.row.includes('s3cret')));
  });
});

await describeEachBackend('Patavi mode', (kind) => {
  let backend: Backend;
  let stack: Stack;
  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { settings: { allowUnknownServices: true } });
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  test('with unknown services allowed, a task for a service without a queue is queued, reported no-workers', async () => {
    const { response, json } = await postTask(stack.baseUrl, 'later', { x: 1 });
    assert.equal(response.status, 201);
    assert.equal(json.status, 'no-workers');
    assert.deepEqual(await backend.broker.queueStats('later'), { messages: 1, consumers: 0 });
  });
});

await describeEachBackend('links never come from the request', (kind) => {
  let backend: Backend;
  let direct: Stack;
  let proxied: Stack;
  before(async () => {
    backend = await kind.create();
    direct = await startStack(backend, { settings: { allowUnknownServices: true } });
    proxied = await startStack(backend, { settings: { allowUnknownServices: true, trustProxy: true, publicUrl: 'https://errand.example.org/' }, recorder: false, nodeId: 2 });
  });
  after(async () => {
    await proxied.close();
    await direct.close();
    await backend.close();
  });

  // A client (or a proxy passing on what a client wrote) naming another host in every header it can.
  const spoofed = { host: 'attacker.example:666', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'attacker.example', forwarded: 'host=attacker.example;proto=https' };
  function send(baseUrl: string, method: string, path: string, body?: string): Promise<{ status: number; headers: Record<string, unknown>; json: any }> {
    return new Promise((resolve, reject) => {
      const request = httpRequest(`${baseUrl}${path}`, { method, headers: { ...spoofed, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) } }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => { text += chunk; });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, json: JSON.parse(text) }));
      });
      request.on('error', reject);
      request.end(body);
    });
  }

  async function linksOf(stack: Stack): Promise<string[]> {
    const created = await send(stack.baseUrl, 'POST', '/task?service=anywhere', '{}');
    assert.equal(created.status, 201);
    const read = await send(stack.baseUrl, 'GET', `/task/${created.json.id}`);
    const canceled = await send(stack.baseUrl, 'POST', `/task/${created.json.id}/cancel`);
    const services = await send(stack.baseUrl, 'GET', '/services');
    // Patavi's updates socket: the terminal message carries the results href.
    const updates = await new Promise<string>((resolve, reject) => {
      const socket = new WebSocket(`${stack.baseUrl.replace('http', 'ws')}/task/${created.json.id}/updates`, { headers: spoofed });
      socket.once('message', (raw) => resolve(JSON.parse(raw.toString()).eventData.href as string));
      socket.once('error', reject);
    });
    const hrefs = (value: unknown): string[] => (JSON.stringify(value).match(/"href":"[^"]*"/g) ?? []).map((h) => h.slice(8, -1));
    return [String(created.headers.location), ...hrefs(created.json), ...hrefs(read.json), ...hrefs(canceled.json), ...hrefs(services.json), updates];
  }

  test('a spoofed Host or X-Forwarded-* does not change links: without a public URL they use the listening address', async () => {
    const links = await linksOf(direct);
    assert.ok(links.length > 5);
    for (const link of links) assert.ok(link.startsWith(direct.baseUrl) || link.startsWith(direct.baseUrl.replace('http', 'ws')), link);
  });

  test('with a public URL, links use it, even with trustProxy on and a proxy\'s X-Forwarded-* headers', async () => {
    const links = await linksOf(proxied);
    assert.ok(links.length > 5);
    for (const link of links) assert.match(link, /^(https|wss):\/\/errand\.example\.org\/(task|services)/);
  });
});
