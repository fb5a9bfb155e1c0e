/** Capability links (issue 12): where serve and dev get the secret that signs them. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { capabilityKeyringFor, DEV_SECRET_FILE, devCapabilitySecret } from '../../src/cli/capability-secret.ts';
import { readConfig } from '../../src/cli/config.ts';
import { capabilityKeyId, issueCapability, isErrandError, secretStrengthProblem, verifyCapability } from '../../src/core/index.ts';

let root: string;
before(async () => { root = await mkdtemp(join(tmpdir(), 'errand-capability-')); });
after(async () => { await rm(root, { recursive: true, force: true }); });

const SECRET = 'q3cKb1oG0X9vJ3nq5mRzT7wYp2dLhF8sAeUiOkBcNtM';
const PREVIOUS = 'Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jh0GfEdCbA9z8y7x6wQ';
const TASK = '0186f2a4c1000001';

test('dev with no secret makes a strong one in its data dir, private to its owner, and keeps it across restarts', async () => {
  const dataDir = join(root, 'fresh', 'dev');
  const config = readConfig(['dev', '--data-dir', dataDir], {}).config;
  const first = await capabilityKeyringFor(config, 'dev');
  assert.ok(first);
  assert.equal(secretStrengthProblem(first.signing.secret), undefined);
  const file = join(dataDir, DEV_SECRET_FILE);
  assert.equal((await readFile(file, 'utf8')).trim(), first.signing.secret);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  // A token from before the "restart" verifies after it.
  const token = issueCapability(TASK, { ...first.signing, lifetimeMs: 60_000, now: 0 });
  const again = await capabilityKeyringFor(readConfig(['dev', '--data-dir', dataDir], {}).config, 'dev');
  assert.equal(verifyCapability(token, TASK, { secrets: again!.secrets, now: 1 }).kind, 'ok');
  // Another data dir, another secret.
  assert.notEqual(await devCapabilitySecret(join(root, 'other')), first.signing.secret);
});

test('processes starting together on one fresh data dir end up with one secret', async () => {
  const dataDir = join(root, 'race');
  const secrets = await Promise.all(Array.from({ length: 8 }, () => devCapabilitySecret(dataDir)));
  assert.equal(new Set(secrets).size, 1);
});

test('a configured secret wins, in dev too; serve and recorder without one issue no capabilities', async () => {
  const dataDir = join(root, 'configured');
  const env = { ERRAND_CAPABILITY_SECRET: SECRET, ERRAND_CAPABILITY_SECRET_PREVIOUS: PREVIOUS };
  const dev = await capabilityKeyringFor(readConfig(['dev', '--data-dir', dataDir], env).config, 'dev');
  assert.equal(dev?.signing.secret, SECRET);
  await assert.rejects(stat(join(dataDir, DEV_SECRET_FILE)), { code: 'ENOENT' });
  const serveArgs = ['serve', '--public-url', 'https://errand.example.org'];
  const serve = await capabilityKeyringFor(readConfig(serveArgs, env).config, 'serve');
  assert.deepEqual([...serve!.secrets.keys()], [capabilityKeyId(SECRET), capabilityKeyId(PREVIOUS)]);
  assert.equal(await capabilityKeyringFor(readConfig(serveArgs, {}).config, 'serve'), undefined);
  assert.equal(await capabilityKeyringFor(readConfig(['recorder', '--public-url', 'https://errand.example.org'], {}).config, 'recorder'), undefined);
});

test('replicas configured with the same secret verify each other\'s tokens', async () => {
  const args = ['serve', '--public-url', 'https://errand.example.org', '--capability-secret', SECRET];
  const [one, two] = await Promise.all([capabilityKeyringFor(readConfig(args, {}).config, 'serve'), capabilityKeyringFor(readConfig(args, {}).config, 'serve')]);
  const token = issueCapability(TASK, { ...one!.signing, lifetimeMs: 60_000, now: 0 });
  assert.equal(verifyCapability(token, TASK, { secrets: two!.secrets, now: 1 }).kind, 'ok');
});

test('a dev secret file that was emptied or edited down is refused in one line naming the file', async () => {
  const dataDir = join(root, 'edited');
  await devCapabilitySecret(dataDir);
  await writeFile(join(dataDir, DEV_SECRET_FILE), 'short\n');
  await assert.rejects(devCapabilitySecret(dataDir), (err: unknown) => isErrandError(err) && err.message.includes(join(dataDir, DEV_SECRET_FILE)) && /too short/.test(err.message) && !err.message.includes('\n'));
});
