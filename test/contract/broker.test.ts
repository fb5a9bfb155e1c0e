/** The Broker contract: the same behaviour on RabbitMQ and on the in-process broker. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Broker, Delivery, Disposition } from '../../src/broker/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

await describeEachBackend('broker', (kind) => {
  let backend: Backend;
  let broker: Broker;
  before(async () => { backend = await kind.create(); broker = backend.broker; });
  after(async () => { await backend.close(); });

  test('a queue exists once declared, and counts its messages and consumers', async () => {
    assert.equal(await broker.queueStats('q-stats'), undefined);
    await broker.declareQueue('q-stats');
    await broker.declareQueue('q-stats'); // idempotent
    await broker.send('q-stats', Buffer.from('{}'));
    assert.deepEqual(await broker.queueStats('q-stats'), { messages: 1, consumers: 0 });
  });

  test('messages arrive with their bytes and properties; acked ones are gone', async () => {
    await broker.declareQueue('q-props');
    const got = deferred<Delivery>();
    const sub = await broker.consume('q-props', async (d) => { got.resolve(d); return 'ack'; }, { prefetch: 1 });
    const body = Buffer.from('{"x": [1, 2]}');
    await broker.send('q-props', body, { correlationId: '0123456789abcdef', replyTo: 'rpc_result', contentType: 'application/json', type: 'errand.test' });
    const delivery = await got.promise;
    assert.deepEqual(JSON.parse(delivery.body.toString()), { x: [1, 2] });
    assert.equal(delivery.properties.correlationId, '0123456789abcdef');
    assert.equal(delivery.properties.replyTo, 'rpc_result');
    assert.equal(delivery.properties.type, 'errand.test');
    assert.equal(delivery.redelivered, false);
    await sub.close();
    assert.equal((await broker.queueStats('q-props'))?.messages, 0);
  });

  test('a requeued message comes back marked redelivered; a dropped one is gone', async () => {
    await broker.declareQueue('q-requeue');
    const seen: Array<[string, boolean]> = [];
    const done = deferred();
    const sub = await broker.consume('q-requeue', async (d) => {
      const name = d.body.toString();
      seen.push([name, d.redelivered]);
      if (name === 'again' && !d.redelivered) return 'requeue';
      if (seen.length === 3) done.resolve();
      return name === 'drop' ? 'drop' : 'ack';
    }, { prefetch: 1 });
    await broker.send('q-requeue', Buffer.from('again'));
    await broker.send('q-requeue', Buffer.from('drop'));
    await done.promise;
    await sub.close();
    assert.deepEqual(seen.filter(([name]) => name === 'again'), [['again', false], ['again', true]]);
    assert.equal((await broker.queueStats('q-requeue'))?.messages, 0);
  });

  test('prefetch bounds the messages a consumer holds at once', async () => {
    await broker.declareQueue('q-prefetch');
    let running = 0;
    let most = 0;
    let finished = 0;
    const done = deferred();
    // Each message is held until three are (or all that are left): the consumer shows it holds
    // three at once however the deliveries are spread in time, and a fourth would show too.
    const held: Array<() => void> = [];
    const sub = await broker.consume('q-prefetch', async () => {
      most = Math.max(most, ++running);
      await new Promise<void>((resolve) => {
        held.push(resolve);
        if (running >= 3 || finished + running === 20) held.splice(0).forEach((release) => release());
      });
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
      if (++finished === 20) done.resolve();
      return 'ack';
    }, { prefetch: 3 });
    await Promise.all(Array.from({ length: 20 }, () => broker.send('q-prefetch', Buffer.from('{}'))));
    await done.promise;
    await sub.close();
    assert.equal(most, 3);
  });

  test('a message a consumer held when it left goes to another consumer', async () => {
    await broker.declareQueue('q-handover');
    const first = deferred<Disposition>();
    const holding = deferred();
    const a = await broker.consume('q-handover', async () => { holding.resolve(); return first.promise; }, { prefetch: 1 });
    await broker.send('q-handover', Buffer.from('work'));
    await holding.promise;
    const second = deferred<Delivery>();
    const other = await backend.connectBroker();
    const b = await other.consume('q-handover', async (d) => { second.resolve(d); return 'ack'; }, { prefetch: 1 });
    // The first consumer gives the message back (as a dying worker's channel does).
    first.resolve('requeue');
    const delivery = await second.promise;
    assert.equal(delivery.body.toString(), 'work');
    assert.equal(delivery.redelivered, true);
    await a.close();
    await b.close();
  });

  test('a queue consumed with a status binding gets the rpc_status messages its pattern matches, in order, with their routing keys', async () => {
    // errand.progress is such a queue, bound with `*.status`: progress, not Patavi's end messages.
    const got: string[] = [];
    const marker = deferred();
    const sub = await broker.consume('q-status', async (d) => {
      got.push(`${d.routingKey}=${d.body.toString()}`);
      if (d.routingKey === 'cccccccccccccccc.status') marker.resolve();
      return 'ack';
    }, { prefetch: 1, statusBindings: ['*.status'] });
    await broker.publishStatus('aaaaaaaaaaaaaaaa.status', Buffer.from('p1'));
    await broker.publishStatus('aaaaaaaaaaaaaaaa.end', Buffer.from('end'));
    await broker.publishStatus('bbbbbbbbbbbbbbbb.status', Buffer.from('p2'));
    // The last one arrives after any that were routed before it: the end message was not.
    await broker.publishStatus('cccccccccccccccc.status', Buffer.from('p3'));
    await marker.promise;
    assert.deepEqual(got, ['aaaaaaaaaaaaaaaa.status=p1', 'bbbbbbbbbbbbbbbb.status=p2', 'cccccccccccccccc.status=p3']);
    await sub.close();
  });

  test('unconfirmed announcements (event broadcasts, end messages) arrive as confirmed ones do, in order', async () => {
    const heard: string[] = [];
    const allHeard = deferred();
    const listening = await broker.listen('events', (body) => {
      heard.push(body.toString());
      if (heard.length === 3) allHeard.resolve();
    });
    const ends: string[] = [];
    const allEnds = deferred();
    const sub = await broker.consume('q-ends', async (d) => {
      ends.push(`${d.routingKey}=${d.body.toString()}`);
      if (ends.length === 2) allEnds.resolve();
      return 'ack';
    }, { prefetch: 4, statusBindings: ['*.end'] });
    await broker.broadcast('events', Buffer.from('[1]'), { unconfirmed: true });
    await broker.publishStatus('dddddddddddddddd.end', Buffer.from('e1'), {}, { unconfirmed: true });
    await broker.broadcast('events', Buffer.from('[2]'), { unconfirmed: true });
    await broker.broadcast('events', Buffer.from('[3]'), { unconfirmed: true });
    await broker.publishStatus('eeeeeeeeeeeeeeee.end', Buffer.from('e2'), {}, { unconfirmed: true });
    await Promise.all([allHeard.promise, allEnds.promise]);
    assert.deepEqual(heard, ['[1]', '[2]', '[3]']);
    assert.deepEqual(ends, ['dddddddddddddddd.end=e1', 'eeeeeeeeeeeeeeee.end=e2']);
    await sub.close();
    await listening.close();
  });

  test('a listener that ignores an origin gets every broadcast but that origin\'s, in order', async () => {
    const heard: string[] = [];
    const last = deferred();
    const listening = await broker.listen('events', (body) => {
      heard.push(body.toString());
      if (body.toString() === '[4]') last.resolve();
    }, { ignoreOrigin: 4242 });
    const all: string[] = [];
    const allDone = deferred();
    const everything = await broker.listen('events', (body) => {
      all.push(body.toString());
      if (body.toString() === '[4]') allDone.resolve();
    });
    await broker.broadcast('events', Buffer.from('[1]'), { unconfirmed: true, origin: 4242 });
    await broker.broadcast('events', Buffer.from('[2]'), { unconfirmed: true, origin: 4243 });
    await broker.broadcast('events', Buffer.from('[3]'), { unconfirmed: true });
    await broker.broadcast('events', Buffer.from('[4]'), { unconfirmed: true, origin: 0 });
    await Promise.all([last.promise, allDone.promise]);
    assert.deepEqual(heard, ['[2]', '[3]', '[4]']);
    assert.deepEqual(all, ['[1]', '[2]', '[3]', '[4]']);
    await listening.close();
    await everything.close();
  });
});
