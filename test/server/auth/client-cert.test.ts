/**
 * Client certificates over real TLS (issue 12): certificates made with openssl, a server started
 * with --tls-cert/--tls-key/--client-ca settings, and real TLS clients. Each client gets its own
 * principal or none (no certificate, another CA's, an expired one), over HTTPS and over wss; the
 * handshake never refuses a client for its certificate; the HTTP limits of issue 11 hold on the
 * HTTPS server; a plain-HTTP request to the TLS port is dropped without harm. TLS does not touch
 * the backends, so this runs on the embedded one only.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { connect as tcpConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { pino } from 'pino';
import type { FastifyInstance } from 'fastify';
import { FlakeIdGenerator, parseScopes } from '../../../src/core/index.ts';
import { startRecorder } from '../../../src/recorder/index.ts';
import type { Recorder } from '../../../src/recorder/index.ts';
import { createApp } from '../../../src/server/index.ts';
import type { ServerSettings } from '../../../src/server/index.ts';
import { certificatePrincipal, rfc4514Subject } from '../../../src/server/auth/client-cert.ts';
import { tlsServerOptions } from '../../../src/server/tls-options.ts';
import { httpLimits } from '../../../src/server/http-options.ts';
import { clientErrorHandler } from '../../../src/server/client-errors.ts';
import { PassThrough } from 'node:stream';
import { startWorker } from '../../../src/worker/index.ts';
import type { Worker } from '../../../src/worker/index.ts';
import { embeddedBackend, testLogger } from '../../support/backends.ts';
import type { Backend } from '../../support/backends.ts';
import { makeTestCertificates, openssl } from '../../support/certificates.ts';
import type { Pem, TestCertificates } from '../../support/certificates.ts';
import { rawRequest } from '../../support/raw-http.ts';
import { echo } from '../../support/services.ts';

const ALICE = 'cert:CN=alice,OU=Research,O=Example\\, Ltd,C=GB';
const BOB = 'cert:CN=bob,OU=Research,O=Example\\, Ltd,C=GB';

describe('certificate subjects', () => {
  test('are written most specific RDN first, multi-valued RDNs joined by +, escapes kept', () => {
    assert.equal(rfc4514Subject('C=GB\nO=Example\\, Ltd\nCN=alice'), 'CN=alice,O=Example\\, Ltd,C=GB');
    // A multi-valued RDN: Node joins its values with " + "; an escaped + inside a value is not a separator.
    assert.equal(rfc4514Subject('C=GB\nOU=R\\+D + O=Ex\\, Ltd\nCN=a'), 'CN=a,O=Ex\\, Ltd+OU=R\\+D,C=GB');
    // A value ending in an escaped backslash, then the separator.
    assert.equal(rfc4514Subject('OU=a\\\\ + O=b'), 'O=b+OU=a\\\\');
    // A value with an escaped trailing space before the separator.
    assert.equal(rfc4514Subject('OU=a\\  + O=b'), 'O=b+OU=a\\ ');
    assert.equal(rfc4514Subject('CN=zoë\\01x\nDC=org'), 'DC=org,CN=zoë\\01x');
    assert.equal(rfc4514Subject(undefined), '');
    assert.equal(rfc4514Subject(''), '');
  });

  test('match what openssl prints with -nameopt RFC2253,-esc_msb, for awkward subjects too', (t) => {
    const certs = makeTestCertificates();
    t.after(() => certs.close());
    openssl(certs.dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'odd.key', '-out', 'odd.pem', '-days', '1', '-utf8', '-multivalue-rdn',
      '-subj', '/DC=org/DC=example/O=Ex, Ltd+OU=R\\+D/OU=a;b<c>"q"/CN= zoë #1 /emailAddress=z@example.org']);
    for (const file of ['alice.pem', 'bob.pem', 'server.pem', 'ca.pem', 'odd.pem']) {
      const printed = openssl(certs.dir, ['x509', '-in', file, '-noout', '-subject', '-nameopt', 'RFC2253,-esc_msb']).trim().replace(/^subject=/, '');
      const ours = rfc4514Subject(new X509Certificate(openssl(certs.dir, ['x509', '-in', file])).subject);
      assert.equal(ours, printed, file);
    }
  });

  test('client certificates are asked for only with a CA bundle, and never make the handshake fail', () => {
    const limits = httpLimits({ headersTimeoutMs: 5000 });
    const plain = tlsServerOptions({ cert: Buffer.from('c'), key: Buffer.from('k') }, limits);
    assert.equal('requestCert' in plain, false);
    assert.equal(plain.handshakeTimeout, 5000);
    const withCa = tlsServerOptions({ cert: Buffer.from('c'), key: Buffer.from('k'), clientCa: Buffer.from('ca') }, limits);
    assert.deepEqual([withCa.requestCert, withCa.rejectUnauthorized, withCa.ca], [true, false, Buffer.from('ca')]);
  });
});

test('a TLS failure handed to the client error handler is dropped, not answered in HTTP into a connection with no TLS session', () => {
  const handle = clientErrorHandler(httpLimits({}));
  for (const code of ['ERR_SSL_HTTP_REQUEST', 'ERR_TLS_HANDSHAKE_TIMEOUT']) {
    const socket = new PassThrough();
    const written: string[] = [];
    socket.on('data', (chunk: Buffer) => written.push(chunk.toString()));
    handle(Object.assign(new Error('tls'), { code }), socket);
    assert.equal(socket.destroyed, true, code);
    assert.deepEqual(written, [], code);
  }
});

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** One HTTPS request on a new connection, with a client certificate or none. */
function fetchTls(port: number, path: string, ca: Buffer, client?: Pem, init: { method?: string; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1', port, path, method: init.method ?? 'GET', ca, agent: false,
      ...(client ? { cert: client.cert, key: client.key } : {}),
      headers: init.body !== undefined ? { 'content-type': 'application/json' } : {},
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Raw bytes over TLS: what came back once the server closed the connection. */
function rawTls(port: number, ca: Buffer, bytes: string): Promise<{ status: number; body: string; raw: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => socket.write(bytes));
    let raw = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => { raw += chunk; });
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0), body: raw.slice(raw.indexOf('\r\n\r\n') + 4), raw }));
    socket.on('error', (err: NodeJS.ErrnoException) => { if (err.code !== 'ECONNRESET') reject(err); });
  });
}

