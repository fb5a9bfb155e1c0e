// Shared by the floor's processes: the addresses, and the names on RabbitMQ (Patavi's: a queue per
// service, replies to one results queue, end messages on the rpc_status topic exchange).
import { userInfo } from 'node:os';

export const DATABASE_URL = process.env.FLOOR_DATABASE_URL ?? `postgres://${process.env.PGUSER ?? userInfo().username}@127.0.0.1:5432/errand_floor`;
export const AMQP_URL = process.env.FLOOR_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672/errand_floor';
export const RESULTS = 'floor.results';
export const STATUS_EXCHANGE = 'rpc_status';

/** Lines a child tells its parent (stdout, one JSON object each). */
export const tell = (message) => process.stdout.write(JSON.stringify(message) + '\n');

/** Calls `flush(items)` once per event-loop turn with everything added in that turn (group commit). */
export function perTurn(flush) {
  let pending = [];
  return (item) => new Promise((resolve, reject) => {
    if (pending.length === 0) setImmediate(() => {
      const batch = pending;
      pending = [];
      flush(batch.map((p) => p.item)).then(
        (answers) => batch.forEach((p, i) => p.resolve(answers?.[i])),
        (error) => batch.forEach((p) => p.reject(error)),
      );
    });
    pending.push({ item, resolve, reject });
  });
}

/** Numbers events from event_log's row as the statement's last step, as Errand's appendEvents does (docs/events.md). */
export const EVENTS_SQL = (source) => `
  taken AS (UPDATE event_log SET last_id = last_id + (SELECT count(*) FROM ${source}) RETURNING last_id - (SELECT count(*) FROM ${source}) AS before)
  INSERT INTO task_event (id, task_id, service, type, data, at, principal)
  SELECT taken.before + row_number() OVER (), e.task_id, e.service, e.type, e.data, now(), e.principal FROM taken, ${source} e`;
