// The floor's worker: consumes the `noop` queue (prefetch K), runs the no-op in-process, replies
// with the result to the results queue (persistent, confirmed), then acknowledges the delivery.
// argv: concurrency
import { Connection } from 'rabbitmq-client';
import { AMQP_URL, RESULTS, tell } from './common.mjs';

const concurrency = Number(process.argv[2] ?? 64);
const amqp = new Connection({ url: AMQP_URL, noDelay: true });
const publisher = amqp.createPublisher({ confirm: true, maxAttempts: 1 });
await amqp.queueDeclare({ queue: 'noop', durable: true });
const consumer = amqp.createConsumer({ queue: 'noop', queueOptions: { durable: true }, qos: { prefetchCount: concurrency }, concurrency }, async (message) => {
  const input = JSON.parse(message.body.toString());
  const result = JSON.stringify({ n: input?.n ?? null });
  await publisher.send({ routingKey: message.replyTo, correlationId: message.correlationId, durable: true, contentType: 'application/json; charset=utf-8', headers: { 'x-errand-started-at': Date.now() } }, Buffer.from(result));
  // returning acknowledges
});
await new Promise((resolve) => consumer.once('ready', resolve));
tell({ msg: 'ready', results: RESULTS });
process.on('SIGTERM', async () => { await consumer.close(); await publisher.close(); await amqp.close(); process.exit(0); });