function openSocket(url: string, ca: Buffer, client?: Pem): Promise<{ socket: WebSocket; first: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { ca, ...(client ? { cert: client.cert, key: client.key } : {}) });
    const first = new Promise<string>((res) => socket.once('message', (data) => res(data.toString())));
    socket.once('open', () => resolve({ socket, first }));
    socket.once('error', reject);
  });
}

describe('an HTTPS server with --client-ca', () => {
  let certs: TestCertificates;
  let backend: Backend;
  let app: FastifyInstance;
  let worker: Worker;
  let recorder: Recorder;
  let port: number;
  let base: string;
  /** The server's log, at debug level: unverified certificates are said there. */
  const logLines: Record<string, unknown>[] = [];
  before(async () => {
    certs = makeTestCertificates();
    backend = await embeddedBackend.create();
    worker = await startWorker({ broker: backend.broker, services: [echo()], logger: testLogger });
    const settings: ServerSettings = {
      bodyLimit: 1024 * 1024, maxJsonDepth: 64, allowUnknownServices: false,
      tls: { cert: certs.server.cert, key: certs.server.key, clientCa: certs.ca.cert },
      clientCertGrant: parseScopes(['submit:echo', 'read']),
      // Certificates are the only credential: routes know callers by them alone.
      auth: { required: true },
      maxHeaderSize: 4096,
      // It bounds the TLS handshake too: long against a busy machine, short enough to wait for.
      headersTimeoutMs: 3000,
    };
    const logger = pino({ level: 'debug' }, { write: (line: string) => { logLines.push(JSON.parse(line) as Record<string, unknown>); } });
    app = await createApp({ store: backend.store, broker: backend.broker, ids: new FlakeIdGenerator(1), logger, settings });
    // A route of this test only: who the connection's certificate says the caller is.
    const whoami = (request: Parameters<typeof certificatePrincipal>[0]) => {
      const principal = certificatePrincipal(request, settings);
      return principal ? { id: principal.id, via: principal.via, scopes: [...principal.scopes].sort(), services: principal.services ? [...principal.services] : null } : null;
    };
    app.route({ method: 'GET', url: '/test/whoami', config: { websocket: true }, handler: (request) => ({ principal: whoami(request) }), wsHandler: (socket, request) => socket.send(JSON.stringify({ principal: whoami(request) })) });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    port = Number(new URL(base).port);
    recorder = await startRecorder({ store: backend.store, broker: backend.broker, logger: testLogger, publicUrl: base, prefetch: 16, retryDelayMs: 50 });
  });
  after(async () => {
    await app?.close();
    await worker?.close();
    await recorder?.close();
    await backend?.close();
    certs?.close();
  });

  test('listens on https', () => {
    assert.match(base, /^https:\/\/127\.0\.0\.1:\d+$/);
  });

  test('each client certificate signed by the CA is its own principal, with the certificate scopes', async () => {
    const alice = JSON.parse((await fetchTls(port, '/test/whoami', certs.ca.cert, certs.alice)).body);
    assert.deepEqual(alice, { principal: { id: ALICE, via: 'client-cert', scopes: ['read', 'submit'], services: ['echo'] } });
    const bob = JSON.parse((await fetchTls(port, '/test/whoami', certs.ca.cert, certs.bob)).body);
    assert.equal(bob.principal.id, BOB);
  });

  for (const [name, pick, reason] of [
    ['no certificate', () => undefined, undefined],
    ['the same subject from another CA', (c: TestCertificates) => c.aliceFromOtherCa, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['an expired certificate', (c: TestCertificates) => c.aliceExpired, 'CERT_HAS_EXPIRED'],
    ['a certificate for servers only', (c: TestCertificates) => c.aliceServerOnly, 'INVALID_PURPOSE'],
  ] as const) {
    test(`${name}: the handshake succeeds and the caller has no certificate principal`, async () => {
      logLines.length = 0;
      const answer = await fetchTls(port, '/test/whoami', certs.ca.cert, pick(certs));
      assert.equal(answer.status, 200);
      assert.deepEqual(JSON.parse(answer.body), { principal: null });
      const said = logLines.filter((line) => /does not verify/.test(String(line.msg)));
      if (reason === undefined) assert.deepEqual(said, []);
      else assert.deepEqual(said.map((line) => [line.level, line.reason, line.subject]), [[20, reason, ALICE.slice('cert:'.length)]]);
    });
  }

  test('a WebSocket over wss carries the certificate principal too', async () => {
    const wsBase = base.replace(/^https/, 'wss');
    const alice = await openSocket(`${wsBase}/test/whoami`, certs.ca.cert, certs.alice);
    assert.equal(JSON.parse(await alice.first).principal.id, ALICE);
    alice.socket.close();
    const nobody = await openSocket(`${wsBase}/test/whoami`, certs.ca.cert, certs.aliceFromOtherCa);
    assert.deepEqual(JSON.parse(await nobody.first), { principal: null });
    nobody.socket.close();
  });

  test('a task submitted over HTTPS has https and wss links, and its updates arrive over wss', async () => {
    const posted = await fetchTls(port, '/task?service=echo', certs.ca.cert, certs.alice, { method: 'POST', body: '{"x":1}' });
    assert.equal(posted.status, 201, posted.body);
    const task = JSON.parse(posted.body) as { id: string; _links: { self: { href: string }; updates: { href: string } } };
    assert.equal(task._links.self.href, `${base}/task/${task.id}`);
    assert.equal(task._links.updates.href, `${base.replace(/^https/, 'wss')}/task/${task.id}/updates`);
    const updates = new WebSocket(task._links.updates.href, { ca: certs.ca.cert, cert: certs.alice.cert, key: certs.alice.key });
    const types: string[] = [];
    await new Promise<void>((resolve, reject) => {
      updates.on('message', (data) => types.push((JSON.parse(data.toString()) as { eventType: string }).eventType));
      updates.on('close', () => resolve());
      updates.on('error', reject);
    });
    assert.equal(types.at(-1), 'done');
    const results = await fetchTls(port, `/task/${task.id}/results`, certs.ca.cert, certs.alice);
    assert.deepEqual(JSON.parse(results.body), { x: 1 });
  });

  test('a certificate\'s principal owns what it submits: the other certificate sees nothing (404), no certificate is a 401', async () => {
    const posted = await fetchTls(port, '/task?service=echo', certs.ca.cert, certs.alice, { method: 'POST', body: '{"secret":"alice-only"}' });
    assert.equal(posted.status, 201, posted.body);
    const { id } = JSON.parse(posted.body) as { id: string };
    assert.equal((await backend.store.getTask(id))?.owner, ALICE);
    for (const path of [`/task/${id}`, `/task/${id}/task`, `/task/${id}/results`]) {
      const asBob = await fetchTls(port, path, certs.ca.cert, certs.bob);
      assert.equal(asBob.status, 404, `${path} as bob: ${asBob.body}`);
      assert.doesNotMatch(asBob.body, /alice-only/);
      const fromOtherCa = await fetchTls(port, path, certs.ca.cert, certs.aliceFromOtherCa);
      assert.equal(fromOtherCa.status, 401, `${path} with alice's subject from another CA`);
      assert.equal((await fetchTls(port, path, certs.ca.cert, undefined)).status, 401, `${path} with no certificate`);
    }
    const asAlice = await fetchTls(port, `/task/${id}/task`, certs.ca.cert, certs.alice);
    assert.deepEqual(JSON.parse(asAlice.body), { secret: 'alice-only' });
    // The certificate scopes: submit to echo only, and no cancel.
    assert.equal((await fetchTls(port, '/task?service=other', certs.ca.cert, certs.alice, { method: 'POST', body: '{}' })).status, 403);
    assert.equal((await fetchTls(port, `/task/${id}`, certs.ca.cert, certs.alice, { method: 'DELETE' })).status, 403);
  });

  test("issue 11's header limit and Host check hold on the HTTPS server", async () => {
    const big = await rawTls(port, certs.ca.cert, `GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(8000)}\r\nConnection: close\r\n\r\n`);
    assert.equal(big.status, 431, big.raw.slice(0, 200));
    assert.equal(JSON.parse(big.body).error.code, 'headers_too_large');
    const noHost = await rawTls(port, certs.ca.cert, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
    assert.equal(noHost.status, 400, noHost.raw.slice(0, 200));
    assert.equal(JSON.parse(noHost.body).error.field, 'host');
  });

  test('a connection that never starts its TLS handshake is closed (within --headers-timeout)', async () => {
    const closed = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect({ host: '127.0.0.1', port });
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(true));
    });
    assert.equal(closed, true);
  });

  test('a plain-HTTP request to the TLS port is dropped, and the server goes on serving', async () => {
    const plain = await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    assert.equal(plain.closedByServer, true);
    assert.equal(plain.status, 0, plain.raw.slice(0, 200));
    const after = await fetchTls(port, '/test/whoami', certs.ca.cert, certs.bob);
    assert.equal(JSON.parse(after.body).principal.id, BOB);
  });
});
