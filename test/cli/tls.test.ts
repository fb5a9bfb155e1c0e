/** --tls-cert, --tls-key and --client-ca are read at start, and a bad one stops with one line naming it (issue 12). */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readTlsFiles } from '../../src/cli/tls.ts';
import { ErrandError } from '../../src/core/index.ts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { request } from 'node:https';
import { makeTestCertificates, openssl } from '../support/certificates.ts';
import { spawnErrand } from '../support/processes.ts';
import { eventually } from '../support/wait.ts';
import type { TestCertificates } from '../support/certificates.ts';

let certs: TestCertificates;
before(() => { certs = makeTestCertificates(); });
after(() => certs.close());

test('the files are read: certificate, key and CA bundle', async () => {
  const files = await readTlsFiles({ tlsCertFile: certs.server.certFile, tlsKeyFile: certs.server.keyFile, clientCaFile: certs.ca.certFile });
  assert.deepEqual(files, { cert: certs.server.cert, key: certs.server.key, clientCa: certs.ca.cert });
  assert.deepEqual(await readTlsFiles({ tlsCertFile: certs.server.certFile, tlsKeyFile: certs.server.keyFile }), { cert: certs.server.cert, key: certs.server.key });
  assert.equal(await readTlsFiles({}), undefined);
});

test('a missing, non-PEM, mismatched or encrypted file is refused in one line naming its flag', async () => {
  const notPem = join(certs.dir, 'not.pem');
  writeFileSync(notPem, 'hello\n');
  const broken = join(certs.dir, 'broken.pem');
  writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  openssl(certs.dir, ['pkey', '-in', 'server.key', '-aes256', '-passout', 'pass:secret', '-out', 'encrypted.key']);
  const server = { tlsCertFile: certs.server.certFile, tlsKeyFile: certs.server.keyFile };
  const cases: [Parameters<typeof readTlsFiles>[0], string, RegExp][] = [
    [{ ...server, tlsCertFile: join(certs.dir, 'missing.pem') }, 'tls-cert', /--tls-cert .*missing\.pem: cannot read it \(ENOENT\)/],
    [{ ...server, tlsCertFile: notPem }, 'tls-cert', /holds no PEM certificate/],
    [{ ...server, tlsCertFile: broken }, 'tls-cert', /certificate 1 cannot be read/],
    [{ ...server, tlsKeyFile: notPem }, 'tls-key', /--tls-key .*not a PEM private key/],
    [{ ...server, tlsKeyFile: join(certs.dir, 'encrypted.key') }, 'tls-key', /it is encrypted/],
    [{ ...server, tlsKeyFile: certs.alice.keyFile }, 'tls-key', /is not the key of the certificate in --tls-cert/],
    [{ ...server, clientCaFile: notPem }, 'client-ca', /--client-ca .*holds no PEM certificate/],
    [{ ...server, clientCaFile: certs.dir }, 'client-ca', /cannot read it \(EISDIR\)/],
  ];
  for (const [config, field, message] of cases) {
    await assert.rejects(readTlsFiles(config), (err: unknown) => err instanceof ErrandError && err.field === field && message.test(err.message) && !err.message.includes('\n'), `${field} ${message}`);
  }
});

test('errand serve with a key of another certificate stops at start with one line', async () => {
  const serve = spawnErrand(['serve', '--public-url', 'https://errand.example.org', '--tls-cert', certs.server.certFile, '--tls-key', certs.alice.keyFile]);
  const { code } = await serve.exited;
  assert.equal(code, 1);
  assert.match(serve.output(), /^errand: --tls-key .* is not the key of the certificate in --tls-cert .*\n$/);
});

test('errand dev with TLS files serves HTTPS, prints https links, and knows client certificates', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'errand-dev-tls-'));
  const dev = spawnErrand(['dev', '--port', '0', '--data-dir', dataDir, '--tls-cert', certs.server.certFile, '--tls-key', certs.server.keyFile, '--client-ca', certs.ca.certFile]);
  try {
    await eventually(() => dev.output().includes('Ctrl-C stops') || dev.child.exitCode !== null, 'errand dev to print its banner', 60_000);
    const base = /Open (\S+)\//.exec(dev.output())?.[1];
    assert.match(base ?? '', /^https:\/\/127\.0\.0\.1:\d+$/, dev.output());
    const status = await new Promise<number>((resolve, reject) => {
      request(`${base}/healthz`, { ca: certs.ca.cert, cert: certs.alice.cert, key: certs.alice.key }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject).end();
    });
    assert.equal(status, 200);
  } finally {
    await dev.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
