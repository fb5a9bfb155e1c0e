/**
 * The task table as the sql-*.ts modules share it: the columns read, rows turned into core types,
 * and the writes several of them make (inserting queued tasks, starting and ending attempts).
 * Ids travel as decimal text (both drivers bind it to bigint without loss) and come back as
 * 16 hex digits, computed in SQL, so no driver ever turns one into a lossy JS number.
 */
import { failureIndex, taskIdToDecimal } from '../core/index.ts';
import type { ProgressState, TaskError, TaskEvent, TaskInfo, TaskSnapshot, TaskStatus } from '../core/index.ts';
import { prepared } from './sql-client.ts';
import type { SqlQueryable } from './sql-client.ts';
import { changeWithEvents, EVENT_COLUMNS, toEvent } from './sql-events.ts';
import type { EventRow } from './sql-events.ts';
import type { NewTask } from './store.ts';

export const HEX_ID = `lpad(to_hex(id), 16, '0')`;
export const TASK_COLUMNS = `${HEX_ID} AS id, service, status, principal AS owner, created_at, started_at, completed_at, expires_at,
  attempts, worker, script IS NOT NULL AS has_script, console IS NOT NULL AS has_console, error, deadline, progress,
  callbacks IS NOT NULL AS has_callbacks`;
const SNAPSHOT_COLUMNS = `${HEX_ID} AS id, service, status, run_id, attempts, worker, progress_seq, started_at`;

export interface TaskRow {
  id: string; service: string; status: TaskStatus; owner: string | null;
  created_at: Date; started_at: Date | null; completed_at: Date | null; expires_at: Date | null;
  attempts: number; worker: string | null; has_script: boolean; has_console: boolean;
  error: TaskError | null; deadline: Date | null; progress: ProgressState | null;
  has_callbacks: boolean;
}

interface SnapshotRow {
  id: string; service: string; status: TaskStatus; run_id: string | null; attempts: number;
  worker: string | null; progress_seq: number | null; started_at: Date | null;
}

export function toTaskInfo(row: TaskRow): TaskInfo {
  return {
    id: row.id, service: row.service, status: row.status, owner: row.owner,
    createdAt: row.created_at, startedAt: row.started_at, completedAt: row.completed_at, expiresAt: row.expires_at,
    attempts: Number(row.attempts), worker: row.worker, hasScript: row.has_script, hasConsole: row.has_console, error: row.error,
    deadline: row.deadline, progress: row.progress,
    ...(row.has_callbacks ? { hasCallbacks: true } : {}),
  };
}

function toSnapshot(row: SnapshotRow): TaskSnapshot {
  return {
    id: row.id, service: row.service, status: row.status, runId: row.run_id, attempts: Number(row.attempts),
    worker: row.worker, progressSeq: row.progress_seq === null ? null : Number(row.progress_seq), startedAt: row.started_at && new Date(row.started_at),
  };
}

/** Locks the rows of `ids` for the rest of the transaction and reads them. */
export async function lockSnapshots(q: SqlQueryable, ids: string[]): Promise<Map<string, TaskSnapshot>> {
  const rows = await q.query<SnapshotRow>(
    `SELECT ${SNAPSHOT_COLUMNS} FROM task WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE`, [[...new Set(ids)].map(taskIdToDecimal)],
  );
  return new Map(rows.rows.map((r) => [r.id, toSnapshot(r)]));
}

/**
 * One task and its `queued` event, the statement a lone submission takes (the usual case when
 * submissions do not overlap). Its own text because PostgreSQL plans insertRows' arrays for each
 * call's values (it cannot tell their length in a generic plan), 0.35 ms of planning a time, while
 * a plan of this one is made once and kept (sql-client.ts `prepared`).
 */
const INSERT_ONE = prepared(
  `WITH change AS (
     INSERT INTO task (id, service, input, principal, client_name, ttl, deadline, cache_key)
     VALUES ($1::bigint, $2::text, $3::text::json, $4::text, $5::text, $6::text::interval, $7::timestamptz, $8::text)),
   taken AS (UPDATE event_log SET last_id = last_id + 1 RETURNING last_id)
   INSERT INTO task_event (id, task_id, service, type, data, at, principal)
   SELECT taken.last_id, $1::bigint, $2::text, 'queued', $9::jsonb, now(), $4::text FROM taken
   RETURNING ${EVENT_COLUMNS}`,
);

