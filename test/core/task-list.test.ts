/** The task list's pure parts (issue 14): the cursor's round trip and refusals, filter times, who may list what. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeTaskCursor, encodeTaskCursor, ErrandError, filterTime, LOCAL_PRINCIPAL, listAccess, parseScopes, principalOf } from '../../src/core/index.ts';

test('a cursor comes back as it went, opaque, and nothing else passes for one', () => {
  const cursor = { createdMicros: '1796119200123456', id: '68816a6a1c400000' };
  const text = encodeTaskCursor(cursor);
  assert.match(text, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(decodeTaskCursor(text), cursor);
  assert.deepEqual(decodeTaskCursor(encodeTaskCursor({ createdMicros: '0', id: '0000000000000000' })), { createdMicros: '0', id: '0000000000000000' });
  const refused = (raw: string) => assert.throws(() => decodeTaskCursor(Buffer.from(raw).toString('base64url')), (err: ErrandError) => err.code === 'invalid_field' && err.field === 'cursor', raw);
  for (const raw of ['', '1', '1:', ':68816a6a1c400000', '01:68816a6a1c400000', '12345678901234567:68816a6a1c400000', '1:68816A6A1C400000',
    '1:68816a6a1c40000', '1:8000000000000000', '-1:68816a6a1c400000', '1:68816a6a1c400000:x', '1 :68816a6a1c400000']) refused(raw);
  assert.throws(() => decodeTaskCursor('a+b/c='), (err: ErrandError) => err.field === 'cursor');
  assert.throws(() => decodeTaskCursor('A'.repeat(65)), (err: ErrandError) => err.field === 'cursor');
});

test('filter times: what JavaScript reads, the epoch at the earliest; a leap second is refused naming the field', () => {
  assert.equal(filterTime('2026-12-01T01:00:00+01:00', 'createdSince').toISOString(), '2026-12-01T00:00:00.000Z');
  assert.equal(filterTime('1900-01-01T00:00:00Z', 'createdSince').getTime(), 0);
  assert.throws(() => filterTime('2016-12-31T23:59:60Z', 'completedUntil'), (err: ErrandError) => err.code === 'invalid_field' && err.field === 'completedUntil');
});

test('who may list: read:all and admin everything, read its own, no read scope 403, no credential 401, open reads everything', () => {
  const as = (...scopes: string[]) => ({ principal: principalOf('key:k', 'api-key', parseScopes(scopes)), label: null });
  assert.deepEqual(listAccess(as('read:all')), { kind: 'all' });
  assert.deepEqual(listAccess(as('admin')), { kind: 'all' });
  assert.deepEqual(listAccess({ principal: LOCAL_PRINCIPAL, label: null }), { kind: 'all' });
  assert.deepEqual(listAccess(as('read', 'submit')), { kind: 'owner', owner: 'key:k' });
  assert.equal(listAccess(as('submit', 'cancel')).kind, 'forbidden');
  assert.equal(listAccess({ label: null }).kind, 'unauthenticated');
  // A task link reads one task: it lists nothing, with or without a credential that does not read.
  assert.equal(listAccess({ label: null, capability: { task: '68816a6a1c400000', token: 't', expiresAt: Date.now() + 60_000 } }).kind, 'unauthenticated');
  assert.equal(listAccess({ label: null, badCapability: true }).kind, 'unauthenticated');
  assert.deepEqual(listAccess({ label: null, openReads: true }), { kind: 'all' });
});
