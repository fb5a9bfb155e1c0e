/**
 * The result cache in SQL (004_cache.sql): a submission answered by the entry of its key, entries
 * settled when their task ends, and entries past their lifetime trimmed.
 */
import { taskIdToDecimal } from '../core/index.ts';
import type { CacheClaim, TaskStatus } from '../core/index.ts';
import type { SqlQueryable } from './sql-client.ts';
import { appendEvents } from './sql-events.ts';
import { insertRows, TASK_COLUMNS, toTaskInfo } from './sql-task-rows.ts';
import type { TaskRow } from './sql-task-rows.ts';
import type { CachedSubmission, NewTask } from './store.ts';

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
     SELECT $1, $2, 'done', $3::json, $4, $5, $6::interval, $7, now(), now(), now() + $6::interval, 0, c.script, c.result, c.console
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
export async function submitCachedRows(q: SqlQueryable, task: NewTask, cache: CacheClaim): Promise<CachedSubmission> {
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


/**
 * Settles the cache entries of tasks that just ended with a result: a done, cacheable result of
 * the entry's version is served from now for the entry's lifetime; any other loses its entry.
 */
export async function settleCacheEntries(q: SqlQueryable, ended: Array<{ id: string; servable: boolean; version: string | null }>): Promise<void> {
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

/** Removes up to `limit` cache entries past their lifetime; the tasks stay. */
export async function trimCache(q: SqlQueryable, limit: number): Promise<number> {
  const gone = await q.query(
    `DELETE FROM task_cache WHERE key IN (
       SELECT key FROM task_cache WHERE expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`,
    [limit],
  );
  return gone.rowCount;
}
