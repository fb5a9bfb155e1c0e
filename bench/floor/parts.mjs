// The floor's latency, part by part: each step a task's path needs, timed alone and in sequence
// (nothing else in flight), median and p99 of R repetitions. Run after bench.mjs (it uses the
// errand_floor database and vhost that bench.mjs made). `node bench/floor/parts.mjs [R]`
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Connection } from 'rabbitmq-client';
import { Pool } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import { AMQP_URL, DATABASE_URL, EVENTS_SQL } from './common.mjs';

const R = Number(process.argv[2] ?? 500);
const time = async (name, step) => {
  for (let i = 0; i < 20; i++) await step(); // warm up
  const xs = [];
  for (let i = 0; i < R; i++) { const t = performance.now(); await step(); xs.push(performance.now() - t); }
  xs.sort((a, b) => a - b);
  const at = (p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))].toFixed(2);
  console.log(`${name.padEnd(58)} p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`);
};

const db = new pg.Client({ connectionString: DATABASE_URL });
await db.connect();
const id = () => (randomBytes(8).readBigUInt64BE() >> 1n).toString();
await time('PostgreSQL: SELECT 1 (a round trip)', () => db.query('SELECT 1'));
await time('PostgreSQL: task + queued event, one statement (a commit)', () => db.query(
  `WITH t AS (INSERT INTO task (id, service, input) VALUES ($1, 'noop', '{"n":1}') RETURNING id, service, principal),
     e AS (SELECT id AS task_id, service, 'queued' AS type, 'null'::jsonb AS data, principal FROM t), ${EVENTS_SQL('e')}`, [id()]));
await db.query('SET synchronous_commit = off');
await time('  the same without waiting for the WAL flush (not durable)', () => db.query(
  `WITH t AS (INSERT INTO task (id, service, input) VALUES ($1, 'noop', '{"n":1}') RETURNING id, service, principal),
     e AS (SELECT id AS task_id, service, 'queued' AS type, 'null'::jsonb AS data, principal FROM t), ${EVENTS_SQL('e')}`, [id()]));
await db.end();

const amqp = new Connection({ url: AMQP_URL, noDelay: true });
await amqp.queueDeclare({ queue: 'floor.parts', durable: true });
const publisher = amqp.createPublisher({ confirm: true, maxAttempts: 1 });
await time('RabbitMQ: publish persistent, confirmed (a disk write)', () => publisher.send({ routingKey: 'floor.parts', durable: true }, 'x'));
await time('  the same, transient', () => publisher.send({ routingKey: 'floor.parts', durable: false }, 'x'));
await amqp.queueDelete({ queue: 'floor.parts' }); // with what the steps above left in it
await amqp.queueDeclare({ queue: 'floor.parts', durable: true });
let delivered;
const consumer = amqp.createConsumer({ queue: 'floor.parts', queueOptions: { durable: true }, noAck: true }, () => delivered?.());
await new Promise((resolve) => consumer.once('ready', resolve));
await time('RabbitMQ: publish persistent to delivery to a consumer', () => new Promise((resolve) => { delivered = resolve; publisher.send({ routingKey: 'floor.parts', durable: true }, 'x'); }));
await consumer.close(); await publisher.close(); await amqp.queueDelete({ queue: 'floor.parts' }); await amqp.close();

const server = createServer((q, s) => { q.resume(); q.on('end', () => s.writeHead(201).end('{}')); });
const sockets = new WebSocketServer({ server });
sockets.on('connection', (ws) => ws.send('{"eventType":"done"}'));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${server.address().port}`;
const http = new Pool(base, { connections: 1 });
await time('HTTP: POST answered at once (undici to node:http)', async () => { const r = await http.request({ path: '/task', method: 'POST', body: '{"n":1}' }); await r.body.text(); });
await time('WebSocket: connect and first message', () => new Promise((resolve, reject) => { const s = new WebSocket(base.replace('http', 'ws')); s.on('message', () => { s.close(); resolve(); }); s.on('error', reject); }));
await http.close(); sockets.close(); server.close();
