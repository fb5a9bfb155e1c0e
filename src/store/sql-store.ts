/**
 * The Store on SQL: one implementation, run by `pg` in production and by PGlite embedded.
 * Ids travel as decimal text (both drivers bind it to bigint without loss) and come back as
 * 16 hex digits, computed in SQL, so no driver ever turns one into a lossy JS number.
 */
import { afterStart, createBatcher, decideProgress, decideStart, failureIndex, isTerminal, taskIdToDecimal, WORKER_LOST } from '../core/index.ts';
import type { CacheClaim, NewEvent, ProgressState, TaskError, TaskEvent, TaskInfo, TaskSnapshot, TaskStatus } from '../core/index.ts';
import type { SqlClient, SqlQueryable } from './sql-client.ts';
import { isRowError, isTransientError } from './sql-errors.ts';
import { createApiKey, listApiKeys, revokeApiKey, useApiKey } from './sql-api-keys.ts';
import { appendEvents, lastEventId, lastEvents, oldestEventId, readEvents, trimEvents } from './sql-events.ts';
import type { CachedSubmission, CancelOutcome, CompletedTask, CompletionOutcome, NewTask, ProgressUpdate, RequeueOutcome, RunningTask, StartedTask, StartOutcome, Store, StoredFile, UnfinishedTask } from './store.ts';

/** Attempts a task gets when the caller gives no limit. */
export const DEFAULT_MAX_ATTEMPTS = 3;

const HEX_ID = `lpad(to_hex(id), 16, '0')`;
const TASK_COLUMNS = `${HEX_ID} AS id, service, status, principal AS owner, created_at, started_at, completed_at, expires_at,
  attempts, worker, script IS NOT NULL AS has_script, console IS NOT NULL AS has_console, error, deadline, progress`;
const SNAPSHOT_COLUMNS = `${HEX_ID} AS id, service, status, run_id, attempts, worker, progress_seq, started_at`;
/** A read limited to one owner's tasks: `$2` is the owner, or null for any task. */
const OWNED_BY_2 = '($2::text IS NULL OR principal = $2::text)';
/** Advisory lock key ('errand.janitor'): one janitor sweeps at a time. */
const JANITOR_LOCK = 7_415_021_002;

interface TaskRow {
  id: string; service: string; status: TaskStatus; owner: string | null;
  created_at: Date; started_at: Date | null; completed_at: Date | null; expires_at: Date | null;
  attempts: number; worker: string | null; has_script: boolean; has_console: boolean;
  error: TaskError | null; deadline: Date | null; progress: ProgressState | null;
}

interface SnapshotRow {
  id: string; service: string; status: TaskStatus; run_id: string | null; attempts: number;
  worker: string | null; progress_seq: number | null; started_at: Date | null;
}

function toSnapshot(row: SnapshotRow): TaskSnapshot {
  return {
    id: row.id, service: row.service, status: row.status, runId: row.run_id, attempts: Number(row.attempts),
    worker: row.worker, progressSeq: row.progress_seq === null ? null : Number(row.progress_seq), startedAt: row.started_at && new Date(row.started_at),
  };
}

/** Locks the rows of `ids` for the rest of the transaction and reads them. */
async function lockSnapshots(q: SqlQueryable, ids: string[]): Promise<Map<string, TaskSnapshot>> {
  const rows = await q.query<SnapshotRow>(
    `SELECT ${SNAPSHOT_COLUMNS} FROM task WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE`, [[...new Set(ids)].map(taskIdToDecimal)],
  );
  return new Map(rows.rows.map((r) => [r.id, toSnapshot(r)]));
}

/** Rows that end tasks as failed, canceled or expired: the error, and Patavi's failure index as result. */
async function endTasks(q: SqlQueryable, ends: Array<{ id: string; status: TaskStatus; error: TaskError }>): Promise<void> {
  if (ends.length === 0) return;
  await q.query(
    `UPDATE task t SET status = u.status, error = u.error::jsonb, result = u.result::jsonb,
       completed_at = now(), expires_at = now() + t.ttl
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u(id, status, error, result)
     WHERE t.id = u.id`,
    [ends.map((e) => taskIdToDecimal(e.id)), ends.map((e) => e.status), ends.map((e) => JSON.stringify(e.error)), ends.map((e) => JSON.stringify(failureIndex(e.error)))],
  );
  // A task that ended without a result cannot answer for its key any more.
  await q.query('DELETE FROM task_cache WHERE task_id = ANY($1::bigint[])', [ends.map((e) => taskIdToDecimal(e.id))]);
}

