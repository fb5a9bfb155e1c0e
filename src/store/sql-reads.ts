/** Reads of tasks and their parts, as the server answers them. */
import { taskIdToDecimal } from '../core/index.ts';
import { prepared } from './sql-client.ts';
import type { SqlClient, Statement } from './sql-client.ts';
import { HEX_ID, TASK_COLUMNS, toTaskInfo } from './sql-task-rows.ts';
import type { TaskRow } from './sql-task-rows.ts';
import type { StoredFile, TaskReads } from './store.ts';

/** A task by id: read for every watcher that connects, kept prepared. */
const TASK_BY_ID = prepared(`SELECT ${TASK_COLUMNS} FROM task WHERE id = $1`);

/** A read limited to one owner's tasks: `$2` is the owner, or null for any task. */
const OWNED_BY_2 = '($2::text IS NULL OR principal = $2::text)';

export function sqlTaskReads(db: SqlClient): TaskReads {
  async function one<Row>(text: Statement, params: unknown[]): Promise<Row | undefined> {
    return (await db.query<Row>(text, params)).rows[0];
  }

  return {
    async getTask(id) {
      const row = await one<TaskRow>(TASK_BY_ID, [taskIdToDecimal(id)]);
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

    async queuePosition(task) {
      // `completed_at IS NOT NULL` (true of every done task) lets the mean use task_service_ended.
      const row = await one<{ ahead: number; mean: number | null }>(
        `SELECT (SELECT count(*)::int FROM task WHERE status = 'queued' AND service = $1 AND id < $2) AS ahead,
           (SELECT extract(epoch FROM avg(completed_at - started_at))::float8 FROM (
              SELECT completed_at, started_at FROM task WHERE status = 'done' AND service = $1 AND completed_at IS NOT NULL
              ORDER BY completed_at DESC LIMIT 20) recent) AS mean`,
        [task.service, taskIdToDecimal(task.id)],
      );
      return { queuedAhead: row?.ahead ?? 0, meanDurationSeconds: row?.mean ?? undefined };
    },

    async stoppedBeforeStart(withinSeconds, limit) {
      const rows = await db.query<{ id: string }>(
        `SELECT ${HEX_ID} AS id FROM task WHERE status IN ('canceled', 'expired') AND started_at IS NULL
           AND completed_at > now() - make_interval(secs => $1) ORDER BY completed_at DESC LIMIT $2`,
        [withinSeconds, limit],
      );
      return rows.rows.map((r) => r.id);
    },
  };
}
