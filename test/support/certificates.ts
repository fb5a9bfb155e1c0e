/**
 * Certificates made with the real openssl command in a temporary folder (issue 12): a CA, a server
 * certificate for 127.0.0.1 and localhost, client certificates signed by the CA, one with the
 * same subject signed by another CA, and an expired one. EC P-256 keys: quick to make.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface Pem { cert: Buffer; key: Buffer; certFile: string; keyFile: string }

export interface TestCertificates {
  dir: string;
  ca: Pem;
  otherCa: Pem;
  server: Pem;
  /** Signed by `ca`. */
  alice: Pem;
  bob: Pem;
  /** Alice's subject, signed by `otherCa`: must not pass for alice. */
  aliceFromOtherCa: Pem;
  /** Alice's subject, signed by `ca`, expired a day ago. */
  aliceExpired: Pem;
  /** Alice's subject, signed by `ca`, for servers only (extendedKeyUsage=serverAuth). */
  aliceServerOnly: Pem;
  close(): void;
}

export const ALICE_SUBJECT = '/C=GB/O=Example, Ltd/OU=Research/CN=alice';
export const BOB_SUBJECT = '/C=GB/O=Example, Ltd/OU=Research/CN=bob';

export function openssl(dir: string, args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function pem(dir: string, name: string): Pem {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  return { cert: readFileSync(certFile), key: readFileSync(keyFile), certFile, keyFile };
}

function makeCa(dir: string, name: string, subject: string): Pem {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', subject]);
  return pem(dir, name);
}

/** A key and a certificate signed by `ca`, with these extensions, valid `days` (negative: expired). */
export function makeSigned(dir: string, name: string, ca: string, subject: string, extensions: string, days = 2): Pem {
  openssl(dir, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', String(days), '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
  return pem(dir, name);
}

const CLIENT = 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n';

export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'errand-tls-'));
  const ca = makeCa(dir, 'ca', '/O=Errand Test/CN=Errand Test CA');
  const otherCa = makeCa(dir, 'other-ca', '/O=Errand Test/CN=Another CA');
  return {
    dir,
    ca,
    otherCa,
    server: makeSigned(dir, 'server', 'ca', '/CN=localhost', 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n'),
    alice: makeSigned(dir, 'alice', 'ca', ALICE_SUBJECT, CLIENT),
    bob: makeSigned(dir, 'bob', 'ca', BOB_SUBJECT, CLIENT),
    aliceFromOtherCa: makeSigned(dir, 'alice-other', 'other-ca', ALICE_SUBJECT, CLIENT),
    aliceExpired: makeSigned(dir, 'alice-expired', 'ca', ALICE_SUBJECT, CLIENT, -1),
    aliceServerOnly: makeSigned(dir, 'alice-server', 'ca', ALICE_SUBJECT, 'extendedKeyUsage=serverAuth\n'),
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}
