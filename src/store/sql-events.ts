/**
 * The event log in SQL. Writers add events to task_event_pending inside the transaction that
 * makes the change (no lock shared with other writers); `sequenceEvents` then moves them into
 * task_event with their ids, one sequencer at a time (see 003_events.sql).
 */
import { canBeIssued, taskIdToDecimal } from '../core/index.ts';
import type { EventFilter, EventType, NewEvent, TaskEvent } from '../core/index.ts';
import type { SqlClient, SqlQueryable } from './sql-client.ts';

interface EventRow { id: string; task_id: string; service: string; type: EventType; data: unknown; at: Date; owner: string | null }

const EVENT_COLUMNS = `id::text AS id, lpad(to_hex(task_id), 16, '0') AS task_id, service, type, data, at, principal AS owner`;

function toEvent(row: EventRow): TaskEvent {
  return { id: Number(row.id), taskId: row.task_id, service: row.service, type: row.type, data: row.data, at: new Date(row.at), owner: row.owner };
}

/**
 * Adds events to the pending log, in the caller's transaction; they get ids when sequenced. Each
 * takes its task's owner from the task row, unless it gives one (a `deleted` event, whose row is gone).
 */
export async function appendEvents(q: SqlQueryable, events: NewEvent[]): Promise<NewEvent[]> {
  if (events.length === 0) return [];
  await q.query(
    `INSERT INTO task_event_pending (task_id, service, type, data, principal)
     SELECT u.task_id, u.service, u.type, u.data::jsonb, coalesce(u.owner, t.principal)
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u(task_id, service, type, data, owner, n)
       LEFT JOIN task t ON t.id = u.task_id
     ORDER BY u.n`,
    [
      events.map((e) => taskIdToDecimal(e.taskId)), events.map((e) => e.service), events.map((e) => e.type),
      events.map((e) => JSON.stringify(e.data ?? null)), events.map((e) => e.owner ?? null),
    ],
  );
  return events;
}

/**
 * Numbers up to `limit` pending events, oldest write first, and moves them into the log.
 * Waiting for the event_log row lock first means every event committed before this sequencer
 * got its turn is numbered now or by a later one, never before an event numbered earlier.
 */
export async function sequenceEvents(db: SqlClient, limit: number): Promise<TaskEvent[]> {
  return db.transaction(async (tx) => {
    // The pending table is a queue: between vacuums it is mostly dead rows, which statistics
    // count as live, so the planner would scan and sort all of them on every pass. The pk
    // index finds the oldest pending rows directly (and skips dead entries once marked). The
    // knob inflates the cost estimate of whatever it discourages, so JIT is kept off here: it
    // would otherwise compile this small statement on every pass.
    await tx.query(`SELECT set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true)`);
    const log = await tx.query<{ last_id: string }>('SELECT last_id::text AS last_id FROM event_log FOR UPDATE');
    const last = Number(log.rows[0]!.last_id);
    const moved = await tx.query<EventRow>(
      `WITH taken AS (
         DELETE FROM task_event_pending WHERE pk IN (SELECT pk FROM task_event_pending ORDER BY pk LIMIT $2)
         RETURNING pk, task_id, service, type, data, at, principal)
       INSERT INTO task_event (id, task_id, service, type, data, at, principal)
       SELECT $1::bigint + row_number() OVER (ORDER BY pk), task_id, service, type, data, at, principal FROM taken
       RETURNING ${EVENT_COLUMNS}`,
      [last, limit],
    );
    if (moved.rows.length === 0) return [];
    await tx.query('UPDATE event_log SET last_id = $1', [last + moved.rows.length]);
    return moved.rows.map(toEvent).sort((a, b) => a.id - b.id);
  });
}

/** True when events wait for their ids (cheap: no lock). */
export async function hasPendingEvents(q: SqlQueryable): Promise<boolean> {
  return (await q.query<{ pending: boolean }>('SELECT EXISTS (SELECT 1 FROM task_event_pending) AS pending')).rows[0]!.pending;
}

function filterParams(filter: EventFilter): unknown[] {
  return [
    // An id past bigint can have no events: left out rather than failing the query.
    filter.tasks ? [...filter.tasks].filter(canBeIssued).map(taskIdToDecimal) : null,
    filter.services ? [...filter.services] : null,
    filter.types ? [...filter.types] : null,
    filter.owner ?? null,
  ];
}

const FILTER_SQL = `($1::bigint[] IS NULL OR task_id = ANY($1::bigint[]))
  AND ($2::text[] IS NULL OR service = ANY($2::text[]))
  AND ($3::text[] IS NULL OR type = ANY($3::text[]))
  AND ($4::text IS NULL OR principal = $4::text)`;

/** Events after `after` and up to `upTo` (when given) that pass the filter, oldest first. */
export async function readEvents(q: SqlQueryable, filter: EventFilter, after: number, upTo: number | null, limit: number): Promise<TaskEvent[]> {
  const rows = await q.query<EventRow>(
    `SELECT ${EVENT_COLUMNS} FROM task_event
     WHERE ${FILTER_SQL} AND id > $5 AND ($6::bigint IS NULL OR id <= $6::bigint)
     ORDER BY task_event.id LIMIT $7`,
    [...filterParams(filter), after, upTo, limit],
  );
  return rows.rows.map(toEvent);
}

/** The last `count` events up to `upTo` that pass the filter, oldest first. */
export async function lastEvents(q: SqlQueryable, filter: EventFilter, upTo: number, count: number): Promise<TaskEvent[]> {
  const rows = await q.query<EventRow>(
    `SELECT ${EVENT_COLUMNS} FROM task_event WHERE ${FILTER_SQL} AND id <= $5 ORDER BY task_event.id DESC LIMIT $6`,
    [...filterParams(filter), upTo, count],
  );
  return rows.rows.map(toEvent).reverse();
}

export async function lastEventId(q: SqlQueryable): Promise<number> {
  return Number((await q.query<{ last_id: string }>('SELECT last_id::text AS last_id FROM event_log')).rows[0]!.last_id);
}

export async function oldestEventId(q: SqlQueryable): Promise<number | undefined> {
  const id = (await q.query<{ id: string | null }>('SELECT min(id)::text AS id FROM task_event')).rows[0]?.id;
  return id == null ? undefined : Number(id);
}

/** Removes up to `limit` of the oldest events written more than `retentionSeconds` ago. */
export async function trimEvents(q: SqlQueryable, retentionSeconds: number, limit: number): Promise<number> {
  const gone = await q.query(
    `DELETE FROM task_event WHERE id IN (
       SELECT id FROM task_event WHERE at < now() - make_interval(secs => $1) ORDER BY at LIMIT $2)`,
    [retentionSeconds, limit],
  );
  return gone.rowCount;
}
