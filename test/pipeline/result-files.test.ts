/**
 * Result files a script (or a hostile worker) chooses cannot hurt the API's users or the server:
 * files are served with nosniff, a CSP sandbox and `attachment` unless inert; a file name no file
 * may have fails the task `invalid_result` (checked by the worker, and again by the recorder);
 * results over the bounds fail `result_too_large`, with the bound in the message. Through the Node
 * (child process) and command runtimes, and by hand-made messages on the reply queue.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { RESULT_QUEUE } from '../../src/core/index.ts';
import type { ResultLimits } from '../../src/core/index.ts';
import { startJanitor } from '../../src/recorder/index.ts';
import { loadServiceDir } from '../../src/worker/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, testLogger } from '../support/backends.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { echo } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const SERVICES = fileURLToPath(new URL('../fixtures/result-services/', import.meta.url));

// The worker's bounds are tighter than the recorder's: what the worker lets through, a recorder
// would take, so a refusal by the worker is the worker's. Hand-made messages go past the worker.
const WORKER_LIMITS: ResultLimits = { maxFiles: 12, maxFileBytes: 10_000, maxResultBytes: 50_000 };
const RECORDER_LIMITS: ResultLimits = { maxFiles: 14, maxFileBytes: 20_000, maxResultBytes: 100_000 };

/** A GET whose path goes out exactly as written. */
function rawGet(url: string): Promise<{ status: number; contentType: string; body: string }> {
  const { hostname, port } = new URL(url);
  const path = url.replace(/^https?:\/\/[^/]+/, '');
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: hostname, port, path, method: 'GET' }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode!, contentType: response.headers['content-type'] ?? '', body }));
    });
    request.on('error', reject);
    request.end();
  });
}

interface Part { name: string; type?: string; content: string | Buffer }