/** A `queued` event's data: the task's deadline, when it has one. */
const queuedData = (task: NewTask): { deadline?: string } => (task.deadline ? { deadline: task.deadline.toISOString() } : {});

/** Inserts queued tasks (holding the cache entry `cacheKey`, when given) and their `queued` events. */
export async function insertRows(q: SqlQueryable, tasks: NewTask[], cacheKey: string | null = null): Promise<TaskEvent[]> {
  if (tasks.length === 1) {
    const t = tasks[0]!;
    const rows = await q.query<EventRow>(INSERT_ONE, [
      taskIdToDecimal(t.id), t.service, t.input, t.owner, t.clientName, t.ttl, t.deadline?.toISOString() ?? null, cacheKey, JSON.stringify(queuedData(t)),
    ]);
    return rows.rows.map(toEvent);
  }
  // One statement, tasks and their `queued` events: a whole submission batch in one round trip.
  const insert = {
    sql: `INSERT INTO task (id, service, input, principal, client_name, ttl, deadline, cache_key)
     SELECT u.id, u.service, u.input::json, u.owner, u.client_name, u.ttl::interval, u.deadline, $8
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
       AS u(id, service, input, owner, client_name, ttl, deadline)`,
    params: [
      tasks.map((t) => taskIdToDecimal(t.id)), tasks.map((t) => t.service), tasks.map((t) => t.input),
      tasks.map((t) => t.owner), tasks.map((t) => t.clientName), tasks.map((t) => t.ttl), tasks.map((t) => t.deadline?.toISOString() ?? null),
      cacheKey,
    ],
  };
  // The new rows are not visible to the statement that inserts them: each event names its owner.
  return changeWithEvents(q, insert, tasks.map((t) => ({
    taskId: t.id, service: t.service, type: 'queued', data: queuedData(t), owner: t.owner,
  })));
}

export interface StartRow { id: string; runId: string | null; worker: string | null; attempt: number; script: string | null; startedAt?: Date | null }

/**
 * A run's start as recorded: the worker's time (`reported`, a timestamptz expression) when it
 * gave one, else now; never before the task was created nor after now, whatever its clock says.
 */
export const recordedStart = (reported: string): string => `least(greatest(coalesce(${reported}, now()), t.created_at), now())`;

/** Marks tasks running as the attempts in `starts`. */
export async function startTasks(q: SqlQueryable, starts: StartRow[]): Promise<void> {
  if (starts.length === 0) return;
  await q.query(
    `UPDATE task t SET status = 'running', started_at = ${recordedStart('u.started_at')}, worker = u.worker, attempts = u.attempt, run_id = u.run_id,
       progress = NULL, progress_seq = NULL, script = coalesce(u.script, t.script)
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[], $6::timestamptz[]) AS u(id, worker, run_id, attempt, script, started_at)
     WHERE t.id = u.id`,
    [starts.map((s) => taskIdToDecimal(s.id)), starts.map((s) => s.worker), starts.map((s) => s.runId), starts.map((s) => s.attempt), starts.map((s) => s.script),
      starts.map((s) => s.startedAt?.toISOString() ?? null)],
  );
}

export interface TaskEnd { id: string; status: TaskStatus; error: TaskError }

/** Rows that end tasks as failed, canceled or expired: the error, and Patavi's failure index as result. */
export async function endTasks(q: SqlQueryable, ends: TaskEnd[]): Promise<void> {
  if (ends.length === 0) return;
  await q.query(
    `UPDATE task t SET status = u.status, error = u.error::jsonb, result = u.result::json,
       completed_at = now(), expires_at = now() + t.ttl
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u(id, status, error, result)
     WHERE t.id = u.id`,
    [ends.map((e) => taskIdToDecimal(e.id)), ends.map((e) => e.status), ends.map((e) => JSON.stringify(e.error)), ends.map((e) => JSON.stringify(failureIndex(e.error)))],
  );
  // A task that ended without a result cannot answer for its key any more.
  await q.query('DELETE FROM task_cache WHERE task_id = ANY($1::bigint[])', [ends.map((e) => taskIdToDecimal(e.id))]);
}
