/**
 * One service's activity in one statement (012_service_stats.sql): its unfinished tasks through
 * task_service_unfinished, its tasks ended within a window through task_service_ended. Nothing
 * here reads a task older than the longest window, except the queued ones still waiting.
 */
import type { SqlQueryable } from './sql-client.ts';
import type { ActivityWindows, DurationSpread, ServiceActivity, ServiceActivityFigures } from './store.ts';

/** A window may be at most a day: longer ones would read more than "lately". */
export const MAX_ACTIVITY_WINDOW_SECONDS = 86_400;
/**
 * Task ids begin with the server's clock in ms; created_at is the database's. Unfinished
 * arrivals are looked for from this much earlier than the window by id, then filtered by
 * created_at, so a server clock this far behind the database's still counts.
 */
const CLOCK_SLACK_MS = 300_000;

/** Ran and ended, not a copy of someone else's cached result (those never held a slot). */
const RAN = `status IN ('done', 'failed') AND attempts > 0`;

type SpreadRow = [number, number, number] | null;

interface ActivityRow {
  at: Date;
  queued: number;
  running: number;
  oldest_queued_at: Date | null;
  arrivals: Array<number | string>;
  completions: Array<number | string>;
  failures: Array<number | string>;
  sample_tasks: number;
  sample_from: Date | null;
  sample_to: Date | null;
  wait_p: SpreadRow;
  wait_mean: number | null;
  run_p: SpreadRow;
  run_mean: number | null;
}

function spread(p: SpreadRow, mean: number | null): DurationSpread | null {
  if (!p || mean === null) return null;
  const [p50, p90, p99] = p.map(Number) as [number, number, number];
  return { p50, p90, p99, mean: Number(mean) };
}

/** The one statement, with its parameters: exported so that a test can EXPLAIN it. */
export function serviceActivityQuery(service: string, options: ActivityWindows): { text: string; params: unknown[] } {
  const { windows } = options;
  if (windows.length === 0 || windows.some((w) => !(w > 0 && w <= MAX_ACTIVITY_WINDOW_SECONDS))) {
    throw new RangeError(`activity windows must be 1 to ${MAX_ACTIVITY_WINDOW_SECONDS} seconds, got ${windows.join(', ')}`);
  }
  const longest = Math.max(...windows);
  // $1 service, $2 longest window (s), $3 sample size, $4 sample horizon (s), $5.. each window.
  const counted = (column: string, also = '') => windows.map((_, i) => `count(*) FILTER (WHERE ${column} >= now() - make_interval(secs => $${i + 5}::float8)${also})`).join(', ');
  const text = `WITH arrived AS (
       SELECT created_at FROM task
        WHERE service = $1 AND status IN ('queued', 'running')
          AND id >= ((floor(extract(epoch FROM now()) * 1000)::bigint - ($2::float8 * 1000)::bigint - ${CLOCK_SLACK_MS}) << 22)
          AND created_at >= now() - make_interval(secs => $2::float8)
       UNION ALL
       SELECT created_at FROM task
        WHERE service = $1 AND completed_at >= now() - make_interval(secs => $2::float8)
          AND created_at >= now() - make_interval(secs => $2::float8)
          AND NOT (status = 'done' AND attempts = 0)
     ),
     ended AS (
       SELECT completed_at, status FROM task
        WHERE service = $1 AND completed_at >= now() - make_interval(secs => $2::float8) AND ${RAN}
     ),
     sample AS (
       SELECT extract(epoch FROM started_at - created_at)::float8 AS wait,
              extract(epoch FROM completed_at - started_at)::float8 AS run, completed_at
         FROM task
        WHERE service = $1 AND completed_at >= now() - make_interval(secs => $4::float8) AND ${RAN}
        ORDER BY completed_at DESC LIMIT $3
     )
     SELECT now() AS at, q.*,
       (SELECT count(*)::int FROM task WHERE service = $1 AND status = 'running') AS running,
       (SELECT ARRAY[${counted('created_at')}] FROM arrived) AS arrivals,
       (SELECT ARRAY[${counted('completed_at')}] FROM ended) AS completions,
       (SELECT ARRAY[${counted('completed_at', ` AND status = 'failed'`)}] FROM ended) AS failures,
       s.*
     -- The oldest by min(), not ORDER BY id LIMIT 1: that invites the planner to walk every
     -- service's queue in id order (task_unfinished) hoping to meet this one's early.
     FROM (SELECT count(*)::int AS queued, min(created_at) AS oldest_queued_at FROM task WHERE service = $1 AND status = 'queued') q,
          (SELECT count(*)::int AS sample_tasks, min(completed_at) AS sample_from, max(completed_at) AS sample_to,
             percentile_cont(ARRAY[0.5, 0.9, 0.99]::float8[]) WITHIN GROUP (ORDER BY wait) AS wait_p, avg(wait) AS wait_mean,
             percentile_cont(ARRAY[0.5, 0.9, 0.99]::float8[]) WITHIN GROUP (ORDER BY run) AS run_p, avg(run) AS run_mean
           FROM sample) s`;
  return { text, params: [service, longest, options.sampleSize, options.sampleSeconds, ...windows] };
}

export function sqlServiceActivity(db: SqlQueryable): ServiceActivity {
  return {
    async serviceActivity(service: string, options: ActivityWindows): Promise<ServiceActivityFigures> {
      const { text, params } = serviceActivityQuery(service, options);
      const row = (await db.query<ActivityRow>(text, params)).rows[0]!;
      return {
        at: new Date(row.at),
        queued: Number(row.queued),
        running: Number(row.running),
        oldestQueuedAt: row.oldest_queued_at && new Date(row.oldest_queued_at),
        arrivals: row.arrivals.map(Number),
        completions: row.completions.map(Number),
        failures: row.failures.map(Number),
        sample: {
          tasks: Number(row.sample_tasks),
          from: row.sample_from && new Date(row.sample_from),
          to: row.sample_to && new Date(row.sample_to),
          wait: spread(row.wait_p, row.wait_mean),
          run: spread(row.run_p, row.run_mean),
        },
      };
    },
  };
}