/**
 * Settles the cache entries of tasks that just ended with a result: a done, cacheable result of
 * the entry's version is served from now for the entry's lifetime; any other loses its entry.
 */
async function settleCacheEntries(q: SqlQueryable, ended: Array<{ id: string; servable: boolean; version: string | null }>): Promise<void> {
  if (ended.length === 0) return;
  const servable = ended.filter((e) => e.servable);
  if (servable.length > 0) {
    await q.query(
      `UPDATE task_cache c SET ready = true, expires_at = now() + c.lifetime
       FROM unnest($1::bigint[], $2::text[]) AS u(id, version)
       WHERE c.task_id = u.id AND (u.version IS NULL OR u.version = c.version)`,
      [servable.map((e) => taskIdToDecimal(e.id)), servable.map((e) => e.version)],
    );
  }
  await q.query('DELETE FROM task_cache WHERE task_id = ANY($1::bigint[]) AND NOT ready', [ended.map((e) => taskIdToDecimal(e.id))]);
}

interface StartRow { id: string; runId: string | null; worker: string | null; attempt: number; script: string | null }

async function startTasks(q: SqlQueryable, starts: StartRow[]): Promise<void> {
  if (starts.length === 0) return;
  await q.query(
    `UPDATE task t SET status = 'running', started_at = now(), worker = u.worker, attempts = u.attempt, run_id = u.run_id,
       progress = NULL, progress_seq = NULL, script = coalesce(u.script, t.script)
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[]) AS u(id, worker, run_id, attempt, script)
     WHERE t.id = u.id`,
    [starts.map((s) => taskIdToDecimal(s.id)), starts.map((s) => s.worker), starts.map((s) => s.runId), starts.map((s) => s.attempt), starts.map((s) => s.script)],
  );
}

function toTaskInfo(row: TaskRow): TaskInfo {
  return {
    id: row.id, service: row.service, status: row.status, owner: row.owner,
    createdAt: row.created_at, startedAt: row.started_at, completedAt: row.completed_at, expiresAt: row.expires_at,
    attempts: Number(row.attempts), worker: row.worker, hasScript: row.has_script, hasConsole: row.has_console, error: row.error,
    deadline: row.deadline, progress: row.progress,
  };
}

/** Code of a task whose result could not be written in any form (its own row was at fault). */
export const UNRECORDABLE_RESULT = 'unrecordable_result';

/** An error's message as it may be stored: PostgreSQL text and jsonb cannot hold NUL. */
function messageOf(err: unknown): string {
  return String((err as Error | null)?.message ?? err).replace(/\u0000/g, '\uFFFD');
}

