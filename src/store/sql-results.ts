/**
 * Results as the recorder writes them: a batch of results in one transaction; when the batch
 * fails for one of them, each alone, so that a result (or a task row) that cannot be written
 * fails its own task, never the ones that shared its batch.
 */
import { decideProgress, failureIndex, taskIdToDecimal } from '../core/index.ts';
import type { NewEvent, TaskEvent, TaskStatus } from '../core/index.ts';
import { prepared } from './sql-client.ts';
import type { SqlClient, SqlQueryable } from './sql-client.ts';
import { isTransientError } from './sql-errors.ts';
import { appendEvents, EVENT_COLUMNS, toEvent } from './sql-events.ts';
import type { EventRow } from './sql-events.ts';
import { settleCacheEntries } from './sql-result-cache.ts';
import { HEX_ID, recordedStart } from './sql-task-rows.ts';
import type { CompletedTask, CompletionOutcome } from './store.ts';

/** Code of a task whose result could not be written in any form (its own row was at fault). */
export const UNRECORDABLE_RESULT = 'unrecordable_result';

/** An error's message as it may be stored: PostgreSQL text and jsonb cannot hold NUL. */
function messageOf(err: unknown): string {
  return String((err as Error | null)?.message ?? err).replace(/\u0000/g, '\uFFFD');
}

type Recorded = Map<string, { status: TaskStatus; events: TaskEvent[] }>;

/** The results as parameters $1-$10, in the order RESULT_COLUMNS types them. */
function resultParams(tasks: CompletedTask[]): unknown[] {
  return [
    tasks.map((t) => taskIdToDecimal(t.id)), tasks.map((t) => t.status),
    tasks.map((t) => t.indexText ?? JSON.stringify(t.index ?? null)), tasks.map((t) => (t.error ? JSON.stringify(t.error) : null)),
    tasks.map((t) => t.console ?? null), tasks.map((t) => t.runId ?? null), tasks.map((t) => t.worker ?? null),
    tasks.map((t) => t.script ?? null), tasks.map((t) => t.carriesStart === true), tasks.map((t) => t.startedAt?.toISOString() ?? null),
  ];
}

/** unnest's arguments for resultParams: (id, status, result, error, console, run_id, worker, script, carries_start, started_at). */
const RESULT_COLUMNS = '$1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::boolean[], $10::timestamptz[]';

/**
 * A new attempt: a result for a task still queued (its start report overtaken or never sent), or
 * one that carries its own start from a run other than the one the task runs under (a copy of the
 * task went to another worker after the first was lost before its acknowledgement). `old` is the
 * locked row before the update, `u` the result.
 */
const NEW_ATTEMPT = `((old.status = 'queued' AND (u.run_id IS NULL OR old.run_id IS DISTINCT FROM u.run_id))
    OR (old.status = 'running' AND u.carries_start AND u.run_id IS NOT NULL AND old.run_id IS DISTINCT FROM u.run_id))`;

/** What a result sets on its task row (`t`), the same on both paths. */
const RESULT_SET = `status = u.status, result = u.result::json, error = u.error::jsonb, console = u.console,
       completed_at = now(), expires_at = now() + t.ttl,
       started_at = CASE WHEN t.started_at IS NULL OR ${NEW_ATTEMPT} THEN ${recordedStart('u.started_at')} ELSE t.started_at END,
       attempts = CASE WHEN ${NEW_ATTEMPT} THEN t.attempts + 1 ELSE t.attempts END,
       worker = CASE WHEN ${NEW_ATTEMPT} THEN u.worker ELSE t.worker END,
       run_id = coalesce(u.run_id, t.run_id), script = coalesce(t.script, u.script)`;

