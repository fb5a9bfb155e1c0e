import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topicMatches } from '../../src/broker/index.ts';
import { checkJsonInput, createBatcher, ErrandError, jsonDepth, serviceNameProblem } from '../../src/core/index.ts';

test('topic patterns match as RabbitMQ does', () => {
  assert.ok(topicMatches('abc.*', 'abc.status'));
  assert.ok(topicMatches('abc.*', 'abc.end'));
  assert.ok(!topicMatches('abc.*', 'abd.end'));
  assert.ok(!topicMatches('abc.*', 'abc.end.x'));
  assert.ok(topicMatches('#', 'a.b.c'));
  assert.ok(topicMatches('a.#.c', 'a.c'));
  assert.ok(topicMatches('*.end', 'x.end'));
});

test('service names that would break the broker or collide with our queues are refused', () => {
  assert.equal(serviceNameProblem('gemtc'), undefined);
  assert.equal(serviceNameProblem('smaa_v2'), undefined);
  assert.match(serviceNameProblem('amq.direct')!, /reserved/);
  assert.match(serviceNameProblem('rpc_result')!, /reserved/);
  assert.match(serviceNameProblem('errand.feed')!, /reserved/);
  assert.ok(serviceNameProblem('a b'));
  assert.ok(serviceNameProblem(''));
  assert.ok(serviceNameProblem('x'.repeat(129)));
});

test('task input must be JSON that PostgreSQL can store', () => {
  assert.equal(checkJsonInput(Buffer.from('{"a":[1,2]}'), 10), '{"a":[1,2]}');
  assert.equal(checkJsonInput(undefined, 10), '{}');
  assert.equal(checkJsonInput(Buffer.from('"text"'), 10), '"text"');
  const refuse = (text: string) => assert.throws(() => checkJsonInput(Buffer.from(text), 10), (err: unknown) => err instanceof ErrandError && err.code === 'invalid_json' && err.field === 'body');
  refuse('{bad');
  refuse('[[[[[[[[[[[1]]]]]]]]]]]');
  refuse('{"a":"\\u0000"}');
  assert.equal(jsonDepth('{"a":"[[[[{{{"}'), 1);
});

test('the batcher gathers concurrent calls into one flush and keeps each caller its own outcome', async () => {
  const flushed: number[][] = [];
  const batcher = createBatcher<number, number>(async (items) => {
    flushed.push(items);
    return items.map((n) => n * 2);
  }, { maxBatch: 3 });
  const results = await Promise.all([1, 2, 3, 4, 5].map((n) => batcher.add(n)));
  assert.deepEqual(results, [2, 4, 6, 8, 10]);
  assert.deepEqual(flushed, [[1, 2, 3], [4, 5]]);
});

test('a failed flush fails every caller in that batch, and later batches still run', async () => {
  let calls = 0;
  const batcher = createBatcher<number, number>(async (items) => {
    if (calls++ === 0) throw new Error('down');
    return items;
  }, { maxBatch: 10 });
  const first = await Promise.allSettled([batcher.add(1), batcher.add(2)]);
  assert.deepEqual(first.map((r) => r.status), ['rejected', 'rejected']);
  assert.equal(await batcher.add(3), 3);
});
