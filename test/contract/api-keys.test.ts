/** The API key store (issue 12): the same behaviour on PostgreSQL and on PGlite. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hashApiKey, isErrandError, newApiKey } from '../../src/core/index.ts';
import type { NewApiKey } from '../../src/store/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';

const newKey = (name: string, extra: Partial<NewApiKey> = {}): NewApiKey & { key: string } => {
  const key = newApiKey();
  return { key, name, scopes: ['submit:echo', 'read'], secretSha256: hashApiKey(key), expires: null, ...extra };
};

await describeEachBackend('api keys', (kind) => {
  let backend: Backend;
  before(async () => { backend = await kind.create(); });
  after(async () => { await backend.close(); });

  test('a key is stored with its scopes as written, and only its hash: nothing returned or listed carries either', async () => {
    const key = newKey('web');
    const created = await backend.store.createApiKey(key);
    assert.equal(created.name, 'web');
    assert.deepEqual(created.scopes, ['submit:echo', 'read']);
    assert.ok(created.createdAt instanceof Date);
    assert.equal(created.expiresAt, null);
    assert.equal(created.revokedAt, null);
    assert.equal(created.lastUsedAt, null);
    const listed = (await backend.store.listApiKeys()).find((k) => k.name === 'web');
    assert.deepEqual(listed, created);
    const text = JSON.stringify(await backend.store.listApiKeys());
    assert.ok(!text.includes(key.key) && !text.includes(key.secretSha256));
    const stored = await backend.db.query<Record<string, unknown>>(`SELECT * FROM api_key WHERE name = 'web'`);
    assert.ok(!JSON.stringify(stored.rows).includes(key.key), 'the key itself is not in the table');
    assert.equal(stored.rows[0]!.secret_sha256, key.secretSha256);
  });

  test('a name is unique among keys not revoked: a second is a conflict, after revoking it is free again', async () => {
    const first = newKey('dup');
    await backend.store.createApiKey(first);
    await assert.rejects(backend.store.createApiKey(newKey('dup')), (err: unknown) => isErrandError(err) && err.code === 'conflict' && err.field === 'name' && /"dup" already exists/.test(err.message));
    const revoked = await backend.store.revokeApiKey('dup');
    assert.ok(revoked?.revokedAt instanceof Date);
    const second = newKey('dup');
    await backend.store.createApiKey(second);
    const dups = (await backend.store.listApiKeys()).filter((k) => k.name === 'dup');
    assert.deepEqual(dups.map((k) => k.revokedAt === null), [false, true]);
    // The old key stays revoked; the new one is live.
    assert.ok((await backend.store.useApiKey(first.secretSha256))?.revokedAt);
    assert.equal((await backend.store.useApiKey(second.secretSha256))?.revokedAt, null);
  });

  test('revoking an unknown or already revoked name finds nothing', async () => {
    assert.equal(await backend.store.revokeApiKey('nobody'), undefined);
    await backend.store.createApiKey(newKey('once'));
    assert.ok(await backend.store.revokeApiKey('once'));
    assert.equal(await backend.store.revokeApiKey('once'), undefined);
  });

  test('expiry: after a duration from creation (calendar months), or at a time', async () => {
    const inDuration = await backend.store.createApiKey(newKey('month', { expires: { after: 'P1M' } }));
    const month = new Date(inDuration.createdAt);
    month.setUTCMonth(month.getUTCMonth() + 1);
    assert.ok(Math.abs(inDuration.expiresAt!.getTime() - month.getTime()) <= 86_400_000 * 1, `${inDuration.expiresAt?.toISOString()} is a month after ${inDuration.createdAt.toISOString()}`);
    const at = new Date('2031-02-03T04:05:06.000Z');
    const atTime = await backend.store.createApiKey(newKey('dated', { expires: { at } }));
    assert.equal(atTime.expiresAt?.toISOString(), at.toISOString());
  });

  test('useApiKey finds a key by its hash and marks a live one used; an expired or revoked one is returned unmarked', async () => {
    const live = newKey('live');
    await backend.store.createApiKey(live);
    const used = await backend.store.useApiKey(live.secretSha256);
    assert.equal(used?.name, 'live');
    assert.ok(used?.lastUsedAt instanceof Date);
    assert.equal(await backend.store.useApiKey(hashApiKey(newApiKey())), undefined);

    const expired = newKey('expired');
    await backend.store.createApiKey(expired);
    await backend.db.query(`UPDATE api_key SET expires_at = now() - interval '1 second' WHERE name = 'expired'`);
    const found = await backend.store.useApiKey(expired.secretSha256);
    assert.ok(found!.expiresAt!.getTime() < Date.now());
    assert.equal(found!.lastUsedAt, null);

    const revoked = newKey('revoked');
    await backend.store.createApiKey(revoked);
    await backend.store.revokeApiKey('revoked');
    assert.equal((await backend.store.useApiKey(revoked.secretSha256))!.lastUsedAt, null);
  });

  test('the hash column takes only SHA-256 hex', async () => {
    await assert.rejects(backend.store.createApiKey({ ...newKey('plain'), secretSha256: 'errand_not-a-hash' }));
    assert.equal((await backend.store.listApiKeys()).some((k) => k.name === 'plain'), false);
  });
});