async function completeRows(q: SqlQueryable, tasks: CompletedTask[]): Promise<Recorded> {
  // Rows are found by id only (the status test is on the locked copy): a test on t.status lets the
  // planner walk the partial index of unfinished tasks, which holds an entry for every task
  // that passed through it until vacuum, so each batch cost more than the one before.
  // `was` is the row before this update: a result for a task still queued overtook its start
  // report (a new attempt), unless it comes from the attempt the task was queued again after
  // (its worker was judged lost, yet finished): that attempt was counted already.
  const recorded = await q.query<{ id: string; status: TaskStatus; service: string; was: TaskStatus; attempts: number; was_attempts: number; worker: string | null; was_worker: string | null; run_id: string | null; progress_seq: number | null; started_at: Date; cached: boolean }>(
    `UPDATE task t SET ${RESULT_SET}
     FROM unnest(${RESULT_COLUMNS}) AS u(id, status, result, error, console, run_id, worker, script, carries_start, started_at),
       (SELECT id, status, run_id, progress_seq, attempts, worker FROM task WHERE id = ANY($1::bigint[]) FOR UPDATE) AS old
     WHERE t.id = u.id AND old.id = t.id AND old.status IN ('queued', 'running')
     RETURNING lpad(to_hex(t.id), 16, '0') AS id, t.status, t.service, old.status AS was, t.attempts, old.attempts AS was_attempts, t.worker, old.worker AS was_worker,
       old.run_id, old.progress_seq, t.started_at, t.cache_key IS NOT NULL AS cached`,
    resultParams(tasks),
  );
  const ended = new Map(recorded.rows.map((r) => [r.id, r]));
  await settleCacheEntries(q, tasks.flatMap((task) => {
    const row = ended.get(task.id);
    return row?.cached ? [{ id: task.id, servable: row.status === 'done' && task.cacheable !== false, version: task.version ?? null }] : [];
  }));
  const events: NewEvent[] = [];
  for (const task of tasks) {
    const row = ended.get(task.id);
    if (!row) continue;
    for (const file of task.files) {
      await q.query('INSERT INTO task_file (task_id, name, content_type, content) VALUES ($1, $2, $3, $4)', [
        taskIdToDecimal(task.id), file.name, file.contentType, file.content,
      ]);
    }
    const lostAttempt = row.was === 'queued' && row.run_id !== null && row.run_id === (task.runId ?? null);
    const copyRan = row.was === 'running' && Number(row.attempts) > Number(row.was_attempts);
    if (copyRan) events.push({ taskId: task.id, service: row.service, type: 'retried', data: { attempt: Number(row.attempts), previousWorker: row.was_worker } });
    if ((row.was === 'queued' && !lostAttempt) || copyRan) events.push({ taskId: task.id, service: row.service, type: 'started', data: { worker: row.worker, attempt: Number(row.attempts) } });
    // The result overtook the attempt's last progress report: that value is recorded first.
    const last = task.lastProgress;
    const sameAttempt = (row.was === 'queued' && !lostAttempt) || copyRan || row.run_id === null || row.run_id === (task.runId ?? null);
    if (last && sameAttempt && (row.progress_seq === null || Number(row.progress_seq) < last.seq)) {
      const snapshot = { id: task.id, service: row.service, status: 'running' as const, runId: null, attempts: 1, worker: null, progressSeq: null, startedAt: new Date(row.started_at) };
      const progress = decideProgress(snapshot, { runId: null, worker: null, seq: last.seq, value: last.value }, new Date());
      if (progress.kind === 'progress') events.push(...progress.events);
    }
    events.push({ taskId: task.id, service: row.service, type: row.status === 'done' ? 'done' : 'failed', data: task.error ? { error: task.error } : {} });
  }
  const written = await appendEvents(q, events);
  return new Map(recorded.rows.map((r) => [r.id, { status: r.status, events: written.filter((e) => e.taskId === r.id) }]));
}

