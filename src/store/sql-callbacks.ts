/**
 * Completion callbacks in PostgreSQL (issue 14): a task's callbacks, claimed by the deliverers
 * (every recorder runs one) with FOR UPDATE SKIP LOCKED and a lease, so that several recorders
 * never send one attempt twice, and every attempt recorded. Pending callbacks live here, not in
 * a process: a recorder that stops leaves them to the next.
 *
 * Lock order, whatever the path: the task row, then its callback rows. Adding a callback and
 * settling a task's callbacks both lock the task row first, then look: so a callback added while
 * the last one is settled is never taken for settled. A claim locks callback rows only.
 */
import { taskIdToDecimal } from '../core/index.ts';
import type { SqlClient, SqlQueryable } from './sql-client.ts';
import type { CallbackAttemptEnd, Callbacks, ClaimedCallback, TaskCallback } from './store.ts';

/** What an attempt whose deliverer stopped during it (no outcome was ever recorded) says. */
export const INTERRUPTED_ATTEMPT = 'interrupted: no outcome was recorded (its deliverer stopped, or lost the database)';

interface CallbackRow {
  id: string; url: string; state: TaskCallback['state']; next_at: Date;
  attempt: number | null; at: Date | null; duration_ms: number | null; status_code: number | null; error: string | null; retry_at: Date | null;
}

/** Marks the tasks' callbacks settled when none is pending any more; takes the task rows' locks first. */
async function settle(q: SqlQueryable, taskIds: string[]): Promise<void> {
  if (taskIds.length === 0) return;
  const ids = [...new Set(taskIds)].map(taskIdToDecimal);
  await q.query('SELECT 1 FROM task WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE', [ids]);
  // A statement of its own: it sees every callback committed while it waited for those locks.
  await q.query(
    `UPDATE task t SET callbacks = 'settled' WHERE t.id = ANY($1::bigint[]) AND t.callbacks = 'pending'
       AND NOT EXISTS (SELECT 1 FROM task_callback c WHERE c.task_id = t.id AND c.state = 'pending')`,
    [ids],
  );
}

