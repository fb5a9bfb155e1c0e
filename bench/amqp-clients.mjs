// Compares the two Node RabbitMQ clients on confirmed persistent publishing (docs/architecture.md).
// Run: node bench/amqp-clients.mjs (RabbitMQ on 127.0.0.1:5672).
import amqp from 'amqplib';
import { Connection } from 'rabbitmq-client';
const N = 20000, INFLIGHT = 512;
async function benchAmqplib() {
  const c = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
  const ch = await c.createConfirmChannel();
  await ch.assertQueue('bench_a', { durable: true }); await ch.purgeQueue('bench_a');
  const cch = await c.createChannel(); await cch.prefetch(256);
  let got = 0; let done; const all = new Promise(r => done = r);
  await cch.consume('bench_a', m => { cch.ack(m); if (++got === N) done(); });
  const t0 = performance.now();
  const pending = new Set();
  for (let i = 0; i < N; i++) {
    const p = new Promise((res, rej) => ch.sendToQueue('bench_a', Buffer.from('{"i":1}'), { persistent: true, correlationId: 'x'+i, replyTo: 'rpc_result' }, e => e ? rej(e) : res()));
    pending.add(p); p.then(() => pending.delete(p));
    if (pending.size >= INFLIGHT) await Promise.race(pending);
  }
  await Promise.all(pending); const tp = performance.now() - t0;
  await all; const tt = performance.now() - t0;
  console.log(`amqplib: publish+confirm ${(N/tp*1000).toFixed(0)}/s, end-to-end ${(N/tt*1000).toFixed(0)}/s`);
  await c.close();
}
async function benchRmqClient() {
  const rabbit = new Connection('amqp://guest:guest@127.0.0.1:5672');
  await rabbit.queueDeclare({ queue: 'bench_b', durable: true }); await rabbit.queuePurge({queue:'bench_b'});
  const pub = rabbit.createPublisher({ confirm: true, maxAttempts: 1 });
  let got = 0; let done; const all = new Promise(r => done = r);
  const sub = rabbit.createConsumer({ queue: 'bench_b', queueOptions: { durable: true }, qos: { prefetchCount: 256 }, concurrency: 256 }, async () => { if (++got === N) done(); });
  const t0 = performance.now();
  const pending = new Set();
  for (let i = 0; i < N; i++) {
    const p = pub.send({ routingKey: 'bench_b', durable: true, correlationId: 'x'+i, replyTo: 'rpc_result' }, Buffer.from('{"i":1}'));
    pending.add(p); p.then(() => pending.delete(p));
    if (pending.size >= INFLIGHT) await Promise.race(pending);
  }
  await Promise.all(pending); const tp = performance.now() - t0;
  await all; const tt = performance.now() - t0;
  console.log(`rabbitmq-client: publish+confirm ${(N/tp*1000).toFixed(0)}/s, end-to-end ${(N/tt*1000).toFixed(0)}/s`);
  await sub.close(); await pub.close(); await rabbit.close();
}
for (let r = 0; r < 3; r++) { await benchAmqplib(); await benchRmqClient(); }