/** completeSimpleRows's statement, kept prepared (the recorder's hottest). */
const COMPLETE_SIMPLE = prepared(
  `WITH u AS (
       SELECT * FROM unnest(${RESULT_COLUMNS})
         WITH ORDINALITY AS u(id, status, result, error, console, run_id, worker, script, carries_start, started_at, ord)),
     old AS (SELECT id, status, run_id, attempts, worker, cache_key FROM task WHERE id = ANY($1::bigint[]) FOR UPDATE),
     ended AS (
       UPDATE task t SET ${RESULT_SET}
       FROM u, old
       WHERE t.id = u.id AND old.id = t.id AND old.status IN ('queued', 'running') AND old.cache_key IS NULL
       RETURNING t.id, t.service, t.principal, t.status, t.attempts, t.worker, u.ord, u.run_id AS new_run_id, u.error,
         old.status AS was, old.attempts AS was_attempts, old.worker AS was_worker, old.run_id AS old_run_id),
     e AS (
       SELECT id, service, principal, ord, 1 AS k, 'retried' AS type, jsonb_build_object('attempt', attempts, 'previousWorker', was_worker) AS data
         FROM ended WHERE was = 'running' AND attempts > was_attempts
       UNION ALL
       SELECT id, service, principal, ord, 2, 'started', jsonb_build_object('worker', worker, 'attempt', attempts)
         FROM ended WHERE (was = 'queued' AND NOT (old_run_id IS NOT NULL AND old_run_id = new_run_id)) OR (was = 'running' AND attempts > was_attempts)
       UNION ALL
       SELECT id, service, principal, ord, 3, CASE WHEN status = 'done' THEN 'done' ELSE 'failed' END,
         CASE WHEN error IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('error', error::jsonb) END
         FROM ended),
     taken AS (UPDATE event_log SET last_id = last_id + (SELECT count(*) FROM e) RETURNING last_id - (SELECT count(*) FROM e) AS before)
     INSERT INTO task_event (id, task_id, service, type, data, at, principal)
     SELECT taken.before + row_number() OVER (ORDER BY e.ord, e.k), e.id, e.service, e.type, e.data, now(), e.principal FROM taken, e
     RETURNING ${EVENT_COLUMNS}`,
);

/**
 * The common case in ONE autocommit statement: results without files or a last progress report,
 * for tasks that do not cache. The task rows and their events (retried, started, done or failed,
 * decided in SQL exactly as completeRows decides them in code) are written together, the events
 * numbered last (sql-events.ts), so a short task costs the recorder one round trip instead of
 * four (BEGIN, update, events, COMMIT). Tasks it does not end (already ended, unknown, caching)
 * are left to completeRows, which answers for them as before.
 */
async function completeSimpleRows(q: SqlQueryable, tasks: CompletedTask[]): Promise<Recorded> {
  // Same row lookup as completeRows: by id only, the status test on the locked copy.
  const rows = await q.query<EventRow>(COMPLETE_SIMPLE, resultParams(tasks));
  const recorded: Recorded = new Map();
  for (const event of rows.rows.map(toEvent).sort((a, b) => a.id - b.id)) {
    const entry = recorded.get(event.taskId) ?? { status: 'done' as TaskStatus, events: [] };
    entry.events.push(event);
    if (event.type === 'done' || event.type === 'failed') entry.status = event.type;
    recorded.set(event.taskId, entry);
  }
  return recorded;
}

/** A result PostgreSQL refuses (say, a NUL character in a string) fails its task instead of blocking the queue. */
function unstorable(task: CompletedTask, err: unknown): CompletedTask {
  const error = { code: 'invalid_result', message: `the result could not be stored: ${messageOf(err)}` };
  return { id: task.id, status: 'failed', index: failureIndex(error), files: [], error };
}

/**
 * The last resort for a task whose row itself makes recording fail (a ttl so long that
 * `now() + ttl` is out of range, say): the task fails with `unrecordable_result`, touching as
 * little as can be. Its expiry is the one thing computed from that row, so it is left unset.
 */
async function failUnrecordable(q: SqlQueryable, task: CompletedTask, err: unknown): Promise<Recorded> {
  const error = { code: UNRECORDABLE_RESULT, message: `the task's result could not be recorded: ${messageOf(err)}` };
  const ended = await q.query<{ id: string; service: string }>(
    `UPDATE task SET status = 'failed', error = $2::jsonb, result = $3::json, console = NULL,
       completed_at = now(), started_at = coalesce(started_at, now()), expires_at = NULL
     WHERE id = $1 AND status IN ('queued', 'running') RETURNING ${HEX_ID} AS id, service`,
    [taskIdToDecimal(task.id), JSON.stringify(error), JSON.stringify(failureIndex(error))],
  );
  const row = ended.rows[0];
  if (!row) return new Map();
  await q.query('DELETE FROM task_cache WHERE task_id = $1', [taskIdToDecimal(task.id)]);
  const events = await appendEvents(q, [{ taskId: task.id, service: row.service, type: 'failed', data: { error } }]);
  return new Map([[row.id, { status: 'failed', events }]]);
}

