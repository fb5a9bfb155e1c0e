// The floor's recorder: consumes results (prefetch 256), writes each batch (one event-loop turn's
// deliveries) in ONE statement: the task rows done with their results, and their `started` and
// `done` events numbered from event_log. After the commit it publishes each task's end message
// on rpc_status (`<id>.end`, as Errand does), then acknowledges.
import pg from 'pg';
import { Connection } from 'rabbitmq-client';
import { AMQP_URL, DATABASE_URL, EVENTS_SQL, RESULTS, STATUS_EXCHANGE, perTurn, tell } from './common.mjs';

const db = new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
const amqp = new Connection({ url: AMQP_URL, noDelay: true });
const publisher = amqp.createPublisher({ confirm: false });
const record = perTurn(async (results) => {
  await db.query(
    `WITH t AS (UPDATE task SET status = 'done', result = u.result, started_at = to_timestamp(u.started / 1000.0), completed_at = now()
                FROM unnest($1::bigint[], $2::json[], $3::float8[]) AS u(id, result, started)
                WHERE task.id = u.id AND task.status IN ('queued', 'running') RETURNING task.id, task.service, task.principal),
       e AS (SELECT id AS task_id, service, k.type, 'null'::jsonb AS data, principal FROM t, (VALUES (1, 'started'), (2, 'done')) AS k(n, type) ORDER BY id, k.n),
     ${EVENTS_SQL('e')}`,
    [results.map((r) => r.id), results.map((r) => r.result), results.map((r) => r.started)],
  );
});
await amqp.exchangeDeclare({ exchange: STATUS_EXCHANGE, type: 'topic', durable: true });
await amqp.queueDeclare({ queue: RESULTS, durable: true });
const consumer = amqp.createConsumer({ queue: RESULTS, queueOptions: { durable: true }, qos: { prefetchCount: 256 }, concurrency: 256 }, async (message) => {
  const id = message.correlationId;
  await record({ id, result: message.body.toString(), started: Number(message.headers?.['x-errand-started-at'] ?? Date.now()) });
  const hex = BigInt(id).toString(16).padStart(16, '0');
  await publisher.send({ exchange: STATUS_EXCHANGE, routingKey: `${hex}.end` }, { taskId: hex, status: 'done' });
});
await new Promise((resolve) => consumer.once('ready', resolve));
tell({ msg: 'ready' });
process.on('SIGTERM', async () => { await consumer.close(); await publisher.close(); await amqp.close(); await db.end(); process.exit(0); });
