/** What a caller does to a task: cancel it, delete it. */
import { isTerminal, taskIdToDecimal } from '../core/index.ts';
import type { SqlClient } from './sql-client.ts';
import { appendEvents } from './sql-events.ts';
import { endTasks, lockSnapshots } from './sql-task-rows.ts';
import type { CancelOutcome, TaskChanges } from './store.ts';

export function sqlTaskChanges(db: SqlClient): TaskChanges {
  return {
    cancelTask: (id, by) => db.transaction(async (tx): Promise<CancelOutcome> => {
      const task = (await lockSnapshots(tx, [id])).get(id);
      if (!task) return { kind: 'unknown-task' };
      if (isTerminal(task.status)) return { kind: 'ended', status: task.status };
      const error = { code: 'canceled', message: 'the task was canceled' };
      await endTasks(tx, [{ id, status: 'canceled', error }]);
      const events = await appendEvents(tx, [{ taskId: id, service: task.service, type: 'canceled', data: { error, ...(by ? { by } : {}) } }]);
      return { kind: 'canceled', wasRunning: task.status === 'running', events };
    }),

    deleteTask: (id, by) => db.transaction(async (tx) => {
      const gone = await tx.query<{ service: string; owner: string | null }>('DELETE FROM task WHERE id = $1 RETURNING service, principal AS owner', [taskIdToDecimal(id)]);
      const row = gone.rows[0];
      if (!row) return { deleted: false, events: [] };
      return { deleted: true, events: await appendEvents(tx, [{ taskId: id, service: row.service, type: 'deleted', data: by ? { by } : {}, owner: row.owner }]) };
    }),
  };
}
