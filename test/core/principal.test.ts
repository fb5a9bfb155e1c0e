import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isErrandError, mayCancel, mayRead, maySubmit, parseScopes, principalOf } from '../../src/core/index.ts';

test('scopes are read as written; submit:<service> limits submit, a plain submit lifts the limit', () => {
  assert.deepEqual(parseScopes(['submit:echo,regression', 'read']), { scopes: ['submit', 'read'], services: ['echo', 'regression'] });
  assert.deepEqual(parseScopes(['submit:echo submit']), { scopes: ['submit'], services: [] });
  assert.deepEqual(parseScopes(['read:all', 'cancel', 'admin']).scopes, ['read:all', 'cancel', 'admin']);
  assert.throws(() => parseScopes(['write']), (err: unknown) => isErrandError(err) && err.field === 'scope' && /unknown scope "write"/.test(err.message));
  assert.throws(() => parseScopes(['submit:../x']), (err: unknown) => isErrandError(err) && err.field === 'scope');
});

test('who may submit, read and cancel', () => {
  const owner = principalOf('key:web', 'api-key', parseScopes(['submit:echo', 'read', 'cancel']));
  const other = principalOf('key:other', 'api-key', parseScopes(['submit', 'read', 'cancel']));
  const auditor = principalOf('key:audit', 'api-key', parseScopes(['read:all']));
  const admin = principalOf('key:root', 'api-key', parseScopes(['admin']));
  const task = { id: '0000000000000001', owner: 'key:web' };
  assert.equal(maySubmit(owner, 'echo'), true);
  assert.equal(maySubmit(owner, 'regression'), false);
  assert.equal(maySubmit(auditor, 'echo'), false);
  assert.equal(maySubmit(admin, 'anything'), true);
  assert.deepEqual([owner, other, auditor, admin].map((p) => mayRead(p, task)), [true, false, true, true]);
  assert.deepEqual([owner, other, auditor, admin].map((p) => mayCancel(p, task)), [true, false, false, true]);
  const capability = { ...principalOf('capability', 'capability', { scopes: ['read'], services: [] }), task: task.id };
  assert.equal(mayRead(capability, task), true);
  assert.equal(mayRead(capability, { ...task, id: '0000000000000002' }), false);
  assert.equal(mayCancel(capability, task), false);
});
