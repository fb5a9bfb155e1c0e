/**
 * A worker written the way Patavi's Clojure worker behaves, with plain amqplib and no Errand code:
 * it declares its queue, consumes with prefetch 1, sends the script message, publishes progress on
 * rpc_status, replies with a multipart (or failure) result and acks. Errand's server and recorder
 * must handle all of it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import amqp from 'amqplib';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, realBackend } from '../support/backends.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const SCRIPT = 'raw <- function(params) { update(list(progress = 50)); params }';
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);

/** The multipart body Apache's MultipartEntityBuilder produces for Patavi's worker. */
function multipart(index: unknown, files: Array<{ name: string; type: string; content: Buffer }>): { body: Buffer; contentType: string } {
  const boundary = 'PataviBoundary7MA4YWxkTrZu0gW';
  const parts: Buffer[] = [];
  const part = (headers: string, content: Buffer) => parts.push(Buffer.from(`--${boundary}\r\n${headers}\r\n\r\n`), content, Buffer.from('\r\n'));
  part('Content-Disposition: form-data; name="index"; filename="index.json"\r\nContent-Type: application/json', Buffer.from(JSON.stringify(index)));
  for (const f of files) part(`Content-Disposition: form-data; name="file"; filename="${f.name}"\r\nContent-Type: ${f.type}`, f.content);
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

await describeEachBackend('Patavi worker over raw AMQP', () => {
  let backend: Backend;
  let stack: Stack;
  let connection: amqp.ChannelModel;
  before(async () => {
    backend = await realBackend.create();
    stack = await startStack(backend);
    connection = await amqp.connect(backend.urls!.amqp);
    const channel = await connection.createChannel();
    await channel.assertExchange('rpc_status', 'topic', { durable: false });
    await channel.assertQueue('raw', { durable: true, exclusive: false, autoDelete: false });
    await channel.prefetch(1);
    await channel.consume('raw', (msg) => {
      if (!msg) return;
      const { correlationId, replyTo } = msg.properties as { correlationId: string; replyTo: string };
      const params = JSON.parse(msg.content.toString()) as { fail?: boolean };
      const json = { contentType: 'application/json', correlationId };
      channel.sendToQueue(replyTo, Buffer.from(JSON.stringify({ script: SCRIPT })), json);
      channel.publish('rpc_status', `${correlationId}.status`, Buffer.from(JSON.stringify({ taskId: correlationId, eventType: 'progress', eventData: { progress: 50 } })), { contentType: 'application/json' });
      if (params.fail) {
        channel.sendToQueue(replyTo, Buffer.from(JSON.stringify({ status: 'failed', cause: "Error in raw(params) : object 'x' not found" })), json);
      } else {
        const { body, contentType } = multipart({ params, plot: { href: 'plot.png', 'content-type': 'image/png' } }, [{ name: 'plot.png', type: 'image/png', content: PNG }]);
        channel.sendToQueue(replyTo, body, { contentType, correlationId });
      }
      channel.ack(msg);
    });
  });
  after(async () => {
    await connection?.close();
    await stack.close();
    await backend.close();
  });

  test('the task is queued as Patavi queues it: durable queue, correlation id, reply_to rpc_result, persistent', async () => {
    const connection2 = await amqp.connect(backend.urls!.amqp);
    const channel = await connection2.createChannel();
    await channel.assertQueue('peek', { durable: true });
    // Nobody consumes 'peek': only a server that queues for any name (Patavi's way) accepts it.
    const patavi = await startStack(backend, { settings: { allowUnknownServices: true }, recorder: false, nodeId: 2 });
    const { json } = await postTask(patavi.baseUrl, 'peek', { a: 1 });
    await patavi.close();
    const msg = await eventually(() => channel.get('peek', { noAck: true }), 'the task message');
    assert.deepEqual(JSON.parse(msg.content.toString()), { a: 1 });
    assert.equal(msg.properties.correlationId, json.id);
    assert.equal(msg.properties.replyTo, 'rpc_result');
    assert.equal(msg.properties.deliveryMode, 2);
    await connection2.close();
  });

  test('progress, a multi-file result and the script are all recorded and served', async () => {
    const { json } = await postTask(stack.baseUrl, 'raw', { x: [1, 2] });
    assert.equal(json.status, 'queued');
    const updates = await watchUpdates(json._links.updates.href, ['ws']);
    assert.equal(updates.messages.at(-1)!.eventType, 'done');
    const progress = updates.messages.filter((m) => m.eventType === 'progress');
    assert.ok(progress.every((m) => m.eventData.progress === 50));
    const task = (await (await fetch(json._links.self.href)).json()) as Record<string, any>;
    assert.equal(task.status, 'done');
    assert.equal(task._links.script.href, `${json._links.self.href}/script`);
    const script = await fetch(task._links.script.href);
    assert.equal(script.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(await script.text(), SCRIPT);
    const index = (await (await fetch(task._links.results.href)).json()) as Record<string, any>;
    assert.deepEqual(index, { params: { x: [1, 2] }, plot: { href: 'plot.png', 'content-type': 'image/png' } });
    const file = await fetch(`${task._links.results.href}/plot.png`);
    assert.equal(file.headers.get('content-type'), 'image/png');
    assert.deepEqual(Buffer.from(await file.arrayBuffer()), PNG);
  });

  test("a failure document fails the task with R's message", async () => {
    const { json } = await postTask(stack.baseUrl, 'raw', { fail: true });
    const updates = await watchUpdates(json._links.updates.href);
    assert.equal(updates.messages.at(-1)!.eventType, 'failed');
    assert.deepEqual(await (await fetch(`${json._links.self.href}/results`)).json(), { status: 'failed', cause: "Error in raw(params) : object 'x' not found" });
  });

  test('end messages are published on rpc_status as <id>.end after the result is committed', async () => {
    const channel = await connection.createChannel();
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
    await channel.bindQueue(queue, 'rpc_status', '*.end');
    const ends: Array<{ key: string; body: any }> = [];
    await channel.consume(queue, (msg) => msg && ends.push({ key: msg.fields.routingKey, body: JSON.parse(msg.content.toString()) }), { noAck: true });
    const { json } = await postTask(stack.baseUrl, 'raw', { y: 1 });
    await eventually(() => ends.length > 0, 'an end message');
    assert.deepEqual(ends[0], { key: `${json.id}.end`, body: { taskId: json.id, eventType: 'done', eventData: { href: `${stack.baseUrl}/task/${json.id}/results` } } });
    // Committed before it was announced.
    assert.equal((await backend.store.getTask(json.id))?.status, 'done');
    await channel.close();
  });
}, [realBackend]);