/** A multipart result written byte by byte, as a hostile worker could: names go out raw (UTF-8). */
function multipart(index: unknown, parts: Part[]): { body: Buffer; contentType: string } {
  const boundary = 'errand-test-boundary';
  const chunks: Buffer[] = [
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="index"; filename="index.json"\r\nContent-Type: application/json\r\n\r\n${JSON.stringify(index)}\r\n`),
  ];
  for (const part of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="`), Buffer.from(part.name, 'utf8'));
    chunks.push(Buffer.from(`"\r\nContent-Type: ${part.type ?? 'text/plain'}\r\n\r\n`), Buffer.from(part.content), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

await describeEachBackend('result files and result bounds', (kind) => {
  let backend: Backend;
  let stack: Stack;

  before(async () => {
    backend = await kind.create();
    const { services, problems } = await loadServiceDir(SERVICES, { defaultConcurrency: 2, logger: testLogger });
    assert.deepEqual(problems, []);
    stack = await startStack(backend, { services, settings: { allowUnknownServices: true }, workerLimits: WORKER_LIMITS, recorderLimits: RECORDER_LIMITS });
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  /** Submits, waits for the end, and returns the task as GET /task/:id describes it. */
  async function run(service: string, input: unknown): Promise<Record<string, any>> {
    const { response, json } = await postTask(stack.baseUrl, service, input);
    assert.equal(response.status, 201, JSON.stringify(json));
    await watchUpdates(json._links.updates.href);
    return (await (await fetch(json._links.self.href)).json()) as Record<string, any>;
  }

  /** Sends a reply for a task of a service no worker runs, as a worker would, and waits for the task to end. */
  async function reply(message: { body: Buffer; contentType: string }): Promise<Record<string, any>> {
    const { json } = await postTask(stack.baseUrl, 'manual', {});
    const watching = watchUpdates(json._links.updates.href);
    await backend.broker.send(RESULT_QUEUE, message.body, { correlationId: json.id, contentType: message.contentType });
    await watching;
    return (await (await fetch(json._links.self.href)).json()) as Record<string, any>;
  }

  function assertFailed(task: Record<string, any>, code: string, ...mentions: string[]): void {
    assert.equal(task.status, 'failed', JSON.stringify(task));
    assert.equal(task.error.code, code, task.error.message);
    for (const text of mentions) assert.ok(task.error.message.includes(text), `${JSON.stringify(task.error.message)} does not mention ${text}`);
  }

  test('every result file is served with nosniff and a CSP sandbox; only inert types inline, with a sanitised content type', async () => {
    const task = await run('nodefiles', { mode: 'classes' });
    assert.equal(task.status, 'done', JSON.stringify(task));
    const expected: Array<[name: string, type: string, disposition: 'inline' | 'attachment']> = [
      ['report.html', 'text/html', 'attachment'],
      ['plot.svg', 'image/svg+xml', 'attachment'],
      ['data.xml', 'application/xml', 'attachment'],
      ['code.js', 'text/javascript', 'attachment'],
      ['plot.png', 'image/png', 'inline'],
      ['notes.txt', 'text/plain; charset=utf-8', 'inline'],
      ['data.json', 'application/json; charset=utf-8', 'inline'],
      ['table.csv', 'text/csv; charset=iso-8859-1', 'inline'],
      // The script said `Text/HTML; charset="utf-7"; x=y`: HTML all the same, parameters dropped.
      ['sneaky.txt', 'text/html', 'attachment'],
      ['odd.dat', 'application/octet-stream', 'attachment'],
    ];
    for (const [name, type, disposition] of expected) {
      const response = await fetch(`${task._links.self.href}/results/${encodeURIComponent(name)}`);
      assert.equal(response.status, 200, name);
      assert.equal(response.headers.get('content-type'), type, name);
      assert.equal(response.headers.get('content-disposition'), `${disposition}; filename="${name}"; filename*=UTF-8''${name}`, name);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', name);
      assert.equal(response.headers.get('content-security-policy'), "sandbox; default-src 'none'", name);
      await response.arrayBuffer();
    }
    // Any name is safe in the header: a quoted ASCII fallback and the exact name, percent-encoded.
    const name = 'r\u00e9sum\u00e9 "final" 100%.txt';
    const response = await fetch(`${task._links.self.href}/results/${encodeURIComponent(name)}`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-disposition'), `inline; filename="r_sum_ _final_ 100_.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22%20100%25.txt`);
    assert.equal(await response.text(), 'r\u00e9sum\u00e9');
    // The other routes that return what a script or client wrote are never sniffed either.
    for (const route of ['results', 'task']) {
      assert.equal((await fetch(`${task._links.self.href}/${route}`)).headers.get('x-content-type-options'), 'nosniff', route);
    }
  });

  test('a content type stored with CR/LF and parameters cannot break or add headers', async () => {
    const task = await run('nodefiles', { mode: 'classes' });
    await backend.db.query(
      "UPDATE task_file SET content_type = $2 WHERE task_id = $1::bigint AND name = 'notes.txt'",
      [BigInt(`0x${task.id}`).toString(), 'text/plain; charset=utf-8\r\nSet-Cookie: stolen=1\r\n\r\n<script>'],
    );
    const response = await fetch(`${task._links.self.href}/results/notes.txt`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(response.headers.get('set-cookie'), null);
  });

  test('a name no result file can have answers 404 in Errand\'s shape, never 500', async () => {
    const task = await run('cmdfiles', { mode: 'ok' });
    assert.equal(task.status, 'done');
    assert.equal((await fetch(`${task._links.self.href}/results/table.csv`)).status, 200);
    // The longest name a file may have is served (Fastify's own bound on a path part would be 100 characters).
    const longest = 'y'.repeat(255);
    const long = await run('nodefiles', { mode: 'name', codes: [...longest].map((c) => c.charCodeAt(0)) });
    assert.equal(long.status, 'done', JSON.stringify(long));
    assert.equal((await rawGet(`${long._links.self.href}/results/${longest}`)).status, 200);
    for (const raw of ['%00', '..', '%2E%2E', '%2E', 'a%5Cb', '%01', '%7F', '%C2%85', '%C3%A9'.repeat(128), 'table.csv%00']) {
      // Sent as written: fetch would resolve a `..` segment before sending.
      const response = await rawGet(`${task._links.self.href}/results/${raw}`);
      assert.equal(response.status, 404, raw);
      assert.match(response.contentType, /^application\/json/, raw);
      const body = JSON.parse(response.body) as { error: { code: string; field: string } };
      assert.equal(body.error.code, 'not_found', raw);
      assert.equal(body.error.field, 'file', raw);
    }
  });

  test('Node runtime: a file name that cannot be served fails the task invalid_result, naming the file', async () => {
    for (const name of ['..', '.', 'a/b', 'a\\b', 'bell\u0007', 'nul\u0000', 'del\u007f', 'c1\u0085', 'lone\ud800', '\u00e9'.repeat(128), '']) {
      const task = await run('nodefiles', { mode: 'name', codes: [...name].map((c) => c.charCodeAt(0)) });
      assertFailed(task, 'invalid_result', JSON.stringify(name));
    }
  });

  test('command runtime: a file name that cannot be served fails the task invalid_result, naming the file', async () => {
    for (const [mode, name] of [['newline', 'bad\nname.txt'], ['backslash', 'a\\b.txt'], ['control', 'bell\u0007.txt']]) {
      const task = await run('cmdfiles', { mode: mode! });
      assertFailed(task, 'invalid_result', JSON.stringify(name));
    }
  });

  test('Node runtime: too many files, a file too large, or a result too large fails result_too_large with the bound', async () => {
    assertFailed(await run('nodefiles', { mode: 'many', count: 13 }), 'result_too_large', '13 files', 'limit of 12 files');
    assertFailed(await run('nodefiles', { mode: 'big', bytes: 15_000 }), 'result_too_large', '"big.bin"', '10000 bytes per file');
    assertFailed(await run('nodefiles', { mode: 'bigindex', bytes: 60_000 }), 'result_too_large', '50000 bytes per result');
    assert.equal((await run('nodefiles', { mode: 'many', count: 12 })).status, 'done');
  });

  test('command runtime: too many files, a file too large, or a result too large fails result_too_large with the bound', async () => {
    assertFailed(await run('cmdfiles', { mode: 'many', n: 13 }), 'result_too_large', '13 files', 'limit of 12 files');
    assertFailed(await run('cmdfiles', { mode: 'big', n: 15_000 }), 'result_too_large', '"big.bin"', '10000 bytes per file');
    assertFailed(await run('cmdfiles', { mode: 'bigout', n: 60_000 }), 'result_too_large', '50000 bytes per result');
    assert.equal((await run('cmdfiles', { mode: 'many', n: 12 })).status, 'done');
  });

  test('recorder: a hostile worker\'s file names are refused on arrival (invalid_result), and nothing is stored', async () => {
    for (const name of ['..', '.', 'a/b', 'a\\b', 'a\u0001b', 'nul\u0000', 'del\u007f', 'c1\u0085', 'e'.repeat(256)]) {
      const task = await reply(multipart({ plot: { href: name } }, [{ name, type: 'text/html', content: '<script>alert(1)</script>' }]));
      assertFailed(task, 'invalid_result', JSON.stringify(name));
      const files = await backend.db.query<{ n: number }>('SELECT count(*)::int AS n FROM task_file WHERE task_id = $1::bigint', [BigInt(`0x${task.id}`).toString()]);
      assert.equal(files.rows[0]!.n, 0, name);
    }
  });

  test('recorder: a hostile worker\'s result over the bounds fails result_too_large with the bound', async () => {
    const files = (n: number, bytes = 1): Part[] => Array.from({ length: n }, (_, i) => ({ name: `f${i}.txt`, content: Buffer.alloc(bytes, 97) }));
    assertFailed(await reply(multipart({}, files(15))), 'result_too_large', '15 files', 'limit of 14 files');
    assertFailed(await reply(multipart({}, [{ name: 'big.bin', content: Buffer.alloc(25_000) }])), 'result_too_large', '"big.bin"', '20000 bytes per file');
    assertFailed(await reply(multipart({}, files(5, 19_999))), 'result_too_large', '100000 bytes per result');
    const bigJson = Buffer.from(JSON.stringify({ pad: 'x'.repeat(150_000) }));
    assertFailed(await reply({ body: bigJson, contentType: 'application/json' }), 'result_too_large', `${bigJson.length} bytes`, '100000 bytes per result');
    // Within the bounds, all is kept.
    const kept = await reply(multipart({ n: 5 }, files(5, 100)));
    assert.equal(kept.status, 'done', JSON.stringify(kept));
  });

  test("the server's default ttl applies to a submission without one, and the janitor removes the task once it has passed", async () => {
    const own = await startStack(backend, { services: [echo('ttl-echo')], recorder: false, nodeId: 7, settings: { defaultTtl: 'PT0S' } });
    const janitor = startJanitor({ store: backend.store, broker: backend.broker, logger: testLogger });
    try {
      const short = await postTask(own.baseUrl, 'ttl-echo', { n: 1 });
      const kept = await postTask(own.baseUrl, 'ttl-echo', { n: 2 }, { ttl: 'PT1H' });
      for (const task of [short, kept]) await watchUpdates(task.json._links.updates.href);
      await eventually(async () => (await janitor.sweep()) >= 0 && (await fetch(short.json._links.self.href)).status === 404, 'the task past the default ttl to be removed');
      assert.equal((await fetch(kept.json._links.self.href)).status, 200);
    } finally {
      await janitor.stop();
      await own.close();
    }
  });
});
