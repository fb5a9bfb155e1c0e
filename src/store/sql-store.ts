/**
 * The Store on SQL: one implementation, run by `pg` in production and by PGlite embedded.
 * Ids travel as decimal text (both drivers bind it to bigint without loss) and come back as
 * 16 hex digits, computed in SQL, so no driver ever turns one into a lossy JS number.
 */
import { createBatcher, taskIdToDecimal, failureIndex } from '../core/index.ts';
import type { TaskError, TaskInfo, TaskStatus } from '../core/index.ts';
import type { SqlClient, SqlQueryable } from './sql-client.ts';
import type { CompletedTask, CompletionOutcome, NewTask, StartedTask, Store, StoredFile, UnfinishedTask } from './store.ts';

const HEX_ID = `lpad(to_hex(id), 16, '0')`;
const TASK_COLUMNS = `${HEX_ID} AS id, service, status, owner, created_at, started_at, completed_at, expires_at,
  attempts, worker, script IS NOT NULL AS has_script, console IS NOT NULL AS has_console, error`;
/** Advisory lock key ('errand.janitor'): one janitor sweeps at a time. */
const JANITOR_LOCK = 7_415_021_002;

interface TaskRow {
  id: string; service: string; status: TaskStatus; owner: string | null;
  created_at: Date; started_at: Date | null; completed_at: Date | null; expires_at: Date | null;
  attempts: number; worker: string | null; has_script: boolean; has_console: boolean;
  error: TaskError | null;
}

function toTaskInfo(row: TaskRow): TaskInfo {
  return {
    id: row.id, service: row.service, status: row.status, owner: row.owner,
    createdAt: row.created_at, startedAt: row.started_at, completedAt: row.completed_at, expiresAt: row.expires_at,
    attempts: Number(row.attempts), worker: row.worker, hasScript: row.has_script, hasConsole: row.has_console, error: row.error,
  };
}

/** SQLSTATE class 22 (data exception) and 23 (integrity): the row is at fault, not the connection. */
function isRowError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

