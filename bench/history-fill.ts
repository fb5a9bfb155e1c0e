/**
 * How the history of finished tasks is written: the only part of the bench that knows the tables
 * (task, task_event, and the sequencer's counter in event_log, as in migrations 001-008). When the
 * schema changes (a task_result table, json instead of jsonb, event ids from another source),
 * adapt this file; history.ts only calls it, and refills a kept database whenever its SQL changes.
 *
 * Task n of N was created at a millisecond spread evenly over the span, started 2 ms later and ended
 * 2 ms after that, and has the three events the roles write for it (queued, started, done or
 * failed; data as the roles write it), numbered in task order after the log's last id. Most are
 * the bench key's tasks of service noop, done with the result {}; a few differ (see MIX), so that
 * the task list's filters (issue 14) have rare values to find: a filter that matches few of ten
 * million tasks is where an index that does not fit shows.
 */

/** History ids use the highest node id, and past milliseconds: no live server's id can equal one. */
const HISTORY_NODE_ID = 1023;
/** The principal of the bench's key (`errand keys create bench`): the history has the same owner as the measured tasks, so the owner's indexes hold all of it. */
const PRINCIPAL = 'key:bench';
const SERVICE = 'noop';
export const EVENTS_PER_TASK = 3;

/**
 * Which tasks differ, by their number n: 5 % are of service `report` (n % 20 = 3), 2 % failed
 * (n % 50 = 3; with code `script_error`, one in twenty of them `timeout`: 0.1 % of all), so that
 * 1 % are report's failures; 1 % are another principal's (n % 100 = 5), none of which failed. The
 * task list bench (task-list.ts) asks for these.
 */
export const MIX = {
  otherService: 'report', otherServiceEvery: 20,
  failedEvery: 50, rareCode: 'timeout', rareCodeEvery: 1000, code: 'script_error',
  otherPrincipal: 'key:bench-other', otherPrincipalEvery: 100,
} as const;

/** The fill's SQL text, for telling whether a kept history was written by the same fill. */
export function fillSqlText(tasks: number): string {
  const probe: FillContext = { total: tasks, spanStartMs: 0, spanMs: 0, json: { input: 'json', result: 'json', event: 'json', error: 'jsonb' }, lastEventId: 0 };
  return [...fillBatch(probe, 1, 1), finishFill(probe)].map((q) => q.text).join(';\n');
}

/** A statement with its parameters; and whatever runs one (pg's client, Errand's SqlClient). */
export interface Statement { text: string; values: unknown[] }
export type Query = (text: string, values?: unknown[]) => Promise<{ rows: Array<Record<string, unknown>> }>;

interface FillContext {
  total: number;
  spanStartMs: number;
  spanMs: number;
  /** The JSON columns' types as the schema has them (jsonb today; json or text do as well). */
  json: { input: string; result: string; event: string; error: string };
  /** The event log's last id before the fill. */
  lastEventId: number;
}

export interface FillTarget {
  query: Query;
  /** Runs the statements in one transaction. */
  inTransaction(statements: Statement[]): Promise<void>;
}

/** Writes `tasks` finished tasks, `batch` per transaction, created over [spanStartMs, spanStartMs + spanMs). */
export async function fillHistory(db: FillTarget, options: { tasks: number; batch: number; spanStartMs: number; spanMs: number; progress?: (written: number) => void }): Promise<void> {
  const context = await fillContext(db.query, options.tasks, options.spanStartMs, options.spanMs);
  for (let first = 1; first <= options.tasks; first += options.batch) {
    const last = Math.min(options.tasks, first + options.batch - 1);
    await db.inTransaction(fillBatch(context, first, last));
    options.progress?.(last);
  }
  const finish = finishFill(context);
  await db.query(finish.text, finish.values);
}

async function fillContext(query: Query, total: number, spanStartMs: number, spanMs: number): Promise<FillContext> {
  const type = async (table: string, column: string) => String((await query(
    'SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2', [table, column])).rows[0]!.t);
  const json = { input: await type('task', 'input'), result: await type('task', 'result'), event: await type('task_event', 'data'), error: await type('task', 'error') };
  const lastEventId = Number((await query('SELECT last_id::text AS id FROM event_log')).rows[0]!.id);
  return { total, spanStartMs, spanMs, json, lastEventId };
}

/** The statements that write tasks [first, last] (1-based) and their events, run in one transaction. */
function fillBatch(c: FillContext, first: number, last: number): Statement[] {
  const m = MIX;
  const code = `CASE WHEN n % ${m.rareCodeEvery} = 3 THEN '${m.rareCode}' ELSE '${m.code}' END`;
  const tasks = `SELECT n, ((ms << 22) | (${HISTORY_NODE_ID}::bigint << 12) | (n % 4096)) AS id, to_timestamp(ms / 1000.0) AS at,
      CASE WHEN n % ${m.otherServiceEvery} = 3 THEN '${m.otherService}' ELSE '${SERVICE}' END AS service,
      CASE WHEN n % ${m.otherPrincipalEvery} = 5 THEN '${m.otherPrincipal}' ELSE '${PRINCIPAL}' END AS principal,
      CASE WHEN n % ${m.failedEvery} = 3 THEN json_build_object('code', ${code}, 'message', 'the script stopped')::text END AS error
    FROM (SELECT n, $3::bigint + (n::numeric * $4::bigint / $5::bigint)::bigint AS ms FROM generate_series($1::bigint, $2::bigint) AS n) s`;
  const range = [first, last, c.spanStartMs, c.spanMs, c.total];
  return [
    {
      // A failed task's result is Patavi's failure index, as the recorder writes it.
      text: `INSERT INTO task (id, service, status, input, principal, created_at, started_at, completed_at, ttl, expires_at, attempts, worker, run_id, result, error)
        SELECT id, service, CASE WHEN error IS NULL THEN 'done' ELSE 'failed' END, '{"n":1}'::${c.json.input}, principal, at, at + interval '2 ms', at + interval '4 ms',
               interval '30 days', at + interval '4 ms' + interval '30 days', 1, 'bench-history', lpad(to_hex(id), 16, '0'),
               CASE WHEN error IS NULL THEN '{}' ELSE json_build_object('status', 'failed', 'cause', 'the script stopped', 'error', error::json)::text END::${c.json.result},
               error::${c.json.error}
        FROM (${tasks}) h ORDER BY id`,
      values: range,
    },
    {
      text: `INSERT INTO task_event (id, task_id, service, type, data, at, principal)
        SELECT $6::bigint + (h.n - 1) * ${EVENTS_PER_TASK} + e.k, h.id, h.service,
               CASE WHEN e.k = 3 AND h.error IS NOT NULL THEN 'failed' ELSE e.type END,
               (CASE WHEN e.k = 3 AND h.error IS NOT NULL THEN json_build_object('error', h.error::json)::text ELSE e.data END)::${c.json.event},
               h.at + e.after, h.principal
        FROM (${tasks}) h
          CROSS JOIN (VALUES (1, 'queued', '{}', interval '0'),
                             (2, 'started', '{"worker":"bench-history","attempt":1}', interval '2 ms'),
                             (3, 'done', '{}', interval '4 ms')) AS e(k, type, data, after)
        ORDER BY 1`,
      values: [...range, c.lastEventId],
    },
  ];
}

/** After the last batch: the sequencer numbers new events after the history's. */
function finishFill(c: FillContext): Statement {
  return { text: 'UPDATE event_log SET last_id = greatest(last_id, $1)', values: [c.lastEventId + c.total * EVENTS_PER_TASK] };
}
