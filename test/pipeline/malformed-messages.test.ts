/**
 * Malformed AMQP messages, sent raw with amqplib to every queue and exchange a role consumes:
 * none may crash a role, block a queue or lose the good message behind it. A message about a
 * task fails that task with a clear code; one that names no task (or can never be written) is
 * set aside in `errand.dead` with its reason; garbage on the fan-out channels is ignored.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import amqp from 'amqplib';
import { DEAD_LETTER_QUEUE, DEAD_QUEUE_HEADER, DEAD_REASON_HEADER } from '../../src/broker/index.ts';
import { FlakeIdGenerator, PROGRESS_QUEUE, RESULT_QUEUE, STARTED_TYPE } from '../../src/core/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, realBackend } from '../support/backends.ts';
import { postTask } from '../support/http.ts';
import { echo } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const ids = new FlakeIdGenerator(43);
/** Large, yet small enough for amqplib's 64 KiB header table buffer. */
const HUGE = 'x'.repeat(60 * 1024);

await describeEachBackend('malformed AMQP messages', () => {
  let backend: Backend;
  let stack: Stack;
  let connection: amqp.ChannelModel;
  let channel: amqp.ConfirmChannel;
  const dead: Array<{ queue: string; reason: string; correlationId: string | undefined }> = [];

  before(async () => {
    backend = await realBackend.create();
    stack = await startStack(backend, { services: [echo()], settings: { allowUnknownServices: true } });
    // RabbitMQ's frame size: a content header (and so every header table) must fit in one frame.
    connection = await amqp.connect(`${backend.urls!.amqp}?frameMax=131072`);
    channel = await connection.createConfirmChannel();
    await channel.assertQueue(DEAD_LETTER_QUEUE, { durable: true });
    await channel.consume(DEAD_LETTER_QUEUE, (msg) => {
      if (!msg) return;
      const headers = msg.properties.headers ?? {};
      dead.push({ queue: String(headers[DEAD_QUEUE_HEADER]), reason: String(headers[DEAD_REASON_HEADER]), correlationId: msg.properties.correlationId });
      channel.ack(msg);
    });
  });
  after(async () => {
    await connection?.close();
    await stack.close();
    await backend.close();
  });

  async function publish(exchange: string, routingKey: string, body: Buffer | string, options: amqp.Options.Publish = {}): Promise<void> {
    channel.publish(exchange, routingKey, typeof body === 'string' ? Buffer.from(body) : body, options);
    await channel.waitForConfirms();
  }
  const toQueue = (queue: string, body: Buffer | string, options: amqp.Options.Publish = {}) => publish('', queue, body, options);
  async function manualTask(): Promise<string> {
    const { response, json } = await postTask(stack.baseUrl, 'manual', {});
    assert.equal(response.status, 201);
    return json.id as string;
  }
  async function ended(id: string): Promise<{ status: string; error: { code: string; message: string } | null }> {
    return eventually(async () => {
      const task = await backend.store.getTask(id);
      return task && task.status !== 'queued' && task.status !== 'running' && task;
    }, `task ${id} to end`);
  }
  const json = { contentType: 'application/json' };

  test('replies: each bad one fails its task or is set aside, and the good ones after them are recorded', async () => {
    const made = await Promise.all(Array.from({ length: 8 }, manualTask));
    const [badType, truncated, badIndex, notJson, oddStart, nulScript, hugeHeader, good] = made as [string, string, string, string, string, string, string, string];
    await toQueue(RESULT_QUEUE, '{"no":"correlation id"}', json);
    await toQueue(RESULT_QUEUE, '{"n":1}', { ...json, correlationId: 'not-a-task' });
    await toQueue(RESULT_QUEUE, '{"n":1}', { ...json, correlationId: 'ffffffffffffffff' });
    await toQueue(RESULT_QUEUE, '<html>no</html>', { contentType: 'text/html', correlationId: badType });
    const boundary = 'B0undary';
    await toQueue(RESULT_QUEUE, `--${boundary}\r\nContent-Disposition: form-data; name="index"; filename="index.json"\r\nContent-Type: application/json\r\n\r\n{"a":`, { contentType: `multipart/form-data; boundary=${boundary}`, correlationId: truncated });
    await toQueue(RESULT_QUEUE, `--${boundary}\r\nContent-Disposition: form-data; name="index"\r\n\r\nnot json\r\n--${boundary}--\r\n`, { contentType: `multipart/form-data; boundary=${boundary}`, correlationId: badIndex });
    await toQueue(RESULT_QUEUE, 'not json{', { ...json, correlationId: notJson });
    await toQueue(RESULT_QUEUE, '\u0000garbage', { ...json, correlationId: oddStart, type: STARTED_TYPE });
    await toQueue(RESULT_QUEUE, JSON.stringify({ script: 'a\u0000b' }), { ...json, correlationId: nulScript });
    await toQueue(RESULT_QUEUE, '{"n":"huge"}', { ...json, correlationId: hugeHeader, headers: { 'x-errand-console': HUGE, 'x-errand-last-progress': '{oops', 'x-errand-seq': 'abc', 'x-errand-run': { a: [1, 2] } } });
    for (const id of [oddStart, nulScript, good]) await toQueue(RESULT_QUEUE, '{"ok":true}', { ...json, correlationId: id });

    for (const id of [badType, truncated, badIndex, notJson]) {
      const task = await ended(id);
      assert.equal(task.status, 'failed', id);
      assert.equal(task.error?.code, 'invalid_result', id);
    }
    for (const id of [oddStart, nulScript, hugeHeader, good]) assert.equal((await ended(id)).status, 'done', id);
    assert.equal(await backend.store.getConsole(hugeHeader), HUGE);
    const fromResults = await eventually(() => {
      const set = dead.filter((d) => d.queue === RESULT_QUEUE);
      return set.length >= 4 && set;
    }, 'four replies set aside');
    // An id past PostgreSQL's bigint is no task id at all: set aside, never sent to the database.
    assert.deepEqual(fromResults.map((d) => d.correlationId), [undefined, 'not-a-task', 'ffffffffffffffff', nulScript]);
    assert.match(fromResults[0]!.reason, /without a valid task id/);
    assert.match(fromResults[2]!.reason, /without a valid task id/);
    assert.match(fromResults[3]!.reason, /can never be recorded/);
    await eventually(async () => (await backend.broker.queueStats(RESULT_QUEUE))?.messages === 0, 'the reply queue to be empty');
  });

  test('progress: a body that is not a progress message is set aside; good progress behind it is recorded', async () => {
    const id = await manualTask();
    await publish('rpc_status', 'nobody.status', 'garbage');
    await publish('rpc_status', `${id}.status`, '{"eventType":"weird"}', json);
    await publish('rpc_status', `${id}.status`, 'not json', json);
    await publish('rpc_status', `${id}.status`, JSON.stringify({ taskId: id, eventType: 'progress', eventData: { progress: 42 } }), { ...json, headers: { filler: HUGE, 'x-errand-seq': { x: 1 } } });
    await eventually(async () => (await backend.store.getTask(id))?.progress !== null && (await backend.store.getTask(id))?.progress, 'the good progress to be recorded');
    assert.deepEqual((await backend.store.getTask(id))?.progress?.value, { progress: 42 });
    const fromProgress = await eventually(() => {
      const set = dead.filter((d) => d.queue === PROGRESS_QUEUE);
      return set.length >= 3 && set;
    }, 'three progress messages set aside');
    assert.equal(fromProgress.length, 3);
    await eventually(async () => (await backend.broker.queueStats(PROGRESS_QUEUE))?.messages === 0, 'the progress queue to be empty');
  });

  test('task messages: one without a task id is set aside, one that is not JSON fails its task, odd headers do no harm', async () => {
    const task = async (): Promise<string> => {
      const id = ids.next();
      await backend.store.insertTask({ id, service: 'echo', input: '{}', owner: null, clientName: null, ttl: null });
      return id;
    };
    const [notJson, hugeHeader, oddDeadline] = [await task(), await task(), await task()];
    const message = { ...json, replyTo: RESULT_QUEUE, persistent: true };
    await toQueue('echo', '{"a":1}', message);
    await toQueue('echo', '{"a":2}', { ...message, correlationId: 'ffffffffffffffff' });
    await toQueue('echo', 'not json', { ...message, correlationId: notJson });
    await toQueue('echo', '{"b":2}', { ...message, correlationId: hugeHeader, headers: { filler: HUGE } });
    await toQueue('echo', '{"c":3}', { ...message, correlationId: oddDeadline, headers: { 'x-errand-deadline': 'someday' } });
    const failed = await ended(notJson);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error?.code, 'invalid_input');
    assert.equal((await ended(hugeHeader)).status, 'done');
    assert.equal((await ended(oddDeadline)).status, 'done');
    const { json: good } = await postTask(stack.baseUrl, 'echo', { after: 'bad' });
    assert.equal((await ended(good.id as string)).status, 'done');
    const fromEcho = await eventually(() => {
      const set = dead.filter((d) => d.queue === 'echo');
      return set.length >= 2 && set;
    }, 'the task messages without a storable id set aside');
    assert.deepEqual(fromEcho.map((d) => d.correlationId), [undefined, 'ffffffffffffffff']);
    for (const d of fromEcho) assert.match(d.reason, /without a valid task id/);
  });

  test('garbage on the control and registry channels is ignored; the roles go on answering', async () => {
    const garbage = ['', 'garbage', 'null', '[]', '"text"', '{"type":"cancel","taskIds":"nope"}', '{"type":"cancel","taskIds":[1,{},"zz"]}',
      '{"type":"sync"}', '['.repeat(100_000), `{"type":"${HUGE}"}`];
    for (const body of garbage) await publish('errand.control', 'control', body);
    const announcements = ['{"kind":"announce"}', '{"kind":"announce","worker":{"id":"evil","intervalMs":1e400},"services":[{"name":"evil","version":"1","concurrency":1e400,"ttl":"P300000Y","inputSchema":{"type":"nonsense"}}]}',
      '{"kind":"goodbye","worker":7}', '{"kind":"probe"}', '{"kind":"announce","worker":{"id":"w"},"services":"all"}'];
    for (const body of [...garbage, ...announcements]) await publish('errand.services', 'services', body);

    // The registry still hears a good announcement, and the evil one carries none of its absurd values.
    await publish('errand.services', 'services', JSON.stringify({ kind: 'announce', worker: { id: 'raw-worker', intervalMs: 60_000 }, services: [{ name: 'raw-good', version: '1' }] }));
    await eventually(async () => {
      const { services } = (await (await fetch(`${stack.baseUrl}/services`)).json()) as { services: Array<{ name: string }> };
      return services.some((s) => s.name === 'raw-good');
    }, 'the good announcement to be heard');
    const evilView = (await (await fetch(`${stack.baseUrl}/services/evil`)).json()) as { ttl: string | null; capacity: number };
    assert.equal(evilView.ttl, null);
    assert.equal(evilView.capacity, 1);
    const evil = await postTask(stack.baseUrl, 'evil', { any: 'input' });
    assert.equal(evil.response.status, 201);

    // A server still answers a worker's sync, and the worker still runs tasks.
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, 'errand.control', '#');
    await publish('errand.control', 'control', JSON.stringify({ type: 'sync', worker: 'raw' }));
    await eventually(async () => {
      const msg = await channel.get(queue, { noAck: true });
      return msg && (JSON.parse(msg.content.toString()) as { type?: string }).type === 'cancel';
    }, "a server's answer to the sync");
    const { json: good } = await postTask(stack.baseUrl, 'echo', { still: 'working' });
    assert.equal((await ended(good.id as string)).status, 'done');
  });
}, [realBackend]);
