import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isErrandError } from '../../src/core/index.ts';
import { addressKey, createStreamCounter } from '../../src/server/stream-limits.ts';

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

test('a client is its IPv4 address or the /64 of its IPv6 address, so one host cannot spread over 2^64 addresses', () => {
  assert.equal(addressKey('203.0.113.7'), '203.0.113.7');
  assert.equal(addressKey('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:db8:1:2:ffff:ffff:ffff:fffe'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:DB8:1:2::9'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  assert.equal(addressKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  assert.notEqual(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
});
