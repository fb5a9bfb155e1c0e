import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isErrandError } from '../../src/core/index.ts';
import { createStreamCounter } from '../../src/server/stream-limits.ts';

const refusedWith = (code: string, status: number) => (err: unknown) => isErrandError(err) && err.code === code && err.status === status;

test('per-client caps count each kind apart; a release frees the slot once, however often it is called', () => {
  const streams = createStreamCounter({ webSocketsPerClient: 2, eventStreamsPerClient: 1, subscriptionsPerSocket: 1, total: 10 });
  const a1 = streams.acquire('websocket', 'a');
  streams.acquire('websocket', 'a');
  assert.throws(() => streams.acquire('websocket', 'a'), refusedWith('too_many_streams', 429));
  streams.acquire('sse', 'a');
  assert.throws(() => streams.acquire('sse', 'a'), refusedWith('too_many_streams', 429));
  streams.acquire('websocket', 'b');
  a1();
  a1();
  assert.equal(streams.open('websocket', 'a'), 1);
  streams.acquire('websocket', 'a');
  assert.throws(() => streams.acquire('websocket', 'a'), refusedWith('too_many_streams', 429));
  assert.equal(streams.open(), 4);
});

test('the server-wide cap refuses any client with server_busy (503) until a slot is released', () => {
  const streams = createStreamCounter({ webSocketsPerClient: 5, eventStreamsPerClient: 5, subscriptionsPerSocket: 1, total: 2 });
  const first = streams.acquire('websocket', 'a');
  streams.acquire('sse', 'b');
  assert.throws(() => streams.acquire('sse', 'c'), refusedWith('server_busy', 503));
  first();
  streams.acquire('sse', 'c');
  assert.equal(streams.open('websocket'), 0);
  assert.equal(streams.open('sse'), 2);
});
