/**
 * `node --import tsx bench/task-list-plans.ts [--database errand_bench_history]`: the plans
 * PostgreSQL runs for the task list's first pages (and one next page) on the bench's history
 * database, with EXPLAIN (ANALYZE, BUFFERS), for docs/operations.md. The statements are the
 * store's own (taskListStatement), for the filters the bench times (task-list.ts). Read-only.
 */
import { parseArgs } from 'node:util';
import { encodeTaskCursor } from '../src/core/index.ts';
import type { TaskListQuery } from '../src/core/index.ts';
import { taskListStatement } from '../src/store/index.ts';
import { sqlClient } from './errand.ts';
import { listFilters, storeQuery } from './task-list.ts';

const { values } = parseArgs({ options: { database: { type: 'string', default: 'errand_bench_history' } } });
const db = sqlClient(values.database);
await db.connect();

async function explain(title: string, query: TaskListQuery): Promise<void> {
  const { text, params } = taskListStatement(query);
  const plan = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${text}`, params);
  console.log(`\n-- ${title}\n${plan.rows.map((r) => r['QUERY PLAN']).join('\n')}`);
}

try {
  const size = (await db.query<{ n: string; first: Date; last: Date }>(
    `SELECT reltuples::bigint::text AS n, (SELECT min(created_at) FROM task) AS first, (SELECT max(created_at) FROM task) AS last FROM pg_class WHERE relname = 'task'`)).rows[0]!;
  console.log(`-- ${values.database}: about ${size.n} tasks, created ${size.first.toISOString()} to ${size.last.toISOString()}; PostgreSQL ${(await db.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version}`);
  const filters = listFilters(size.first, size.last);
  for (const filter of filters) await explain(`${filter.who === 'user' ? 'user (read, own tasks)' : 'operator (read:all)'}: GET /tasks${filter.query ? `?${filter.query}` : ''}`, storeQuery(filter));
  // A next page: from the cursor of the operator's first unfiltered page.
  await explain('operator (read:all): GET /tasks (no filter)', { limit: 50 });
  const first = await db.query<{ id: string; created_micros: string }>(taskListStatement({ limit: 50 }).text, taskListStatement({ limit: 50 }).params);
  const last = first.rows[49];
  if (last) {
    const after = { createdMicros: String(last.created_micros), id: last.id };
    await explain(`operator (read:all): the next page, GET /tasks?cursor=${encodeTaskCursor(after)}`, { limit: 50, after });
  }
  await explain('operator (read:all): GET /tasks?status=failed&status=canceled (several statuses)', { limit: 50, statuses: ['failed', 'canceled'] });
} finally {
  await db.end();
}
