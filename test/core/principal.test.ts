import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changeAccess, isErrandError, LOCAL_PRINCIPAL, mayIssueLink, maySubmit, parseScopes, passesRead, principalOf, readAccess, streamAccess, submitAccess } from '../../src/core/index.ts';
import type { Caller, Principal } from '../../src/core/index.ts';

test('scopes are read as written; submit:<service> limits submit, a plain submit lifts the limit', () => {
  assert.deepEqual(parseScopes(['submit:echo,regression', 'read']), { scopes: ['submit', 'read'], services: ['echo', 'regression'] });
  assert.deepEqual(parseScopes(['submit:echo submit']), { scopes: ['submit'], services: [] });
  assert.deepEqual(parseScopes(['read:all', 'cancel', 'admin']).scopes, ['read:all', 'cancel', 'admin']);
  assert.throws(() => parseScopes(['write']), (err: unknown) => isErrandError(err) && err.field === 'scope' && /unknown scope "write"/.test(err.message));
  assert.throws(() => parseScopes(['submit:../x']), (err: unknown) => isErrandError(err) && err.field === 'scope');
});

const owner = principalOf('key:web', 'api-key', parseScopes(['submit:echo', 'read', 'cancel']));
const other = principalOf('key:other', 'api-key', parseScopes(['submit', 'read', 'cancel']));
const auditor = principalOf('key:audit', 'api-key', parseScopes(['read:all']));
const admin = principalOf('key:root', 'api-key', parseScopes(['admin']));
const submitOnly = principalOf('key:feeder', 'api-key', parseScopes(['submit']));
const TASK = { id: '0000000000000001', owner: 'key:web' };
const OTHER_TASK = '0000000000000002';
const capability = { task: TASK.id, token: 't', expiresAt: 1 };
const as = (principal?: Principal, extra: Partial<Caller> = {}): Caller => ({ label: null, ...(principal ? { principal } : {}), ...extra });

test('who may submit: the submit scope, limited to named services, or admin', () => {
  assert.equal(maySubmit(owner, 'echo'), true);
  assert.equal(maySubmit(owner, 'regression'), false);
  assert.equal(maySubmit(auditor, 'echo'), false);
  assert.equal(maySubmit(admin, 'anything'), true);
  assert.deepEqual(submitAccess(as(), 'echo').kind, 'unauthenticated');
  assert.deepEqual(submitAccess(as(owner), 'regression'), { kind: 'forbidden', message: 'key:web may not submit to service regression' });
  assert.deepEqual(submitAccess(as(auditor), 'echo'), { kind: 'forbidden', message: 'key:audit may not submit tasks: it has no submit scope' });
  assert.equal(submitAccess(as(undefined, { capability }), 'echo').kind, 'unauthenticated');
});

test('who may read a task: its owner (read), read:all, admin, a capability for it; the rest by refusal', () => {
  assert.deepEqual(readAccess(as(owner), TASK.id), { kind: 'owner', owner: 'key:web' });
  assert.deepEqual(readAccess(as(other), TASK.id), { kind: 'owner', owner: 'key:other' });
  assert.equal(passesRead(readAccess(as(other), TASK.id), TASK.owner), false);
  assert.deepEqual([auditor, admin, LOCAL_PRINCIPAL].map((p) => readAccess(as(p), TASK.id).kind), ['any', 'any', 'any']);
  assert.equal(readAccess(as(submitOnly), TASK.id).kind, 'forbidden');
  assert.equal(readAccess(as(), TASK.id).kind, 'unauthenticated');
  assert.equal(readAccess(as(undefined, { openReads: true }), TASK.id).kind, 'any');
  // Open reads hold for everyone: signing in never shows less than staying anonymous.
  assert.equal(readAccess(as(other, { openReads: true }), TASK.id).kind, 'any');
  assert.equal(readAccess(as(submitOnly, { openReads: true }), TASK.id).kind, 'any');
  // A capability: its own task only; another task, or a token that did not verify, looks absent.
  assert.equal(readAccess(as(undefined, { capability }), TASK.id).kind, 'any');
  assert.equal(readAccess(as(undefined, { capability }), OTHER_TASK).kind, 'hidden');
  assert.equal(readAccess(as(undefined, { badCapability: true }), TASK.id).kind, 'hidden');
  assert.equal(readAccess(as(submitOnly, { capability }), TASK.id).kind, 'any');
  assert.equal(readAccess(as(submitOnly, { capability }), OTHER_TASK).kind, 'hidden');
});

