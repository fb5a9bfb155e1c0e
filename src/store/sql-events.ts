/**
 * The event log in SQL. Each transaction that changes tasks writes its events last, numbered from
 * event_log's row under its lock until commit (see appendEvents and 009_events_at_commit.sql).
 */
import { canBeIssued, taskIdToDecimal } from '../core/index.ts';
import type { EventFilter, EventType, NewEvent, TaskEvent } from '../core/index.ts';
import { prepared } from './sql-client.ts';
import type { SqlQueryable } from './sql-client.ts';

export interface EventRow { id: string; task_id: string; service: string; type: EventType; data: unknown; at: Date; owner: string | null }

export const EVENT_COLUMNS = `id::text AS id, lpad(to_hex(task_id), 16, '0') AS task_id, service, type, data, at, principal AS owner`;

export function toEvent(row: EventRow): TaskEvent {
  return { id: Number(row.id), taskId: row.task_id, service: row.service, type: row.type, data: row.data, at: new Date(row.at), owner: row.owner };
}

/**
 * Writes events into the log with their ids, as the last statement of the caller's transaction.
 * The ids are taken from event_log's row, whose lock the transaction then holds until it
 * commits: a later writer waits for it, so ids are committed in id order and a reader that sees
 * id N already sees every id below it (docs/events.md). Whatever the transaction does after this
 * holds every other writer of events back, hence "last". Each event takes its task's owner from
 * the task row, unless it gives one (a `deleted` event, whose row is gone).
 */
export async function appendEvents(q: SqlQueryable, events: NewEvent[]): Promise<TaskEvent[]> {
  return changeWithEvents(q, undefined, events);
}

/** A data-modifying statement that runs in the same statement as the events (its parameters are $1, $2, ...). */
export interface Change { sql: string; params: unknown[] }

/**
 * `change` and the events it makes in ONE statement: alone (autocommit) it is a whole transaction
 * in one round trip, and the log's lock is held only for that statement. The change runs as a CTE,
 * in the statement's snapshot: events of rows it inserts must give their owner.
 */
export async function changeWithEvents(q: SqlQueryable, change: Change | undefined, events: NewEvent[]): Promise<TaskEvent[]> {
  if (events.length === 0) {
    if (change) await q.query(change.sql, change.params);
    return [];
  }
  const before = change?.params ?? [];
  const p = (n: number): string => `$${before.length + n}`;
  // Its text is one of a few (one per kind of change): kept prepared.
  const rows = await q.query<EventRow>(prepared(
    `WITH ${change ? `change AS (${change.sql}), ` : ''}taken AS (UPDATE event_log SET last_id = last_id + ${p(6)} RETURNING last_id - ${p(6)} AS before)
     INSERT INTO task_event (id, task_id, service, type, data, at, principal)
     SELECT taken.before + u.n, u.task_id, u.service, u.type, u.data::jsonb, now(), coalesce(u.owner, t.principal)
     FROM taken, unnest(${p(1)}::bigint[], ${p(2)}::text[], ${p(3)}::text[], ${p(4)}::text[], ${p(5)}::text[]) WITH ORDINALITY AS u(task_id, service, type, data, owner, n)
       LEFT JOIN task t ON t.id = u.task_id
     RETURNING ${EVENT_COLUMNS}`),
    [
      ...before,
      events.map((e) => taskIdToDecimal(e.taskId)), events.map((e) => e.service), events.map((e) => e.type),
      events.map((e) => JSON.stringify(e.data ?? null)), events.map((e) => e.owner ?? null), events.length,
    ],
  );
  return rows.rows.map(toEvent).sort((a, b) => a.id - b.id);
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