/**
 * One task's result on its own, after its batch failed for something other than the database
 * being away: as sent; else failed `invalid_result` without the result (the result was at
 * fault); else failed `unrecordable_result` (the task's row was). A transient error at any
 * step, or a deterministic one at the last, is returned: only that task's message waits.
 */
async function completeAlone(db: SqlClient, task: CompletedTask): Promise<Recorded | { failed: Error; transient: boolean }> {
  const steps: Array<(err: unknown) => Promise<Recorded>> = [
    () => db.transaction((tx) => completeRows(tx, [task])),
    (err) => db.transaction((tx) => completeRows(tx, [unstorable(task, err)])),
    (err) => db.transaction((tx) => failUnrecordable(tx, task, err)),
  ];
  let last: unknown;
  for (const step of steps) {
    try {
      return await step(last);
    } catch (err) {
      if (isTransientError(err)) return { failed: err as Error, transient: true };
      last = err;
    }
  }
  return { failed: last as Error, transient: false };
}

/** Records results; the first result of a task wins, later ones change nothing. */
export async function completeTasks(db: SqlClient, tasks: CompletedTask[]): Promise<CompletionOutcome[]> {
  // The first result of a task in this batch wins, as the first across batches does.
  const firsts = new Map<string, CompletedTask>();
  for (const task of tasks) if (!firsts.has(task.id)) firsts.set(task.id, task);
  const all = [...firsts.values()];
  // The common case first, in one statement; what it did not end goes the general way below.
  const simple = all.filter((t) => t.files.length === 0 && !t.lastProgress);
  let recordedSimply: Recorded = new Map();
  if (simple.length > 0) {
    try {
      recordedSimply = await completeSimpleRows(db, simple);
    } catch (err) {
      if (isTransientError(err)) throw err;
      // A row at fault (a result PostgreSQL refuses, say): the general way finds which.
    }
  }
  const unique = all.filter((t) => !recordedSimply.has(t.id));
  let recorded: Recorded;
  const notRecorded = new Map<string, { failed: Error; transient: boolean }>();
  try {
    recorded = unique.length === 0 ? new Map() : await db.transaction((tx) => completeRows(tx, unique));
  } catch (err) {
    // The database is away: the whole batch waits. Otherwise a row is at fault, and only it may fail.
    if (isTransientError(err) || unique.length === 0) throw err;
    recorded = new Map();
    for (const task of unique) {
      const one = await completeAlone(db, task);
      if (one instanceof Map) one.forEach((result, id) => recorded.set(id, result));
      else notRecorded.set(task.id, one);
    }
  }
  recordedSimply.forEach((result, id) => recorded.set(id, result));
  const others = unique.filter((t) => !recorded.has(t.id) && !notRecorded.has(t.id)).map((t) => taskIdToDecimal(t.id));
  const existing = new Map<string, TaskStatus>();
  if (others.length > 0) {
    const rows = await db.query<{ id: string; status: TaskStatus }>(
      `SELECT ${HEX_ID} AS id, status FROM task WHERE id = ANY($1::bigint[])`, [others],
    );
    rows.rows.forEach((r) => existing.set(r.id, r.status));
  }
  return tasks.map((task) => {
    const result = recorded.get(task.id);
    if (result && firsts.get(task.id) === task) return { kind: 'recorded', status: result.status, events: result.events };
    const failed = notRecorded.get(task.id);
    if (failed) return { kind: 'not-recorded', transient: failed.transient, error: failed.failed };
    const current = result?.status ?? existing.get(task.id);
    return current ? { kind: 'already-ended', status: current } : { kind: 'unknown-task' };
  });
}
