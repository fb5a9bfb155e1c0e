/**
 * Tasks whose worker or broker was lost, found again: running tasks whose worker the janitor
 * judged lost are queued again (or failed past their attempts); after the embedded broker
 * restarts, every unfinished task is listed to be queued again.
 */
import { taskIdToDecimal, WORKER_LOST } from '../core/index.ts';
import type { SqlClient } from './sql-client.ts';
import { appendEvents } from './sql-events.ts';
import { endTasks, HEX_ID, lockSnapshots } from './sql-task-rows.ts';
import type { Recovery, RequeueOutcome, RunningTask, UnfinishedTask } from './store.ts';

export function sqlRecovery(db: SqlClient): Recovery {
  return {
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
  };
}
