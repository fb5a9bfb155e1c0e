// The floor's server: POST /task?service=S inserts the task and its `queued` event in one
// statement (group-committed per event-loop turn), publishes the task to the service's queue
// (persistent, confirmed), then answers 201. WS /task/:id/updates sends the terminal message when
// the recorder's end message arrives, or at once when the task has already ended. argv: port
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Connection } from 'rabbitmq-client';
import { WebSocketServer } from 'ws';
import { AMQP_URL, DATABASE_URL, EVENTS_SQL, RESULTS, STATUS_EXCHANGE, perTurn, tell } from './common.mjs';

const db = new pg.Pool({ connectionString: DATABASE_URL, max: 16 });
const amqp = new Connection({ url: AMQP_URL, noDelay: true });
const publisher = amqp.createPublisher({ confirm: true, maxAttempts: 1 });
const nextId = () => (randomBytes(8).readBigUInt64BE() >> 1n).toString(); // below 2^63, like Errand's ids

const insert = perTurn(async (tasks) => {
  await db.query(
    `WITH t AS (INSERT INTO task (id, service, input) SELECT * FROM unnest($1::bigint[], $2::text[], $3::json[]) RETURNING id, service, principal),
       e AS (SELECT id AS task_id, service, 'queued' AS type, 'null'::jsonb AS data, principal FROM t),
     ${EVENTS_SQL('e')}`,
    [tasks.map((t) => t.id), tasks.map((t) => t.service), tasks.map((t) => t.input)],
  );
});

const waiters = new Map(); // task id (hex) -> sockets
const terminal = (id, status) => JSON.stringify({ taskId: id, eventType: status, eventData: { href: `/task/${id}/results` } });
function finish(id, status) {
  const sockets = waiters.get(id);
  if (!sockets) return;
  waiters.delete(id);
  for (const socket of sockets) { socket.send(terminal(id, status)); socket.close(); }
}


const readBody = (request) => new Promise((resolve, reject) => {
  const chunks = [];
  request.on('data', (c) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks).toString())).on('error', reject);
});

const server = createServer(async (request, response) => {
  const url = new URL(request.url, 'http://x');
  const service = url.searchParams.get('service');
  if (request.method !== 'POST' || url.pathname !== '/task' || !service) { response.writeHead(404).end(); return; }
  try {
    const input = await readBody(request);
    JSON.parse(input);
    const id = nextId();
    await insert({ id, service, input });
    await publisher.send({ routingKey: service, durable: true, replyTo: RESULTS, correlationId: id, contentType: 'application/json; charset=utf-8' }, Buffer.from(input));
    const hex = BigInt(id).toString(16).padStart(16, '0');
    response.writeHead(201, { 'content-type': 'application/json', location: `/task/${hex}` })
      .end(JSON.stringify({ id: hex, service, status: 'queued', _links: { updates: { href: `ws://${request.headers.host}/task/${hex}/updates` } } }));
  } catch (error) {
    response.writeHead(500).end(String(error));
  }
});

const sockets = new WebSocketServer({ noServer: true });
server.on('upgrade', (request, socket, head) => {
  const hex = /^\/task\/([0-9a-f]{16})\/updates$/.exec(request.url)?.[1];
  if (!hex) { socket.destroy(); return; }
  sockets.handleUpgrade(request, socket, head, async (ws) => {
    let set = waiters.get(hex);
    if (!set) waiters.set(hex, (set = new Set()));
    set.add(ws);
    const { rows } = await db.query('SELECT status FROM task WHERE id = $1', [BigInt('0x' + hex).toString()]);
    if (rows[0] && ['done', 'failed', 'canceled', 'expired'].includes(rows[0].status)) finish(hex, rows[0].status);
  });
});

await amqp.exchangeDeclare({ exchange: STATUS_EXCHANGE, type: 'topic', durable: true });
await amqp.queueDeclare({ queue: RESULTS, durable: true });
// Created after the awaits above, so that its 'ready' cannot fire before the listener is on.
const ends = amqp.createConsumer({ queueOptions: { exclusive: true, autoDelete: true }, queueBindings: [{ exchange: STATUS_EXCHANGE, routingKey: '*.end' }], noAck: true },
  (message) => finish(message.routingKey.slice(0, -4), message.body.status));
await new Promise((resolve) => ends.once('ready', resolve));
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => tell({ msg: 'listening', address: `http://127.0.0.1:${server.address().port}` }));
process.on('SIGTERM', async () => { server.close(); await ends.close(); await publisher.close(); await amqp.close(); await db.end(); process.exit(0); });
