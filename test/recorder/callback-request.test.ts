/**
 * One callback attempt over HTTPS (issue 14): the certificate is checked against the URL's host
 * name while the connection goes to the address that was checked, a certificate from an unknown
 * CA fails the attempt, and a host taken off the list or a name that does not resolve is refused
 * before any connection.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { parseCallbackHosts } from '../../src/core/index.ts';
import { delivered, postCallback } from '../../src/recorder/index.ts';
import type { Resolver } from '../../src/recorder/index.ts';
import { makeTestCertificates } from '../support/certificates.ts';
import type { TestCertificates } from '../support/certificates.ts';

let certificates: TestCertificates;
let server: Server;
let port: number;
const hosts: string[] = [];

before(async () => {
  certificates = makeTestCertificates();
  // Its certificate names localhost and 127.0.0.1, signed by the tests' CA.
  server = createServer({ cert: certificates.server.cert, key: certificates.server.key }, (request, response) => {
    hosts.push(String(request.headers.host));
    request.resume();
    request.on('end', () => response.writeHead(204).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  certificates.close();
});

const toLoopback: Resolver = async () => [{ address: '127.0.0.1', family: 4 }];
const post = (url: string, allowed: string[], extra: { ca?: Buffer; allowPrivate?: boolean; resolve?: Resolver } = {}) => postCallback({
  url, body: '{}', headers: { 'content-type': 'application/json' }, timeoutMs: 10_000,
  allowlist: parseCallbackHosts(allowed, extra.allowPrivate ?? false), resolve: extra.resolve ?? toLoopback, ...(extra.ca ? { ca: extra.ca } : {}),
});

test('https to a name: connected to the address checked, the certificate verified for the name', async () => {
  const answer = await post(`https://localhost:${port}/hook`, [`localhost:${port}`], { ca: certificates.ca.cert });
  assert.ok(delivered(answer), JSON.stringify(answer));
  assert.equal(answer.statusCode, 204);
  assert.equal(hosts.at(-1), `localhost:${port}`);
  // Pinned to 127.0.0.1 but named otherwise: the certificate does not name it, so the attempt fails.
  const other = await post(`https://hooks.example.test:${port}/hook`, [`hooks.example.test:${port}`], { ca: certificates.ca.cert, allowPrivate: true });
  assert.equal(other.statusCode, null);
  assert.match(other.error!, /Hostname\/IP does not match certificate's altnames/);
});

test('a certificate from a CA Node does not trust fails the attempt', async () => {
  const answer = await post(`https://127.0.0.1:${port}/hook`, [`127.0.0.1:${port}`]);
  assert.equal(delivered(answer), false);
  assert.equal(answer.statusCode, null);
  assert.match(answer.error!, /certificate/);
});

test('refused before connecting: a host no longer listed, plain http no longer allowed, a name that does not resolve, or to no address', async () => {
  const before = hosts.length;
  assert.equal((await post(`https://127.0.0.1:${port}/hook`, ['hooks.example.org'])).error, `host 127.0.0.1:${port} is no longer allowed (--callback-hosts)`);
  assert.equal((await post('http://hooks.example.org/hook', ['hooks.example.org'])).error, 'plain http to hooks.example.org is no longer allowed (--callback-hosts)');
  const unresolvable: Resolver = async () => { throw new Error('getaddrinfo ENOTFOUND nowhere.example.org'); };
  assert.equal((await post('https://nowhere.example.org/hook', ['nowhere.example.org'], { resolve: unresolvable })).error, 'cannot resolve nowhere.example.org: getaddrinfo ENOTFOUND nowhere.example.org');
  assert.equal((await post('https://empty.example.org/hook', ['empty.example.org'], { resolve: async () => [] })).error, 'empty.example.org resolves to no address');
  const mixed: Resolver = async () => [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.7', family: 4 }];
  assert.match((await post('https://mixed.example.org/hook', ['mixed.example.org'], { resolve: mixed })).error!, /resolves to 10\.0\.0\.7, a private address/);
  assert.equal(hosts.length, before, 'no connection was made');
});
