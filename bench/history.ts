/**
 * `--history N`: a bench database that already holds N finished tasks with their events, as a
 * deployment has after months of work, so that the runs show whether throughput holds as history
 * grows (issue 13, item 4). Filling 10 million takes long, so the database is kept: between the
 * runs of one invocation, and across invocations while its schema, the fill and N are the same
 * and it is young enough that the janitor would not start trimming it mid-run (see REUSE_DAYS).
 */
import { createHash } from 'node:crypto';
import { loadMigrations } from '../src/store/migrate.ts';
import { EVENTS_PER_TASK, fillHistory, fillSqlText } from './history-fill.ts';
import type { Query, Statement } from './history-fill.ts';
import { databaseUrlOf, dropDatabase, migrateWithKey, sqlClient } from './errand.ts';

/** The history ends a little before the fill and spans this long: inside the recorders' default event retention (P7D). */
const SPAN_HOURS = 48;
/** A kept history is used again for this long after its fill; its oldest events are then SPAN_HOURS + 4 days old, under 7 days. */
const REUSE_DAYS = 4;

export interface History {
  apiKey: string;
  tasks: number;
  /** Seconds the fill took (inserts), and settling after it (VACUUM ANALYZE, CHECKPOINT): as measured when it was filled. */
  fillSeconds: number;
  settleSeconds: number;
  filledAt: Date;
  reused: boolean;
}

/** When the history's tasks were created (to the second: the fill's start is not kept, its end and durations are). */
export function historySpan(history: History): { start: Date; end: Date } {
  const end = history.filledAt.getTime() - (history.fillSeconds + history.settleSeconds) * 1000 - 10 * 60_000;
  return { start: new Date(end - SPAN_HOURS * 3600_000), end: new Date(end) };
}

/** What a kept database must match to be used again: every migration's text, the fill's SQL, and N. */
async function fingerprint(tasks: number): Promise<string> {
  const hash = createHash('sha256');
  for (const m of await loadMigrations()) hash.update(m.name).update(m.sql);
  hash.update(fillSqlText(tasks)).update(String(tasks));
  return hash.digest('hex');
}

interface Marker { api_key: string; tasks: string; fill_seconds: number; settle_seconds: number; filled_at: Date; fingerprint: string }

async function readMarker(name: string): Promise<Marker | undefined> {
  const db = sqlClient(name);
  try {
    await db.connect();
    return (await db.query<Marker>(`SELECT * FROM bench_history WHERE filled_at > now() - make_interval(days => $1)`, [REUSE_DAYS])).rows[0];
  } catch {
    return undefined; // no such database, or no marker: fill
  } finally {
    await db.end().catch(() => undefined);
  }
}

/** The history database `name`, kept from an earlier invocation when it matches, else made and filled now. */
export async function prepareHistory(name: string, tasks: number, options: { batch: number; refill: boolean; log: (line: string) => void }): Promise<History> {
  const print = await fingerprint(tasks);
  const kept = options.refill ? undefined : await readMarker(name);
  if (kept && kept.fingerprint === print && Number(kept.tasks) === tasks) {
    options.log(`history: kept database ${name} with ${tasks} finished tasks, filled ${kept.filled_at.toISOString()} in ${kept.fill_seconds.toFixed(0)} s (+ ${kept.settle_seconds.toFixed(0)} s VACUUM ANALYZE and CHECKPOINT); --refill-history fills it again`);
    return { apiKey: kept.api_key, tasks, fillSeconds: kept.fill_seconds, settleSeconds: kept.settle_seconds, filledAt: kept.filled_at, reused: true };
  }
  await dropDatabase(name);
  const apiKey = await migrateWithKey(databaseUrlOf(name));
  const db = sqlClient(name);
  await db.connect();
  const query: Query = (text, values) => db.query(text, values);
  const inTransaction = async (statements: Statement[]) => {
    await db.query('BEGIN');
    for (const statement of statements) await db.query(statement.text, statement.values);
    await db.query('COMMIT');
  };
  try {
    options.log(`history: filling ${name} with ${tasks} finished tasks and ${tasks * EVENTS_PER_TASK} events, ${options.batch} tasks per transaction`);
    const started = performance.now();
    const spanMs = SPAN_HOURS * 3600_000;
    let reported = started;
    const progress = (written: number) => {
      if (performance.now() - reported < 30_000) return;
      reported = performance.now();
      options.log(`history: ${written} of ${tasks} tasks after ${((reported - started) / 1000).toFixed(0)} s`);
    };
    await fillHistory({ query, inTransaction }, { tasks, batch: options.batch, spanStartMs: Date.now() - 10 * 60_000 - spanMs, spanMs, progress });
    const filled = performance.now();
    // A database that has run for months has been vacuumed and analysed; the first run should not pay for the fill's checkpoint.
    await db.query('VACUUM (ANALYZE) task, task_event');
    await db.query('CHECKPOINT').catch(() => undefined); // needs superuser (or pg_checkpoint); the runs then share the cost
    const fillSeconds = (filled - started) / 1000;
    const settleSeconds = (performance.now() - filled) / 1000;
    options.log(`history: filled ${tasks} tasks in ${fillSeconds.toFixed(1)} s (${(tasks / fillSeconds).toFixed(0)} tasks/s), VACUUM ANALYZE and CHECKPOINT ${settleSeconds.toFixed(1)} s`);
    await db.query(`CREATE TABLE bench_history (api_key text, tasks bigint, fill_seconds float8, settle_seconds float8, filled_at timestamptz, fingerprint text)`);
    await db.query('INSERT INTO bench_history VALUES ($1, $2, $3, $4, now(), $5)', [apiKey, tasks, fillSeconds, settleSeconds, print]);
    return { apiKey, tasks, fillSeconds, settleSeconds, filledAt: new Date(), reused: false };
  } catch (error) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await db.end();
  }
}