export function sqlCallbacks(db: SqlClient): Callbacks {
  return {
    addCallback: (taskId, url) => db.transaction(async (tx) => {
      const id = taskIdToDecimal(taskId);
      const task = await tx.query('SELECT 1 FROM task WHERE id = $1 FOR UPDATE', [id]);
      if (task.rowCount === 0) return false;
      await tx.query('INSERT INTO task_callback (task_id, url) VALUES ($1, $2) ON CONFLICT (task_id, url) DO NOTHING', [id, url]);
      // Pending while any callback is: an existing one to the same URL may have been delivered already.
      await tx.query(
        `UPDATE task SET callbacks = CASE WHEN EXISTS (SELECT 1 FROM task_callback WHERE task_id = $1 AND state = 'pending') THEN 'pending' ELSE 'settled' END
         WHERE id = $1`,
        [id],
      );
      return true;
    }),

    async getCallbacks(taskId) {
      const rows = await db.query<CallbackRow>(
        `SELECT c.id::text AS id, c.url, c.state, c.next_at, a.attempt, a.at, a.duration_ms, a.status_code, a.error, a.retry_at
         FROM task_callback c LEFT JOIN task_callback_attempt a ON a.callback_id = c.id
         WHERE c.task_id = $1 ORDER BY c.id, a.attempt`,
        [taskIdToDecimal(taskId)],
      );
      const byId = new Map<string, TaskCallback>();
      for (const row of rows.rows) {
        let callback = byId.get(row.id);
        if (!callback) byId.set(row.id, (callback = { url: row.url, state: row.state, nextAt: row.state === 'pending' ? new Date(row.next_at) : null, attempts: [] }));
        if (row.attempt === null) continue;
        callback.attempts.push({
          attempt: Number(row.attempt), at: new Date(row.at!), durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
          statusCode: row.status_code === null ? null : Number(row.status_code), error: row.error, retryAt: row.retry_at && new Date(row.retry_at),
        });
      }
      return [...byId.values()];
    },

    async claimCallbacks(limit, leaseMs, maxAttempts) {
      const { claimed, exhausted } = await db.transaction(async (tx) => {
        // Callbacks of ended tasks that are due (backoff over, or a lease run out), that no other
        // deliverer holds: a claimed row is skipped, not waited for.
        const due = await tx.query<{ id: string; attempts: number; task_id: string }>(
          `SELECT c.id::text AS id, c.attempts, lpad(to_hex(c.task_id), 16, '0') AS task_id FROM task t JOIN task_callback c ON c.task_id = t.id
           WHERE t.callbacks = 'pending' AND t.completed_at IS NOT NULL AND c.state = 'pending' AND c.next_at <= now()
           ORDER BY c.next_at LIMIT $1 FOR UPDATE OF c SKIP LOCKED`,
          [limit],
        );
        if (due.rows.length === 0) return { claimed: [], exhausted: [] };
        const ids = due.rows.map((r) => r.id);
        // An attempt begun and never ended: its deliverer stopped (or lost its lease) during it.
        await tx.query(
          'UPDATE task_callback_attempt SET error = $2 WHERE callback_id = ANY($1::bigint[]) AND status_code IS NULL AND error IS NULL',
          [ids, INTERRUPTED_ATTEMPT],
        );
        const spent = due.rows.filter((r) => Number(r.attempts) >= maxAttempts);
        if (spent.length > 0) {
          await tx.query(`UPDATE task_callback SET state = 'failed' WHERE id = ANY($1::bigint[])`, [spent.map((r) => r.id)]);
        }
        const sending = due.rows.filter((r) => Number(r.attempts) < maxAttempts).map((r) => r.id);
        if (sending.length === 0) return { claimed: [], exhausted: spent.map((r) => r.task_id) };
        // The lease: until it runs out, the row is not due, so no other deliverer takes it.
        const rows = await tx.query<{ id: string; task_id: string; url: string; attempts: number }>(
          `UPDATE task_callback SET attempts = attempts + 1, next_at = now() + make_interval(secs => $2::float8 / 1000)
           WHERE id = ANY($1::bigint[]) RETURNING id::text AS id, lpad(to_hex(task_id), 16, '0') AS task_id, url, attempts`,
          [sending, leaseMs],
        );
        await tx.query(
          'INSERT INTO task_callback_attempt (callback_id, attempt) SELECT * FROM unnest($1::bigint[], $2::int[])',
          [rows.rows.map((r) => r.id), rows.rows.map((r) => Number(r.attempts))],
        );
        return {
          claimed: rows.rows.map((r): ClaimedCallback => ({ id: r.id, taskId: r.task_id, url: r.url, attempt: Number(r.attempts) })),
          exhausted: spent.map((r) => r.task_id),
        };
      });
      // After the claim's commit: settling locks task rows, which a claim must never hold while it holds callbacks.
      if (exhausted.length > 0) await db.transaction((tx) => settle(tx, exhausted));
      return claimed;
    },

    finishCallbackAttempt: (end: CallbackAttemptEnd) => db.transaction(async (tx) => {
      await tx.query('SELECT 1 FROM task WHERE id = $1 FOR UPDATE', [taskIdToDecimal(end.taskId)]);
      const retry = end.state === 'pending' ? end.retryInMs ?? 0 : null;
      await tx.query(
        `UPDATE task_callback_attempt SET duration_ms = $3, status_code = $4, error = $5,
           retry_at = CASE WHEN $6::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $6::float8 / 1000) END
         WHERE callback_id = $1 AND attempt = $2`,
        [end.id, end.attempt, Math.round(end.durationMs), end.statusCode, end.error, retry],
      );
      // Only while the claim is still this attempt's: a deliverer that overran its lease does not
      // undo what the next one did.
      await tx.query(
        `UPDATE task_callback SET state = $3, next_at = CASE WHEN $4::float8 IS NULL THEN next_at ELSE now() + make_interval(secs => $4::float8 / 1000) END
         WHERE id = $1 AND attempts = $2 AND state = 'pending'`,
        [end.id, end.attempt, end.state, retry],
      );
      if (end.state !== 'pending') await settle(tx, [end.taskId]);
    }),
  };
}