export function createSqlStore(db: SqlClient, options: { maxBatch?: number } = {}): Store {
  const maxBatch = options.maxBatch ?? 500;

  async function insertRows(q: SqlQueryable, tasks: NewTask[]): Promise<void> {
    await q.query(
      `INSERT INTO task (id, service, input, owner, owner_key, ttl)
       SELECT u.id, u.service, u.input::jsonb, u.owner, u.owner_key, u.ttl::interval
       FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
         AS u(id, service, input, owner, owner_key, ttl)`,
      [
        tasks.map((t) => taskIdToDecimal(t.id)), tasks.map((t) => t.service), tasks.map((t) => t.input),
        tasks.map((t) => t.owner), tasks.map((t) => t.ownerKey), tasks.map((t) => t.ttl),
      ],
    );
  }

  // Group commit of concurrent submissions. If a batch fails because of one row, each task is
  // retried alone so that only the bad one fails.
  const inserts = createBatcher<NewTask, Error | null>(
    async (tasks) => {
      try {
        await insertRows(db, tasks);
        return tasks.map(() => null);
      } catch (err) {
        if (tasks.length === 1 || !isRowError(err)) throw err;
        return Promise.all(tasks.map((t) => insertRows(db, [t]).then(() => null, (e: Error) => e)));
      }
    },
    { maxBatch, maxConcurrentFlushes: 2 },
  );

  async function completeRows(q: SqlQueryable, tasks: CompletedTask[]): Promise<Map<string, TaskStatus>> {
    const recorded = await q.query<{ id: string; status: TaskStatus }>(
      `UPDATE task t SET status = u.status, result = u.result::jsonb, error = u.error::jsonb, console = u.console,
         completed_at = now(), started_at = coalesce(t.started_at, now()), expires_at = now() + t.ttl
       FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u(id, status, result, error, console)
       WHERE t.id = u.id AND t.status IN ('queued', 'running')
       RETURNING lpad(to_hex(t.id), 16, '0') AS id, t.status`,
      [
        tasks.map((t) => taskIdToDecimal(t.id)), tasks.map((t) => t.status),
        tasks.map((t) => JSON.stringify(t.index ?? null)), tasks.map((t) => (t.error ? JSON.stringify(t.error) : null)),
        tasks.map((t) => t.console ?? null),
      ],
    );
    const ended = new Map(recorded.rows.map((r) => [r.id, r.status]));
    for (const task of tasks) {
      if (!ended.has(task.id)) continue;
      for (const file of task.files) {
        await q.query('INSERT INTO task_file (task_id, name, content_type, content) VALUES ($1, $2, $3, $4)', [
          taskIdToDecimal(task.id), file.name, file.contentType, file.content,
        ]);
      }
    }
    return ended;
  }

  /** A result PostgreSQL refuses (say, a NUL character in a string) fails its task instead of blocking the queue. */
  function unstorable(task: CompletedTask, err: unknown): CompletedTask {
    const error = { code: 'invalid_result', message: `the result could not be stored: ${(err as Error).message}` };
    return { id: task.id, status: 'failed', index: failureIndex(error), files: [], error };
  }

  async function completeTasks(tasks: CompletedTask[]): Promise<CompletionOutcome[]> {
    // The first result of a task in this batch wins, as the first across batches does.
    const firsts = new Map<string, CompletedTask>();
    for (const task of tasks) if (!firsts.has(task.id)) firsts.set(task.id, task);
    const unique = [...firsts.values()];
    let recorded: Map<string, TaskStatus>;
    try {
      recorded = await db.transaction((tx) => completeRows(tx, unique));
    } catch (err) {
      if (!isRowError(err)) throw err;
      recorded = new Map();
      for (const task of unique) {
        const one = await db
          .transaction((tx) => completeRows(tx, [task]))
          .catch((e: unknown) => (isRowError(e) ? db.transaction((tx) => completeRows(tx, [unstorable(task, e)])) : Promise.reject(e)));
        one.forEach((status, id) => recorded.set(id, status));
      }
    }
    const others = unique.filter((t) => !recorded.has(t.id)).map((t) => taskIdToDecimal(t.id));
    const existing = new Map<string, TaskStatus>();
    if (others.length > 0) {
      const rows = await db.query<{ id: string; status: TaskStatus }>(
        `SELECT ${HEX_ID} AS id, status FROM task WHERE id = ANY($1::bigint[])`, [others],
      );
      rows.rows.forEach((r) => existing.set(r.id, r.status));
    }
    return tasks.map((task) => {
      const status = recorded.get(task.id);
      if (status && firsts.get(task.id) === task) return { kind: 'recorded', status };
      const current = status ?? existing.get(task.id);
      return current ? { kind: 'already-ended', status: current } : { kind: 'unknown-task' };
    });
  }

  async function one<Row>(text: string, params: unknown[]): Promise<Row | undefined> {
    return (await db.query<Row>(text, params)).rows[0];
  }

  return {
    target: db.target,

    async insertTask(task) {
      const err = await inserts.add(task);
      if (err) throw err;
    },

    async getTask(id) {
      const row = await one<TaskRow>(`SELECT ${TASK_COLUMNS} FROM task WHERE id = $1`, [taskIdToDecimal(id)]);
      return row && toTaskInfo(row);
    },

    async getTasks(ids) {
      if (ids.length === 0) return [];
      const rows = await db.query<TaskRow>(`SELECT ${TASK_COLUMNS} FROM task WHERE id = ANY($1::bigint[])`, [ids.map(taskIdToDecimal)]);
      const byId = new Map(rows.rows.map((r) => [r.id, toTaskInfo(r)]));
      return [...new Set(ids)].flatMap((id) => byId.get(id) ?? []);
    },

    async getInput(id) {
      return (await one<{ input: string }>('SELECT input::text AS input FROM task WHERE id = $1', [taskIdToDecimal(id)]))?.input;
    },

    async getScript(id) {
      return (await one<{ script: string | null }>('SELECT script FROM task WHERE id = $1', [taskIdToDecimal(id)]))?.script ?? undefined;
    },

    async getConsole(id) {
      return (await one<{ console: string | null }>('SELECT console FROM task WHERE id = $1', [taskIdToDecimal(id)]))?.console ?? undefined;
    },

    async getResult(id) {
      return (await one<{ result: string | null }>('SELECT result::text AS result FROM task WHERE id = $1', [taskIdToDecimal(id)]))?.result ?? undefined;
    },

    async getFile(id, name): Promise<StoredFile | undefined> {
      const row = await one<{ content_type: string; content: Uint8Array }>(
        'SELECT content_type, content FROM task_file WHERE task_id = $1 AND name = $2', [taskIdToDecimal(id), name],
      );
      return row && { contentType: row.content_type, content: Buffer.from(row.content.buffer, row.content.byteOffset, row.content.byteLength) };
    },

    async saveScript(id, script) {
      await db.query('UPDATE task SET script = $2 WHERE id = $1', [taskIdToDecimal(id), script]);
    },

    async markStarted(tasks: StartedTask[]) {
      if (tasks.length === 0) return;
      await db.query(
        `UPDATE task t SET status = 'running', started_at = now(), worker = u.worker, attempts = t.attempts + 1,
           script = coalesce(u.script, t.script)
         FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, worker, script)
         WHERE t.id = u.id AND t.status IN ('queued', 'running')`,
        [tasks.map((t) => taskIdToDecimal(t.id)), tasks.map((t) => t.worker), tasks.map((t) => t.script ?? null)],
      );
    },

    completeTasks,

    async deleteTask(id) {
      return (await db.query('DELETE FROM task WHERE id = $1', [taskIdToDecimal(id)])).rowCount > 0;
    },

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

    async listUnfinished(afterId, limit): Promise<UnfinishedTask[]> {
      const rows = await db.query<UnfinishedTask>(
        `SELECT ${HEX_ID} AS id, service, input::text AS input FROM task
         WHERE status IN ('queued', 'running') AND id > $1 ORDER BY id LIMIT $2`,
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

    async close() {
      await inserts.drain();
      await db.close();
    },
  };
}
