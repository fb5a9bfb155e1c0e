/**
 * Acknowledge-at-start against RabbitMQ's own limits (real engines only): a result over
 * max_message_size, a task longer than consumer_timeout, every connection dropped mid-task.
 *
 * Runs after the other files, alone (`*.serial.test.ts`, see package.json): `rabbitmqctl eval
 * application:set_env` changes consumer_timeout and max_message_size for every channel RabbitMQ
 * opens, in every vhost, so a file running beside it would have its deliveries taken back after
 * 2 s or its larger messages refused.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import type { Broker } from '../../src/broker/index.ts';
import { startWorker } from '../../src/worker/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, realBackend, testLogger } from '../support/backends.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { service } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

await describeEachBackend("RabbitMQ's limits: consumer_timeout, dropped connections, max_message_size", () => {
  let backend: Backend;
  let stack: Stack;
  before(async () => {
    backend = await realBackend.create();
    stack = await startStack(backend, { settings: { allowUnknownServices: true } });
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  /** RabbitMQ's defaults, put back when a test's value cannot be read. */
  const DEFAULTS: Record<string, string> = { consumer_timeout: '1800000', channel_tick_interval: '60000', max_message_size: '134217728' };

  /** Sets broker-wide settings for channels opened from now; returns the undo. */
  async function brokerSettings(values: Record<string, number>): Promise<() => Promise<void>> {
    const get = async (key: string) => (await run('rabbitmqctl', ['-q', 'eval', `application:get_env(rabbit, ${key}).`])).stdout.trim();
    const set = (key: string, value: string) => run('rabbitmqctl', ['-q', 'eval', `application:set_env(rabbit, ${key}, ${value}).`]);
    const before: Record<string, string> = {};
    for (const key of Object.keys(values)) before[key] = await get(key);
    for (const [key, value] of Object.entries(values)) await set(key, String(value));
    return async () => {
      // Put back what was there ({ok,V}); never unset: a channel without its tick interval fails to open.
      for (const [key, value] of Object.entries(before)) {
        const match = /^\{ok,(\d+)\}$/.exec(value);
        await set(key, match ? match[1]! : DEFAULTS[key]!);
      }
    };
  }

  test('a result larger than the broker accepts fails its task with invalid_result instead of leaving it running', async () => {
    const restore = await brokerSettings({ max_message_size: 65_536 });
    const workerBroker = await backend.connectBroker!();
    try {
      const worker = await startWorker({ broker: workerBroker, logger: testLogger, services: [service('huge', () => 'x'.repeat(200_000))] });
      try {
        const { json } = await postTask(stack.baseUrl, 'huge', {});
        const updates = await watchUpdates(json._links.updates.href);
        assert.equal(updates.messages.at(-1)?.eventType, 'failed');
        const task = await backend.store.getTask(json.id);
        assert.equal(task?.error?.code, 'invalid_result');
        assert.match(task?.error?.message ?? '', /broker refused the result/);
      } finally {
        await worker.close();
      }
    } finally {
      await restore();
      await workerBroker.close();
    }
  });

  test("a task longer than RabbitMQ's consumer_timeout runs once and finishes; a delivery held that long would be taken back", async () => {
    const restore = await brokerSettings({ consumer_timeout: 2000, channel_tick_interval: 500 });
    const brokers: Broker[] = [];
    try {
      // The control: a consumer that holds its delivery past the timeout loses its channel, and
      // the message is delivered again. This shows the setting is in force for this test.
      const raw = await backend.connectBroker!();
      brokers.push(raw);
      await raw.declareQueue('held-delivery');
      const held: boolean[] = [];
      await raw.consume('held-delivery', async (delivery) => {
        held.push(delivery.redelivered);
        await sleep(6000);
        return 'ack';
      }, { prefetch: 1 });
      await raw.send('held-delivery', Buffer.from('{}'), { contentType: 'application/json' });

      // The real thing: a worker on a channel opened under the same setting runs a 6 s task.
      const workerBroker = await backend.connectBroker!();
      brokers.push(workerBroker);
      let runs = 0;
      const worker = await startWorker({
        broker: workerBroker, logger: testLogger,
        services: [service('long', async (input) => { runs++; await sleep(6000); return input; })],
      });
      try {
        const { json } = await postTask(stack.baseUrl, 'long', { long: true });
        const updates = await watchUpdates(json._links.updates.href);
        assert.equal(updates.messages.at(-1)?.eventType, 'done');
        assert.equal(runs, 1);
        const task = await backend.store.getTask(json.id);
        assert.equal(task?.attempts, 1);
        assert.deepEqual(await (await fetch(`${json._links.self.href}/results`)).json(), { long: true });
        await eventually(() => held.length >= 2, 'the held delivery to be taken back and delivered again');
        assert.deepEqual(held.slice(0, 2), [false, true]);
      } finally {
        await worker.close();
      }
    } finally {
      await restore();
      await Promise.allSettled(brokers.map((b) => b.close()));
    }
  });

  test('after RabbitMQ drops every connection mid-task, the task runs once and finishes', async () => {
    let runs = 0;
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    const worker = await startWorker({
      broker: backend.broker, logger: testLogger,
      services: [service('dropped', async (input) => { runs++; await released; return input; })],
    });
    try {
      const { json } = await postTask(stack.baseUrl, 'dropped', { d: 1 });
      await eventually(() => runs === 1, 'the task to start');
      const vhost = new URL(backend.urls!.amqp).pathname.slice(1);
      await run('rabbitmqctl', ['-q', 'close_all_connections', '--vhost', vhost, 'test: dropping connections']);
      // Time for consumers to come back: were the task still unacknowledged, it would be delivered again now.
      await sleep(1500);
      release();
      const ended = await eventually(async () => {
        const updates = await watchUpdates(json._links.updates.href).catch(() => undefined);
        return updates?.messages.at(-1)?.eventType === 'done' && updates;
      }, 'a done message after the reconnection');
      assert.equal(ended.messages.at(-1)?.eventType, 'done');
      assert.equal(runs, 1);
      assert.equal((await backend.store.getTask(json.id))?.attempts, 1);
    } finally {
      await worker.close();
    }
  });
}, [realBackend]);
