/**
 * The API key verifier (issue 12) against a real store on both backends: who a key is, what it is
 * refused for, that the hot path is served from memory, and that nothing a client sends makes it throw.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ErrandError, hashApiKey, newApiKey } from '../../../src/core/index.ts';
import type { Principal } from '../../../src/core/index.ts';
import { createApiKeyVerifier, createSingleKeyCheck } from '../../../src/server/index.ts';
import type { Store } from '../../../src/store/index.ts';
import type { Backend } from '../../support/backends.ts';
import { describeEachBackend } from '../../support/backends.ts';

let names = 0;
/** A stored key with a fresh name; returns the key text. */
async function storedKey(store: Store, scopes = ['submit:echo', 'read'], expires: { after: string } | { at: Date } | null = null): Promise<{ key: string; name: string }> {
  const key = newApiKey();
  const name = `k${++names}`;
  await store.createApiKey({ name, scopes, secretSha256: hashApiKey(key), expires });
  return { key, name };
}

/** The store, counting the lookups that reach it. */
function counting(store: Store): { store: Pick<Store, 'useApiKey'>; lookups: () => number } {
  let n = 0;
  return { store: { useApiKey: (hash) => { n++; return store.useApiKey(hash); } }, lookups: () => n };
}

const summary = (p: Principal | undefined) => p && { id: p.id, via: p.via, scopes: [...p.scopes], services: p.services && [...p.services] };

