/** A broker that refuses a result's console header costs the console, never the result. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMemoryBroker } from '../../src/broker/index.ts';
import type { Broker, Delivery } from '../../src/broker/index.ts';
import { CONSOLE_HEADER, RESULT_QUEUE } from '../../src/core/index.ts';
import { startWorker } from '../../src/worker/index.ts';
import type { ServiceDefinition } from '../../src/worker/index.ts';
import { testLogger } from '../support/backends.ts';
import { service } from '../support/services.ts';

test('a result whose console header the broker refuses is sent again without it', async () => {
  const memory = createMemoryBroker();
  const refused: unknown[] = [];
  const broker: Broker = {
    ...memory,
    async send(queue, body, options = {}) {
      if (options.headers?.[CONSOLE_HEADER] !== undefined) {
        refused.push(options.headers[CONSOLE_HEADER]);
        throw new Error('frame too large');
      }
      return memory.send(queue, body, options);
    },
  };
  const talkative: ServiceDefinition = service('talkative', () => 'ok');
  talkative.executor = { run: async () => ({ status: 'done', index: 'ok', files: [], console: 'printed' }), close: async () => undefined };
  const worker = await startWorker({ broker, services: [talkative], logger: testLogger });
  const results: Delivery[] = [];
  const got = new Promise<void>((resolve) => {
    void memory.consume(RESULT_QUEUE, async (delivery) => {
      if (delivery.properties.type !== 'errand.started') {
        results.push(delivery);
        resolve();
      }
      return 'ack';
    }, { prefetch: 10 });
  });
  await memory.send('talkative', Buffer.from('{}'), { correlationId: '00000000000000aa', replyTo: RESULT_QUEUE, contentType: 'application/json' });
  await got;
  assert.deepEqual(refused, ['printed']);
  assert.equal(results.length, 1);
  assert.equal(results[0]!.body.toString(), '"ok"');
  assert.equal(results[0]!.properties.headers?.[CONSOLE_HEADER], undefined);
  await worker.close();
  await memory.close();
});
