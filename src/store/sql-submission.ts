/** New tasks: group-committed inserts, and submissions to services that cache (sql-result-cache.ts). */
import { createBatcher } from '../core/index.ts';
import type { TaskEvent } from '../core/index.ts';
import type { SqlClient } from './sql-client.ts';
import { isRowError } from './sql-errors.ts';
import { submitCachedRows } from './sql-result-cache.ts';
import { insertRows } from './sql-task-rows.ts';
import type { NewTask, TaskSubmission } from './store.ts';

export interface SqlTaskSubmission extends TaskSubmission {
  /** Waits for the inserts still in flight (before the client closes). */
  drain(): Promise<void>;
}

export function sqlTaskSubmission(db: SqlClient, options: { maxBatch: number }): SqlTaskSubmission {
  // One statement: no BEGIN and COMMIT round trips around it.
  const insertInTransaction = (tasks: NewTask[]): Promise<TaskEvent[]> => insertRows(db, tasks);

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
    { maxBatch: options.maxBatch, maxConcurrentFlushes: 2 },
  );

  return {
    async insertTask(task) {
      const outcome = await inserts.add(task);
      if (outcome instanceof Error) throw outcome;
      return outcome;
    },

    submitCached: (task, cache) => db.transaction((tx) => submitCachedRows(tx, task, cache)),

    drain: () => inserts.drain(),
  };
}
