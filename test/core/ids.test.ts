import assert from 'node:assert/strict';
import { test } from 'node:test';
import { composeTaskId, decomposeTaskId, FlakeIdGenerator, isTaskId, taskIdToDecimal } from '../../src/core/index.ts';

test('ids are 16 lower-case hex digits carrying time, node and sequence', () => {
  const ids = new FlakeIdGenerator(37, () => 1_700_000_000_000);
  const id = ids.next();
  assert.match(id, /^[0-9a-f]{16}$/);
  assert.deepEqual(decomposeTaskId(id), { millis: 1_700_000_000_000, nodeId: 37, sequence: 0 });
  assert.equal(decomposeTaskId(ids.next()).sequence, 1);
});

test('a full millisecond and a clock stepping back still give unique, increasing ids', () => {
  let now = 1_700_000_000_000;
  const ids = new FlakeIdGenerator(1, () => now);
  const seen: string[] = [];
  for (let i = 0; i < 5000; i++) seen.push(ids.next());
  now -= 10; // the clock steps backwards
  for (let i = 0; i < 10; i++) seen.push(ids.next());
  assert.equal(new Set(seen).size, seen.length);
  assert.deepEqual([...seen].sort(), seen);
});

test('different nodes never produce the same id in the same millisecond', () => {
  const a = new FlakeIdGenerator(1, () => 5);
  const b = new FlakeIdGenerator(2, () => 5);
  assert.notEqual(a.next(), b.next());
});

test('node ids outside 0..1023 are refused', () => {
  assert.throws(() => new FlakeIdGenerator(1024), /0 to 1023/);
  assert.throws(() => new FlakeIdGenerator(-1), /0 to 1023/);
});

test('task id validation is anchored (Patavi accepted any string containing 16 hex digits)', () => {
  assert.equal(isTaskId('550e35d797400000'), true);
  assert.equal(isTaskId('550e35d7974000001'), false);
  assert.equal(isTaskId('x550e35d797400000'), false);
  assert.equal(isTaskId('550E35D797400000'), false);
  assert.equal(isTaskId(42), false);
});

test('ids convert to the decimal text a bigint parameter takes, without loss', () => {
  const id = composeTaskId(2 ** 41 + 12345, 1023, 4095);
  assert.equal(BigInt(taskIdToDecimal(id)).toString(16).padStart(16, '0'), id);
});

// HTTP edge (issue 11)
test('ids from 8000000000000000 up are well-formed but can never be issued (past bigint)', async () => {
  const { canBeIssued } = await import('../../src/core/index.ts');
  assert.equal(canBeIssued('7fffffffffffffff'), true);
  assert.equal(canBeIssued(new FlakeIdGenerator(1023, () => 2 ** 41 - 1).next()), true);
  for (const id of ['8000000000000000', 'a000000000000000', 'ffffffffffffffff']) {
    assert.equal(isTaskId(id), true);
    assert.equal(canBeIssued(id), false);
  }
});
