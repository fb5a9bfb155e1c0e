/**
 * Reads the PEM files of --tls-cert, --tls-key and --client-ca at start (issue 12), so that a
 * missing file, a file that is not PEM, an encrypted key or a key of another certificate stops
 * `errand serve` with one line naming the flag, instead of a TLS error on the first connection.
 */
import { readFile } from 'node:fs/promises';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ErrandError } from '../core/index.ts';
import type { TlsFiles } from '../server/index.ts';
import type { Config } from './config.ts';

type TlsConfig = Pick<Config, 'tlsCertFile' | 'tlsKeyFile' | 'clientCaFile'>;

export async function readTlsFiles(config: TlsConfig): Promise<TlsFiles | undefined> {
  if (config.tlsCertFile === undefined || config.tlsKeyFile === undefined) return undefined;
  const cert = await read('tls-cert', config.tlsCertFile);
  const key = await read('tls-key', config.tlsKeyFile);
  const leaf = certificates('tls-cert', config.tlsCertFile, cert)[0]!;
  const privateKey = parseKey(config.tlsKeyFile, key);
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new ErrandError('invalid_field', `--tls-key ${config.tlsKeyFile} is not the key of the certificate in --tls-cert ${config.tlsCertFile} (the first certificate in the file must be the server's own)`, 'tls-key');
  }
  if (config.clientCaFile === undefined) return { cert, key };
  const clientCa = await read('client-ca', config.clientCaFile);
  certificates('client-ca', config.clientCaFile, clientCa);
  return { cert, key, clientCa };
}

async function read(flag: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new ErrandError('invalid_field', `--${flag} ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, flag);
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** Every certificate of a PEM file, at least one, each one parsed. */
function certificates(flag: string, path: string, pem: Buffer): X509Certificate[] {
  const blocks = pem.toString('latin1').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new ErrandError('invalid_field', `--${flag} ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`, flag);
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new ErrandError('invalid_field', `--${flag} ${path}: certificate ${index + 1} cannot be read (${(err as Error).message})`, flag);
    }
  });
}

function parseKey(path: string, pem: Buffer): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    const encrypted = /passphrase/i.test((err as Error).message) || pem.includes('ENCRYPTED');
    const why = encrypted ? 'it is encrypted; give an unencrypted key (openssl pkey -in key.pem -out plain.pem) readable only by Errand' : `not a PEM private key: ${(err as Error).message}`;
    throw new ErrandError('invalid_field', `--tls-key ${path}: ${why}`, 'tls-key');
  }
}
