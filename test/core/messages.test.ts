import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildMultipart, endMessage, parseReply, STARTED_TYPE } from '../../src/core/index.ts';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

test('a JSON result is the whole result and its index', async () => {
  const reply = await parseReply(json({ mean: 3 }), 'application/json', undefined);
  assert.deepEqual(reply, { kind: 'result', status: 'done', index: { mean: 3 }, files: [], error: null, indexText: '{"mean":3}' });
});

test('application/json with parameters is accepted (Patavi refused it and lost the result)', async () => {
  const reply = await parseReply(json([1, 2]), 'application/json; charset=utf-8', undefined);
  assert.equal(reply.kind, 'result');
  assert.deepEqual(reply.kind === 'result' && reply.index, [1, 2]);
});

test("Patavi's failure document fails the task with its cause", async () => {
  const reply = await parseReply(json({ status: 'failed', cause: 'Error in f(): boom' }), 'application/json', undefined);
  assert.equal(reply.kind === 'result' && reply.status, 'failed');
  assert.deepEqual(reply.kind === 'result' && reply.error, { code: 'script_error', message: 'Error in f(): boom' });
});

test('the script message is told apart from a result that merely has a script field', async () => {
  assert.deepEqual(await parseReply(json({ script: 'slow <- function(params) params' }), 'application/json', undefined), {
    kind: 'script', script: 'slow <- function(params) params',
  });
  const result = await parseReply(json({ script: 'x', value: 1 }), 'application/json', undefined);
  assert.equal(result.kind, 'result');
});

test('a started message carries the worker id', async () => {
  assert.deepEqual(await parseReply(json({ worker: 'w1' }), 'application/json', STARTED_TYPE), { kind: 'started', worker: 'w1', script: null, resumed: false });
  assert.deepEqual(await parseReply(json({ worker: 'w1', script: 'f <- 1' }), 'application/json', STARTED_TYPE), { kind: 'started', worker: 'w1', script: 'f <- 1', resumed: false });
  assert.deepEqual(await parseReply(json({ worker: 'w1', resumed: true }), 'application/json', STARTED_TYPE), { kind: 'started', worker: 'w1', script: null, resumed: true });
});

test('a multipart result round-trips: index plus files with their types', async () => {
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255]);
  const { body, contentType } = await buildMultipart({ plot: { href: 'plot.png' } }, [{ name: 'plot.png', contentType: 'image/png', content: png }]);
  assert.match(contentType, /^multipart\/form-data; boundary=/);
  const reply = await parseReply(body, contentType, undefined);
  assert.equal(reply.kind, 'result');
  if (reply.kind !== 'result') return;
  assert.deepEqual(reply.index, { plot: { href: 'plot.png' } });
  assert.equal(reply.files.length, 1);
  assert.equal(reply.files[0]!.name, 'plot.png');
  assert.equal(reply.files[0]!.contentType, 'image/png');
  assert.deepEqual(reply.files[0]!.content, png);
});

test('results that cannot be understood fail the task instead of vanishing', async () => {
  for (const [body, type] of [
    [Buffer.from('{not json'), 'application/json'],
    [json({ a: 1 }), undefined],
    [json({ a: 1 }), 'text/plain'],
    [Buffer.from('garbage'), 'multipart/form-data; boundary=xyz'],
  ] as const) {
    const reply = await parseReply(body, type, undefined);
    assert.equal(reply.kind === 'result' && reply.status, 'failed', String(type));
    assert.equal(reply.kind === 'result' && reply.error?.code, 'invalid_result');
  }
});

test('end messages report canceled and expired tasks as failed to Patavi clients', () => {
  assert.deepEqual(endMessage('0123456789abcdef', 'expired', 'h'), { taskId: '0123456789abcdef', eventType: 'failed', eventData: { href: 'h' } });
  assert.equal(endMessage('0123456789abcdef', 'done', 'h').eventType, 'done');
});
