/**
 * Capability links (issue 12): the keyring a server signs and verifies tokens with. `errand serve`
 * takes it from config only (--capability-secret, the same on every replica, or tokens signed by one
 * fail on another). `errand dev` needs no configuration: it makes a random secret the first time and
 * keeps it in its data dir, so that links it handed out still work after a restart.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { capabilityKeyring, ErrandError, secretStrengthProblem } from '../core/index.ts';
import type { CapabilityKeyring } from '../core/index.ts';
import type { Config } from './config.ts';

/** The file in dev's --data-dir (next to PGlite's files, which PostgreSQL leaves alone). */
export const DEV_SECRET_FILE = 'errand-capability-secret';

/**
 * The keyring for `command`, or undefined when none is configured and the command may not make
 * one (serve, recorder: their links then carry no token).
 */
export async function capabilityKeyringFor(config: Config, command: string): Promise<CapabilityKeyring | undefined> {
  if (config.capabilitySecret !== undefined) return capabilityKeyring(config.capabilitySecret, config.capabilitySecretsPrevious);
  if (command !== 'dev') return undefined;
  return capabilityKeyring(await devCapabilitySecret(config.dataDir));
}

/**
 * The secret kept in `dataDir`, made on first use: 32 random bytes, base64url, readable by its owner
 * only. Written aside and linked into place, which fails if the file exists: two processes starting
 * on one fresh dir end up sharing one secret, and neither ever reads a half-written file.
 */
export async function devCapabilitySecret(dataDir: string): Promise<string> {
  const file = join(dataDir, DEV_SECRET_FILE);
  const secret = (await readIfThere(file)) ?? (await create(file));
  const problem = secretStrengthProblem(secret);
  if (problem !== undefined) {
    throw new ErrandError('invalid_field', `the capability secret in ${file} ${problem}; delete the file to have a new one made (links already handed out stop working)`, 'capability-secret');
  }
  return secret;
}

async function readIfThere(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function create(file: string): Promise<string> {
  await mkdir(dirname(file), { recursive: true });
  const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(aside, `${randomBytes(32).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
    await link(aside, file);
  } catch (err) {
    // Another process made it first: theirs is the one.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await rm(aside, { force: true });
  }
  return (await readFile(file, 'utf8')).trim();
}
