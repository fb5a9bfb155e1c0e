/**
 * The task list (GET /tasks): one page of tasks, newest first by (created_at, id), after a cursor.
 * Each filter that can be rare has an index in that order (migration 011), so a page reads about
 * the rows it returns; core/task-list.ts says why this order and this paging.
 */
import { TaskStatuses, taskIdToDecimal } from '../core/index.ts';
import type { TaskListCursor, TaskListQuery, TaskPage, TaskStatus } from '../core/index.ts';
import type { SqlClient, SqlQueryable } from './sql-client.ts';
import { TASK_COLUMNS, toTaskInfo } from './sql-task-rows.ts';
import type { TaskRow } from './sql-task-rows.ts';
import type { TaskList } from './store.ts';

/** The cursor's half that is a time: created_at in whole microseconds (PostgreSQL's precision), exact. */
const CREATED_MICROS = `(extract(epoch FROM created_at) * 1000000)::bigint::text`;
/** The same microseconds back as a timestamptz, exactly: an interval of whole microseconds after the epoch. */
const MICROS_AS_TIME = (param: string) => `(timestamptz 'epoch' + ${param}::bigint * interval '1 microsecond')`;

/** A statement with its parameters (exported for the bench, which EXPLAINs what the store runs). */
export interface ListStatement { text: string; params: unknown[] }

/**
 * The SELECT for a page: `limit + 1` rows, the extra one telling whether there is a next page.
 * Several statuses become one branch each (UNION ALL), every branch in the list's order with its
 * own limit, so that each can read its status's index in order; the few rows they return are
 * merged. Statuses go in as literals from the fixed set, so that a branch other than `done` matches
 * the partial index `task_status_created` (WHERE status <> 'done') by its text, whatever plan the
 * parameters get.
 */
export function taskListStatement(query: TaskListQuery): ListStatement {
  const params: unknown[] = [];
  const param = (value: unknown): string => { params.push(value); return `$${params.length}`; };
  const common: string[] = [];
  if (query.service !== undefined) common.push(`service = ${param(query.service)}`);
  if (query.owner !== undefined) common.push(`principal = ${param(query.owner)}`);
  if (query.createdSince) common.push(`created_at >= ${param(query.createdSince.toISOString())}::timestamptz`);
  if (query.createdUntil) common.push(`created_at < ${param(query.createdUntil.toISOString())}::timestamptz`);
  if (query.completedSince) common.push(`completed_at >= ${param(query.completedSince.toISOString())}::timestamptz`);
  if (query.completedUntil) {
    const until = param(query.completedUntil.toISOString());
    // A task is stored before it completes (completed_at >= created_at): the bound holds for
    // created_at too, and lets the scan start at that time instead of at the newest task.
    common.push(`completed_at < ${until}::timestamptz`, `created_at < ${until}::timestamptz`);
  }
  if (query.errorCode !== undefined) common.push(`error IS NOT NULL`, `error->>'code' = ${param(query.errorCode)}`);
  if (query.after) {
    common.push(`(created_at, id) < (${MICROS_AS_TIME(param(query.after.createdMicros))}, ${param(taskIdToDecimal(query.after.id))}::bigint)`);
  }
  const limit = param(query.limit + 1);
  const select = (extra: string[]): string => {
    const where = [...extra, ...common];
    // Qualified: a bare `id` in ORDER BY would be the output column, the id as hex text, which no index has.
    return `SELECT ${TASK_COLUMNS}, ${CREATED_MICROS} AS created_micros FROM task${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
      ORDER BY task.created_at DESC, task.id DESC LIMIT ${limit}`;
  };
  const statuses = [...new Set(query.statuses ?? [])];
  for (const status of statuses) {
    if (!(TaskStatuses as readonly string[]).includes(status)) throw new TypeError(`not a task status: ${status}`);
  }
  const branch = (status: TaskStatus): string => select(status === 'done' ? [`status = 'done'`] : [`status = '${status}'`, `status <> 'done'`]);
  if (statuses.length === 0) return { text: select([]), params };
  if (statuses.length === 1) return { text: branch(statuses[0]!), params };
  return {
    // The branches' output: created_at, and id as 16 hex digits, whose text order is its numeric order.
    text: `SELECT * FROM (${statuses.map((s) => `(${branch(s)})`).join(' UNION ALL ')}) page ORDER BY created_at DESC, id DESC LIMIT ${limit}`,
    params,
  };
}

type ListRow = TaskRow & { created_micros: string };

/** Runs a page's statement and cuts it to `limit`, with the cursor of its last task when more follow. */
export async function listTaskPage(db: SqlQueryable, query: TaskListQuery): Promise<TaskPage> {
  const { text, params } = taskListStatement(query);
  const rows = (await db.query<ListRow>(text, params)).rows;
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  const next: TaskListCursor | undefined = rows.length > query.limit && last ? { createdMicros: String(last.created_micros), id: last.id } : undefined;
  return { tasks: page.map(toTaskInfo), ...(next ? { next } : {}) };
}

export function sqlTaskList(db: SqlClient): TaskList {
  return { listTasks: (query) => listTaskPage(db, query) };
}