test('who may cancel or delete: the owner with cancel, or admin; a reader is told no, others see nothing', () => {
  assert.equal(changeAccess(as(owner), TASK, 'cancel').kind, 'allowed');
  assert.equal(changeAccess(as(admin), TASK, 'delete').kind, 'allowed');
  assert.equal(changeAccess(as(LOCAL_PRINCIPAL), TASK, 'delete').kind, 'allowed');
  assert.deepEqual(changeAccess(as(auditor), TASK, 'cancel'), { kind: 'forbidden', message: 'key:audit may cancel only its own tasks' });
  assert.equal(changeAccess(as(other), TASK, 'cancel').kind, 'hidden');
  assert.equal(changeAccess(as(principalOf('key:web', 'api-key', parseScopes(['read']))), TASK, 'delete').kind, 'forbidden');
  assert.equal(changeAccess(as(undefined, { capability }), TASK, 'cancel').kind, 'forbidden');
  assert.equal(changeAccess(as(undefined, { capability }), { ...TASK, id: OTHER_TASK }, 'cancel').kind, 'hidden');
  assert.equal(changeAccess(as(), TASK, 'cancel').kind, 'unauthenticated');
  assert.equal(changeAccess(as(undefined, { openReads: true }), TASK, 'cancel').kind, 'unauthenticated');
  assert.equal(changeAccess(as(other, { openReads: true }), TASK, 'cancel').kind, 'forbidden');
  assert.doesNotMatch((submitAccess(as(), 'echo') as { message: string }).message, /task link/, 'a link never submits: the 401 does not offer one');
});

test('what a global event stream may carry', () => {
  assert.deepEqual(streamAccess(as(owner)), { kind: 'owner', owner: 'key:web' });
  assert.deepEqual(streamAccess(as(auditor)), { kind: 'all' });
  assert.deepEqual(streamAccess(as(undefined, { capability })), { kind: 'task', task: TASK.id });
  assert.deepEqual(streamAccess(as(submitOnly, { capability })), { kind: 'task', task: TASK.id });
  assert.deepEqual(streamAccess(as(owner, { capability })), { kind: 'task', task: TASK.id }, 'a stream asked for under a link is the link\'s task');
  assert.equal(streamAccess(as(submitOnly)).kind, 'forbidden');
  assert.equal(streamAccess(as()).kind, 'unauthenticated');
  assert.equal(streamAccess(as(undefined, { badCapability: true })).kind, 'unauthenticated');
  assert.deepEqual(streamAccess(as(undefined, { openReads: true })), { kind: 'all' });
  assert.deepEqual(streamAccess(as(owner, { openReads: true })), { kind: 'all' });
});

test('who may hand out a task link: a signed-in caller, for what its own credential reads', () => {
  assert.equal(mayIssueLink(as(owner), TASK), true);
  assert.equal(mayIssueLink(as(auditor), TASK), true);
  assert.equal(mayIssueLink(as(other), TASK), false);
  assert.equal(mayIssueLink(as(submitOnly), { ...TASK, owner: 'key:feeder' }), false, 'a submitter that may not read its tasks cannot grant reading them');
  assert.equal(mayIssueLink(as(other, { openReads: true }), TASK), false, 'open reads are not the caller\'s to pass on');
  assert.equal(mayIssueLink(as(undefined, { capability }), TASK), false, 'a link holder passes on its link, it mints none');
  assert.equal(mayIssueLink(as(undefined, { openReads: true }), TASK), false);
});