export function createSqlStore(db: SqlClient, options: { maxBatch?: number } = {}): Store {
  const maxBatch = options.maxBatch ?? 500;

  async function insertRows(q: SqlQueryable, tasks: NewTask[], cacheKey: string | null = null): Promise<TaskEvent[]> {
    await q.query(
      `INSERT INTO task (id, service, input, principal, client_name, ttl, deadline, cache_key)
       SELECT u.id, u.service, u.input::jsonb, u.owner, u.client_name, u.ttl::interval, u.deadline, $8
       FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
         AS u(id, service, input, owner, client_name, ttl, deadline)`,
      [
        tasks.map((t) => taskIdToDecimal(t.id)), tasks.map((t) => t.service), tasks.map((t) => t.input),
        tasks.map((t) => t.owner), tasks.map((t) => t.clientName), tasks.map((t) => t.ttl), tasks.map((t) => t.deadline?.toISOString() ?? null),
        cacheKey,
      ],
    );
    return appendEvents(q, tasks.map((t) => ({
      taskId: t.id, service: t.service, type: 'queued', data: t.deadline ? { deadline: t.deadline.toISOString() } : {},
    })));
  }

  const insertInTransaction = (tasks: NewTask[]): Promise<TaskEvent[]> => db.transaction((tx) => insertRows(tx, tasks));

  // Group commit of concurrent submissions. If a batch fails because of one row, each task is
  // retried alone so that only the bad one fails.
  const inserts = createBatcher<NewTask, TaskEvent | Error>(
    async (tasks) => {
      try {
        return await insertInTransaction(tasks);
      } catch (err) {
        if (tasks.length === 1 || !isRowError(err)) throw err;
        return Promise.all(tasks.map((t) => insertInTransaction([t]).then((events) => events[0]!, (e: Error) => e)));
      }
    },
    { maxBatch, maxConcurrentFlushes: 2 },
  );

  async function completeRows(q: SqlQueryable, tasks: CompletedTask[]): Promise<Map<string, { status: TaskStatus; events: TaskEvent[] }>> {
    // Rows are found by id only (the status test is on the locked copy): a test on t.status lets the
    // planner walk the partial index of unfinished tasks, which holds an entry for every task
    // that passed through it until vacuum, so each batch cost more than the one before.
    // `was` is the row before this update: a result for a task still queued overtook its start
    // report (a new attempt), unless it comes from the attempt the task was queued again after
    // (its worker was judged lost, yet finished): that attempt was counted already.
    const recorded = await q.query<{ id: string; status: TaskStatus; service: string; was: TaskStatus; attempts: number; worker: string | null; run_id: string | null; progress_seq: number | null; started_at: Date; cached: boolean }>(
      `UPDATE task t SET status = u.status, result = u.result::jsonb, error = u.error::jsonb, console = u.console,
         completed_at = now(), started_at = coalesce(t.started_at, now()), expires_at = now() + t.ttl,
         attempts = CASE WHEN old.status = 'queued' AND (u.run_id IS NULL OR old.run_id IS DISTINCT FROM u.run_id) THEN t.attempts + 1 ELSE t.attempts END,
         worker = CASE WHEN old.status = 'queued' AND (u.run_id IS NULL OR old.run_id IS DISTINCT FROM u.run_id) THEN u.worker ELSE t.worker END,
         run_id = coalesce(u.run_id, t.run_id), script = coalesce(t.script, u.script)
       FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) AS u(id, status, result, error, console, run_id, worker, script),
         (SELECT id, status, run_id, progress_seq FROM task WHERE id = ANY($1::bigint[]) FOR UPDATE) AS old
       WHERE t.id = u.id AND old.id = t.id AND old.status IN ('queued', 'running')
       RETURNING lpad(to_hex(t.id), 16, '0') AS id, t.status, t.service, old.status AS was, t.attempts, t.worker,
         old.run_id, old.progress_seq, t.started_at, t.cache_key IS NOT NULL AS cached`,
      [
        tasks.map((t) => taskIdToDecimal(t.id)), tasks.map((t) => t.status),
        tasks.map((t) => JSON.stringify(t.index ?? null)), tasks.map((t) => (t.error ? JSON.stringify(t.error) : null)),
        tasks.map((t) => t.console ?? null), tasks.map((t) => t.runId ?? null), tasks.map((t) => t.worker ?? null),
        tasks.map((t) => t.script ?? null),
      ],
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
      if (row.was === 'queued' && !lostAttempt) events.push({ taskId: task.id, service: row.service, type: 'started', data: { worker: row.worker, attempt: Number(row.attempts) } });
      // The result overtook the attempt's last progress report: that value is recorded first.
      const last = task.lastProgress;
      const sameAttempt = (row.was === 'queued' && !lostAttempt) || row.run_id === null || row.run_id === (task.runId ?? null);
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
  async function failUnrecordable(q: SqlQueryable, task: CompletedTask, err: unknown): Promise<Map<string, { status: TaskStatus; events: TaskEvent[] }>> {
    const error = { code: UNRECORDABLE_RESULT, message: `the task's result could not be recorded: ${messageOf(err)}` };
    const ended = await q.query<{ id: string; service: string }>(
      `UPDATE task SET status = 'failed', error = $2::jsonb, result = $3::jsonb, console = NULL,
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

  type Recorded = Map<string, { status: TaskStatus; events: TaskEvent[] }>;

  /**
   * One task's result on its own, after its batch failed for something other than the database
   * being away: as sent; else failed `invalid_result` without the result (the result was at
   * fault); else failed `unrecordable_result` (the task's row was). A transient error at any
   * step, or a deterministic one at the last, is returned: only that task's message waits.
   */
  async function completeAlone(task: CompletedTask): Promise<Recorded | { failed: Error; transient: boolean }> {
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

  async function completeTasks(tasks: CompletedTask[]): Promise<CompletionOutcome[]> {
    // The first result of a task in this batch wins, as the first across batches does.
    const firsts = new Map<string, CompletedTask>();
    for (const task of tasks) if (!firsts.has(task.id)) firsts.set(task.id, task);
    const unique = [...firsts.values()];
    let recorded: Recorded;
    const notRecorded = new Map<string, { failed: Error; transient: boolean }>();
    try {
      recorded = await db.transaction((tx) => completeRows(tx, unique));
    } catch (err) {
      // The database is away: the whole batch waits. Otherwise a row is at fault, and only it may fail.
      if (isTransientError(err) || unique.length === 0) throw err;
      recorded = new Map();
      for (const task of unique) {
        const one = await completeAlone(task);
        if (one instanceof Map) one.forEach((result, id) => recorded.set(id, result));
        else notRecorded.set(task.id, one);
      }
    }
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

  async function startRows(q: SqlQueryable, tasks: StartedTask[], maxAttempts: number): Promise<StartOutcome[]> {
    const snapshots = await lockSnapshots(q, tasks.map((t) => t.id));
    const now = new Date();
    const starts: StartRow[] = [];
    const ends: Array<{ id: string; status: TaskStatus; error: TaskError }> = [];
    const events: NewEvent[] = [];
    const scripts: Array<{ id: string; script: string }> = [];
    const resumes: string[] = [];
    const decided = tasks.map((report): StartOutcome | { pending: 'started' | 'gave-up'; attempt: number } => {
      const task = snapshots.get(report.id);
      if (!task) return { kind: 'unknown-task' };
      const transition = decideStart(task, { worker: report.worker, runId: report.runId ?? null, resumed: report.resumed === true }, maxAttempts);
      switch (transition.kind) {
        case 'start':
          snapshots.set(task.id, afterStart(task, transition, now));
          starts.push({ id: task.id, runId: transition.runId, worker: transition.worker, attempt: transition.attempt, script: report.script ?? null });
          events.push(...transition.events);
          return { pending: 'started', attempt: transition.attempt };
        case 'give-up':
          snapshots.set(task.id, { ...task, status: 'failed' });
          ends.push({ id: task.id, status: 'failed', error: transition.error });
          events.push(...transition.events);
          return { pending: 'gave-up', attempt: task.attempts };
        case 'resume':
          snapshots.set(task.id, { ...task, status: 'running' });
          resumes.push(task.id);
          events.push(...transition.events);
          return { pending: 'started', attempt: task.attempts };
        default:
          if (report.script) scripts.push({ id: task.id, script: report.script });
          return transition.kind === 'none' && transition.reason === 'same-attempt' ? { kind: 'already-started' } : { kind: 'ended', status: task.status };
      }
    });
    // A task started twice in one batch keeps the last start; earlier rows are superseded.
    await startTasks(q, [...new Map(starts.map((s) => [s.id, s])).values()]);
    if (resumes.length > 0) await q.query(`UPDATE task SET status = 'running' WHERE id = ANY($1::bigint[]) AND status = 'queued'`, [resumes.map(taskIdToDecimal)]);
    await endTasks(q, ends);
    for (const { id, script } of scripts) await q.query('UPDATE task SET script = coalesce(script, $2) WHERE id = $1', [taskIdToDecimal(id), script]);
    const written = await appendEvents(q, events);
    const eventsOf = (id: string) => written.filter((e) => e.taskId === id);
    const seen = new Set<string>();
    return decided.map((d, i) => {
      if ('kind' in d) return d;
      const id = tasks[i]!.id;
      // Each task's events go with its first report in the batch, so none is published twice.
      const mine = seen.has(id) ? [] : eventsOf(id);
      seen.add(id);
      return d.pending === 'started' ? { kind: 'started', attempt: d.attempt, events: mine } : { kind: 'gave-up', events: mine };
    });
  }

  async function progressRows(q: SqlQueryable, updates: ProgressUpdate[], maxAttempts: number): Promise<TaskEvent[]> {
    const snapshots = await lockSnapshots(q, updates.map((u) => u.id));
    const now = new Date();
    const starts = new Map<string, StartRow>();
    const ends: Array<{ id: string; status: TaskStatus; error: TaskError }> = [];
    const latest = new Map<string, { seq: number | null; progress: ProgressState }>();
    const events: NewEvent[] = [];
    for (const update of updates) {
      let task = snapshots.get(update.id);
      if (!task) continue;
      if (task.status === 'queued') {
        // Progress overtook the start report: the task is running, as this attempt.
        const start = decideStart(task, update, maxAttempts);
        if (start.kind === 'give-up') {
          snapshots.set(task.id, { ...task, status: 'failed' });
          ends.push({ id: task.id, status: 'failed', error: start.error });
          events.push(...start.events);
          continue;
        }
        if (start.kind !== 'start') continue;
        task = afterStart(task, start, now);
        starts.set(task.id, { id: task.id, runId: start.runId, worker: start.worker, attempt: start.attempt, script: null });
        events.push(...start.events);
      }
      const transition = decideProgress(task, update, now);
      if (transition.kind !== 'progress') { snapshots.set(task.id, task); continue; }
      snapshots.set(task.id, { ...task, progressSeq: transition.seq ?? task.progressSeq });
      latest.set(task.id, { seq: transition.seq, progress: transition.progress });
      events.push(...transition.events);
    }
    await startTasks(q, [...starts.values()]);
    await endTasks(q, ends);
    if (latest.size > 0) {
      const rows = [...latest.entries()];
      await q.query(
        `UPDATE task t SET progress = u.progress::jsonb, progress_seq = u.seq
         FROM unnest($1::bigint[], $2::text[], $3::int[]) AS u(id, progress, seq) WHERE t.id = u.id`,
        [rows.map(([id]) => taskIdToDecimal(id)), rows.map(([, p]) => JSON.stringify(p.progress)), rows.map(([, p]) => p.seq)],
      );
    }
    return appendEvents(q, events);
  }

  /**
   * A hit on another principal's task: the caller gets a task of its own, done at once with a copy
   * of that task's result, script, console and files. It made no attempt (attempts 0, no worker),
   * holds no entry (the original does), and leaves the original's ttl alone. Its events are the
   * `queued` and `done` of any task, so its watchers hear its end.
   */
  async function copyCachedResult(q: SqlQueryable, task: NewTask, fromId: string): Promise<CachedSubmission> {
    const id = taskIdToDecimal(task.id);
    const copied = await q.query<TaskRow>(
      `INSERT INTO task (id, service, status, input, principal, client_name, ttl, deadline, started_at, completed_at, expires_at, attempts, script, result, console)
       SELECT $1, $2, 'done', $3::jsonb, $4, $5, $6::interval, $7, now(), now(), now() + $6::interval, 0, c.script, c.result, c.console
       FROM task c WHERE c.id = $8
       RETURNING ${TASK_COLUMNS}`,
      [id, task.service, task.input, task.owner, task.clientName, task.ttl, task.deadline?.toISOString() ?? null, fromId],
    );
    await q.query('INSERT INTO task_file (task_id, name, content_type, content) SELECT $1, name, content_type, content FROM task_file WHERE task_id = $2', [id, fromId]);
    const events = await appendEvents(q, [
      { taskId: task.id, service: task.service, type: 'queued', data: task.deadline ? { deadline: task.deadline.toISOString() } : {} },
      { taskId: task.id, service: task.service, type: 'done', data: {} },
    ]);
    return { kind: 'hit', task: toTaskInfo(copied.rows[0]!), events };
  }

  /**
   * The entry of `cache.key` answers this submission, or the new task takes the entry over.
   * Locks go task row first, then entry, as everything that ends a task takes them: never a deadlock.
   */
  async function submitCachedRows(q: SqlQueryable, task: NewTask, cache: CacheClaim): Promise<CachedSubmission> {
    const claim = [cache.key, taskIdToDecimal(task.id), task.service, cache.version, cache.lifetime];
    const takeOver = () => q.query(
      'UPDATE task_cache SET task_id = $2, service = $3, version = $4, lifetime = $5::interval, ready = false, expires_at = NULL WHERE key = $1', claim,
    );
    const queue = async (): Promise<CachedSubmission> => ({ kind: 'queued', event: (await insertRows(q, [task], cache.key))[0]! });
    // A concurrent first submission of the same key waits here for the other to commit, then joins it.
    const claimed = await q.query(
      `INSERT INTO task_cache (key, task_id, service, version, lifetime) VALUES ($1, $2, $3, $4, $5::interval)
       ON CONFLICT (key) DO NOTHING`, claim,
    );
    if (claimed.rowCount === 1) return queue();
    // The entry may move to another task between reading it and locking that task: read again.
    for (let tries = 0; tries < 10; tries++) {
      const current = await q.query<{ task_id: string }>('SELECT task_id::text AS task_id FROM task_cache WHERE key = $1', [cache.key]);
      const taskId = current.rows[0]?.task_id;
      if (taskId === undefined) {
        const again = await q.query(`INSERT INTO task_cache (key, task_id, service, version, lifetime) VALUES ($1, $2, $3, $4, $5::interval) ON CONFLICT (key) DO NOTHING`, claim);
        if (again.rowCount === 1) return queue();
        continue;
      }
      const holder = await q.query<{ status: TaskStatus; deadline: Date | null; owner: string | null }>('SELECT status, deadline, principal AS owner FROM task WHERE id = $1 FOR UPDATE', [taskId]);
      const entry = await q.query<{ ready: boolean; live: boolean }>(
        'SELECT ready, coalesce(expires_at > now(), false) AS live FROM task_cache WHERE key = $1 AND task_id = $2 FOR UPDATE', [cache.key, taskId],
      );
      const row = holder.rows[0];
      const state = entry.rows[0];
      if (!row || !state) continue;
      if (cache.fresh) {
        await takeOver();
        return queue();
      }
      const deadlineFits = row.deadline === null || (task.deadline != null && new Date(row.deadline) >= task.deadline);
      const answer = row.status === 'done' && state.ready && state.live ? 'hit'
        : (row.status === 'queued' || row.status === 'running') && deadlineFits ? 'joined' : undefined;
      if (!answer) {
        await takeOver();
        return queue();
      }
      // Another principal's task (a service that shares its entries) is never handed out (issue 12).
      if (row.owner !== task.owner) {
        if (answer === 'hit') return copyCachedResult(q, task, taskId);
        // Under way for someone else: the caller gets a run of its own, which leaves the entry be.
        return { kind: 'queued', event: (await insertRows(q, [task]))[0]! };
      }
      // The task now answers this request too: it lives at least as long as this request asked.
      const updated = await q.query<TaskRow>(
        `UPDATE task SET ttl = CASE WHEN ttl IS NULL OR $2::interval IS NULL THEN NULL ELSE greatest(ttl, $2::interval) END,
           expires_at = CASE WHEN expires_at IS NULL OR $2::interval IS NULL THEN NULL ELSE greatest(expires_at, now() + $2::interval) END
         WHERE id = $1 RETURNING ${TASK_COLUMNS}`,
        [taskId, task.ttl],
      );
      return { kind: answer, task: toTaskInfo(updated.rows[0]!) };
    }
    throw new Error(`the cache entry ${cache.key} kept moving; the submission was not recorded`);
  }

  async function one<Row>(text: string, params: unknown[]): Promise<Row | undefined> {
    return (await db.query<Row>(text, params)).rows[0];
  }

  return {
    target: db.target,

    async insertTask(task) {
      const outcome = await inserts.add(task);
      if (outcome instanceof Error) throw outcome;
      return outcome;
    },

    submitCached: (task, cache) => db.transaction((tx) => submitCachedRows(tx, task, cache)),

    async trimCache(limit) {
      const gone = await db.query(
        `DELETE FROM task_cache WHERE key IN (
           SELECT key FROM task_cache WHERE expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`,
        [limit],
      );
      return gone.rowCount;
    },

    async getTask(id) {
      const row = await one<TaskRow>(`SELECT ${TASK_COLUMNS} FROM task WHERE id = $1`, [taskIdToDecimal(id)]);
      return row && toTaskInfo(row);
    },

    async getTasks(ids, owner) {
      if (ids.length === 0) return [];
      const rows = await db.query<TaskRow>(
        `SELECT ${TASK_COLUMNS} FROM task WHERE id = ANY($1::bigint[]) AND ${OWNED_BY_2}`, [ids.map(taskIdToDecimal), owner ?? null],
      );
      const byId = new Map(rows.rows.map((r) => [r.id, toTaskInfo(r)]));
      return [...new Set(ids)].flatMap((id) => byId.get(id) ?? []);
    },

    async getInput(id, owner) {
      return (await one<{ input: string }>(`SELECT input::text AS input FROM task WHERE id = $1 AND ${OWNED_BY_2}`, [taskIdToDecimal(id), owner ?? null]))?.input;
    },

    async getScript(id, owner) {
      return (await one<{ script: string | null }>(`SELECT script FROM task WHERE id = $1 AND ${OWNED_BY_2}`, [taskIdToDecimal(id), owner ?? null]))?.script ?? undefined;
    },

    async getConsole(id, owner) {
      return (await one<{ console: string | null }>(`SELECT console FROM task WHERE id = $1 AND ${OWNED_BY_2}`, [taskIdToDecimal(id), owner ?? null]))?.console ?? undefined;
    },

    async getResult(id, owner) {
      return (await one<{ result: string | null }>(`SELECT result::text AS result FROM task WHERE id = $1 AND ${OWNED_BY_2}`, [taskIdToDecimal(id), owner ?? null]))?.result ?? undefined;
    },

    async getFile(id, name, owner): Promise<StoredFile | undefined> {
      const row = await one<{ content_type: string; content: Uint8Array }>(
        `SELECT content_type, content FROM task_file WHERE task_id = $1 AND name = $2
           AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM task WHERE id = $1 AND principal = $3::text))`, [taskIdToDecimal(id), name, owner ?? null],
      );
      return row && { contentType: row.content_type, content: Buffer.from(row.content.buffer, row.content.byteOffset, row.content.byteLength) };
    },

    async saveScript(id, script) {
      await db.query('UPDATE task SET script = $2 WHERE id = $1', [taskIdToDecimal(id), script]);
    },

    markStarted: (tasks, maxAttempts = DEFAULT_MAX_ATTEMPTS) => (tasks.length === 0 ? Promise.resolve([]) : db.transaction((tx) => startRows(tx, tasks, maxAttempts))),

    recordProgress: (updates, maxAttempts = DEFAULT_MAX_ATTEMPTS) => (updates.length === 0 ? Promise.resolve([]) : db.transaction((tx) => progressRows(tx, updates, maxAttempts))),

    completeTasks,

    cancelTask: (id, by) => db.transaction(async (tx): Promise<CancelOutcome> => {
      const task = (await lockSnapshots(tx, [id])).get(id);
      if (!task) return { kind: 'unknown-task' };
      if (isTerminal(task.status)) return { kind: 'ended', status: task.status };
      const error = { code: 'canceled', message: 'the task was canceled' };
      await endTasks(tx, [{ id, status: 'canceled', error }]);
      const events = await appendEvents(tx, [{ taskId: id, service: task.service, type: 'canceled', data: { error, ...(by ? { by } : {}) } }]);
      return { kind: 'canceled', wasRunning: task.status === 'running', events };
    }),

    expireQueued: (limit) => db.transaction(async (tx) => {
      const due = await tx.query<{ id: string; service: string; deadline: Date }>(
        `SELECT ${HEX_ID} AS id, service, deadline FROM task WHERE status = 'queued' AND deadline <= now()
         ORDER BY deadline LIMIT $1 FOR UPDATE SKIP LOCKED`, [limit],
      );
      if (due.rows.length === 0) return [];
      const ends = due.rows.map((r) => ({
        id: r.id, status: 'expired' as const,
        error: { code: 'expired', message: `the task was still queued at its deadline, ${new Date(r.deadline).toISOString()}` },
      }));
      await endTasks(tx, ends);
      return appendEvents(tx, ends.map((e, i) => ({ taskId: e.id, service: due.rows[i]!.service, type: 'expired', data: { error: e.error } })));
    }),

    deleteTask: (id, by) => db.transaction(async (tx) => {
      const gone = await tx.query<{ service: string; owner: string | null }>('DELETE FROM task WHERE id = $1 RETURNING service, principal AS owner', [taskIdToDecimal(id)]);
      const row = gone.rows[0];
      if (!row) return { deleted: false, events: [] };
      return { deleted: true, events: await appendEvents(tx, [{ taskId: id, service: row.service, type: 'deleted', data: by ? { by } : {}, owner: row.owner }]) };
    }),

    async stoppedBeforeStart(withinSeconds, limit) {
      const rows = await db.query<{ id: string }>(
        `SELECT ${HEX_ID} AS id FROM task WHERE status IN ('canceled', 'expired') AND started_at IS NULL
           AND completed_at > now() - make_interval(secs => $1) ORDER BY completed_at DESC LIMIT $2`,
        [withinSeconds, limit],
      );
      return rows.rows.map((r) => r.id);
    },

    async queuePosition(task) {
      const row = await one<{ ahead: number; mean: number | null }>(
        `SELECT (SELECT count(*)::int FROM task WHERE status = 'queued' AND service = $1 AND id < $2) AS ahead,
           (SELECT extract(epoch FROM avg(completed_at - started_at))::float8 FROM (
              SELECT completed_at, started_at FROM task WHERE status = 'done' AND service = $1
              ORDER BY completed_at DESC LIMIT 20) recent) AS mean`,
        [task.service, taskIdToDecimal(task.id)],
      );
      return { queuedAhead: row?.ahead ?? 0, meanDurationSeconds: row?.mean ?? undefined };
    },

    readEvents: (filter, after, upTo, limit) => readEvents(db, filter, after, upTo, limit),
    lastEvents: (filter, upTo, count) => lastEvents(db, filter, upTo, count),
    lastEventId: () => lastEventId(db),
    oldestEventId: () => oldestEventId(db),
    trimEvents: (retentionSeconds, limit) => trimEvents(db, retentionSeconds, limit),

    async deleteExpired(limit) {
      // Short transactions in batches: never a long lock on the table; SKIP LOCKED lets requests through.
      return db.transaction(async (tx) => {
        const lock = await tx.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [JANITOR_LOCK]);
        if (!lock.rows[0]?.locked) return 0;
        const gone = await tx.query(
          `DELETE FROM task WHERE id IN (
             SELECT id FROM task WHERE expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`,
          [limit],
        );
        return gone.rowCount;
      });
    },

    async listRunning(afterId, limit) {
      const rows = await db.query<RunningTask>(
        `SELECT ${HEX_ID} AS id, service, worker, run_id AS "runId" FROM task
         WHERE status = 'running' AND run_id IS NOT NULL AND id > $1 ORDER BY id LIMIT $2`,
        [afterId ? taskIdToDecimal(afterId) : '-1', limit],
      );
      return rows.rows;
    },

    requeueLost: (lost, maxAttempts, send) => db.transaction(async (tx): Promise<RequeueOutcome> => {
      const task = (await lockSnapshots(tx, [lost.id])).get(lost.id);
      if (!task || task.status !== 'running' || task.runId !== lost.runId) return { kind: 'moved-on' };
      if (task.attempts >= maxAttempts) {
        const error = { code: WORKER_LOST, message: `the task's worker was lost on each of its ${task.attempts} attempts (limit ${maxAttempts})` };
        await endTasks(tx, [{ id: task.id, status: 'failed', error }]);
        return { kind: 'gave-up', events: await appendEvents(tx, [{ taskId: task.id, service: task.service, type: 'failed', data: { error } }]) };
      }
      // The run id stays: a late report of the lost attempt is still known as that attempt.
      const row = await tx.query<{ input: string }>(
        `UPDATE task SET status = 'queued', deadline = NULL, progress = NULL, progress_seq = NULL WHERE id = $1 RETURNING input::text AS input`,
        [taskIdToDecimal(task.id)],
      );
      await send({ id: task.id, service: task.service, input: row.rows[0]!.input });
      // Last: the log's lock is held from here to the commit (never across the broker's confirm).
      const events = await appendEvents(tx, [{
        taskId: task.id, service: task.service, type: 'queued', data: { requeued: true, reason: WORKER_LOST, previousWorker: task.worker, attempts: task.attempts },
      }]);
      return { kind: 'requeued', events };
    }),

    async listUnfinished(afterId, limit): Promise<UnfinishedTask[]> {
      const rows = await db.query<UnfinishedTask>(
        `SELECT ${HEX_ID} AS id, service, input::text AS input FROM task
         WHERE (status = 'queued' OR (status = 'running' AND run_id IS NULL)) AND id > $1 ORDER BY id LIMIT $2`,
        [afterId ? taskIdToDecimal(afterId) : '-1', limit],
      );
      return rows.rows;
    },

    async leaseNodeId(holder, ttlSeconds) {
      const row = await one<{ node_id: number }>(
        `UPDATE node_lease SET holder = $1, expires_at = now() + make_interval(secs => $2)
         WHERE node_id = (SELECT node_id FROM node_lease WHERE expires_at < now() ORDER BY node_id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING node_id`,
        [holder, ttlSeconds],
      );
      return row === undefined ? undefined : Number(row.node_id);
    },

    async renewNodeLease(nodeId, holder, ttlSeconds) {
      const r = await db.query(
        'UPDATE node_lease SET expires_at = now() + make_interval(secs => $3) WHERE node_id = $1 AND holder = $2',
        [nodeId, holder, ttlSeconds],
      );
      return r.rowCount > 0;
    },

    async releaseNodeLease(nodeId, holder) {
      await db.query(`UPDATE node_lease SET holder = NULL, expires_at = '-infinity' WHERE node_id = $1 AND holder = $2`, [nodeId, holder]);
    },

    // API keys (issue 12)
    createApiKey: (key) => createApiKey(db, key),
    listApiKeys: () => listApiKeys(db),
    revokeApiKey: (name) => revokeApiKey(db, name),
    useApiKey: (secretSha256) => useApiKey(db, secretSha256),

    async close() {
      await inserts.drain();
      await db.close();
    },
  };
}