await describeEachBackend('api key verifier', (kind) => {
  let backend: Backend;
  before(async () => { backend = await kind.create(); });
  after(async () => { await backend.close(); });

  test('a valid key is its principal key:<name> with its scopes; unknown, revoked and expired keys are nobody', async () => {
    const verifier = createApiKeyVerifier(backend.store, { cacheMs: 0 });
    const web = await storedKey(backend.store, ['submit:echo', 'read']);
    assert.deepEqual(summary(await verifier.verify(web.key)), { id: `key:${web.name}`, via: 'api-key', scopes: ['submit', 'read'], services: ['echo'] });
    assert.equal(await verifier.verify(newApiKey()), undefined);
    const revoked = await storedKey(backend.store);
    await backend.store.revokeApiKey(revoked.name);
    assert.equal(await verifier.verify(revoked.key), undefined);
    const expired = await storedKey(backend.store, ['read'], { at: new Date(Date.now() + 3_600_000) });
    await backend.db.query(`UPDATE api_key SET expires_at = now() - interval '1 second' WHERE name = $1`, [expired.name]);
    assert.equal(await verifier.verify(expired.key), undefined);
    // A key that has not expired yet is accepted.
    const later = await storedKey(backend.store, ['admin'], { after: 'P1D' });
    assert.equal((await verifier.verify(later.key))?.id, `key:${later.name}`);
  });

  test('a scope the stored row no longer reads as grants nothing, rather than something else', async () => {
    const verifier = createApiKeyVerifier(backend.store, { cacheMs: 0 });
    const odd = await storedKey(backend.store, ['read']);
    await backend.db.query(`UPDATE api_key SET scopes = ARRAY['write'] WHERE name = $1`, [odd.name]);
    assert.equal(await verifier.verify(odd.key), undefined);
  });

  test('the hot path is memory: a key looked up once is not looked up again within cacheMs; a revoke shows after it', async () => {
    let clock = 1_000_000;
    const { store, lookups } = counting(backend.store);
    const verifier = createApiKeyVerifier(store, { cacheMs: 10_000, now: () => clock });
    const web = await storedKey(backend.store);
    for (let i = 0; i < 20; i++) assert.equal((await verifier.verify(web.key))?.id, `key:${web.name}`);
    assert.equal(lookups(), 1);
    await backend.store.revokeApiKey(web.name);
    clock += 9_999;
    assert.equal((await verifier.verify(web.key))?.id, `key:${web.name}`, 'still trusted within the cache period');
    assert.equal(lookups(), 1);
    clock += 1;
    assert.equal(await verifier.verify(web.key), undefined, 'refused once the cache period is over');
    assert.equal(lookups(), 2);
    // The refusal is remembered as long.
    assert.equal(await verifier.verify(web.key), undefined);
    assert.equal(lookups(), 2);
  });

  test('an expiry is checked on every request, even from the cache', async () => {
    let clock = Date.now();
    const verifier = createApiKeyVerifier(backend.store, { cacheMs: 86_400_000, now: () => clock });
    const soon = await storedKey(backend.store, ['read'], { after: 'PT1H' });
    assert.ok(await verifier.verify(soon.key));
    clock += 2 * 3_600_000;
    assert.equal(await verifier.verify(soon.key), undefined);
  });

  test('concurrent requests with a key not in the cache share one lookup', async () => {
    const { store, lookups } = counting(backend.store);
    const verifier = createApiKeyVerifier(store);
    const web = await storedKey(backend.store);
    const unknown = newApiKey();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => verifier.verify(i % 2 ? web.key : unknown)));
    assert.equal(results.filter((p) => p?.id === `key:${web.name}`).length, 25);
    assert.equal(results.filter((p) => p === undefined).length, 25);
    assert.equal(lookups(), 2);
  });

  test('the cache is bounded: the key used longest ago is looked up again; made-up keys do not push real ones out', async () => {
    const { store, lookups } = counting(backend.store);
    const verifier = createApiKeyVerifier(store, { cacheSize: 2 });
    const [a, b, c] = [await storedKey(backend.store), await storedKey(backend.store), await storedKey(backend.store)];
    await verifier.verify(a.key);
    await verifier.verify(b.key);
    for (let i = 0; i < 10; i++) await verifier.verify(newApiKey()); // refused ones are kept apart
    assert.equal(lookups(), 12);
    await verifier.verify(a.key);
    await verifier.verify(b.key);
    assert.equal(lookups(), 12, 'a and b still cached');
    await verifier.verify(c.key); // pushes a out (b was used later)
    await verifier.verify(b.key);
    assert.equal(lookups(), 13);
    assert.equal((await verifier.verify(a.key))?.id, `key:${a.name}`);
    assert.equal(lookups(), 14);
  });

  test('forgetName drops what this server remembers of a name', async () => {
    const { store, lookups } = counting(backend.store);
    const verifier = createApiKeyVerifier(store);
    const web = await storedKey(backend.store);
    await verifier.verify(web.key);
    await backend.store.revokeApiKey(web.name);
    verifier.forgetName(web.name);
    assert.equal(await verifier.verify(web.key), undefined);
    assert.equal(lookups(), 2);
  });

  test('malformed input never throws and costs no lookup: 10 KB, non-ASCII, empty, a JWT, not a string', async () => {
    const { store, lookups } = counting(backend.store);
    const verifier = createApiKeyVerifier(store, { single: { key: 'patavi-secret', name: 'patavi', scopes: ['submit'] } });
    const key = newApiKey();
    const inputs: unknown[] = ['', ' ', 'x'.repeat(10_240), `errand_${'a'.repeat(10_240)}`, `${key.slice(0, -1)}é`, 'errand_ünïcødé'.padEnd(50, '€'), '\u0000'.repeat(50),
      '\ud800', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln', `Bearer ${key}`, ` ${key}`, undefined, null, 42, {}, ['errand_']];
    for (const input of inputs) assert.equal(await verifier.verify(input as string), undefined, String(input).slice(0, 40));
    assert.equal(lookups(), 0);
  });

  test('a database that cannot answer rejects with database_unavailable (a 503), and that failure is not remembered', async () => {
    let down = true;
    const store: Pick<Store, 'useApiKey'> = {
      useApiKey: (hash) => (down ? Promise.reject(new ErrandError('database_unavailable', 'PostgreSQL is unavailable')) : backend.store.useApiKey(hash)),
    };
    const verifier = createApiKeyVerifier(store);
    const web = await storedKey(backend.store);
    await assert.rejects(verifier.verify(web.key), (err: unknown) => err instanceof ErrandError && err.code === 'database_unavailable');
    down = false;
    assert.equal((await verifier.verify(web.key))?.id, `key:${web.name}`);
  });

  test("Patavi's single --api-key is one more key: key:<--api-key-name> with --api-key-scope, no lookup", async () => {
    const { store, lookups } = counting(backend.store);
    const verifier = createApiKeyVerifier(store, { single: { key: 'p4tavi key', name: 'patavi', scopes: ['submit', 'read', 'cancel'] } });
    assert.deepEqual(summary(await verifier.verify('p4tavi key')), { id: 'key:patavi', via: 'api-key', scopes: ['submit', 'read', 'cancel'], services: undefined });
    assert.equal(lookups(), 0);
    // Stored keys still work beside it.
    const web = await storedKey(backend.store);
    assert.equal((await verifier.verify(web.key))?.id, `key:${web.name}`);
  });
});

test('the single key compares digests in constant time: any length, a prefix, one character off, never a throw', () => {
  const check = createSingleKeyCheck({ key: 'correct horse battery staple', name: 'web-app', scopes: ['submit:echo', 'read'] });
  assert.equal(check('correct horse battery staple')?.id, 'key:web-app');
  for (const text of ['', 'c', 'correct horse battery stapl', 'correct horse battery staplE', 'correct horse battery staple ', 'correct horse battery staple'.repeat(400), 'cörrect horse battery staple', '\ud800']) {
    assert.equal(check(text), undefined, text.slice(0, 40));
  }
  assert.equal(check(undefined as unknown as string), undefined);
});
