/**
 * `--history N`: a bench database that already holds N finished tasks with their events, as a
 * deployment has after months of work, so that the runs show whether throughput holds as history
 * grows (issue 13, item 4). Filling 10 million takes long, so the database is kept: between the
 * runs of one invocation, and across invocations while its schema, the fill and N are the same
 * and it is young enough that the janitor would not start trimming it mid-run (see REUSE_DAYS).
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { loadMigrations } from '../src/store/migrate.ts';
import { databaseUrlOf, dropDatabase, migrateWithKey } from './errand.ts';

/** The history ends a little before the fill and spans this long: inside the recorders' default event retention (P7D). */
const SPAN_HOURS = 48;
/** A kept history is used again for this long after its fill; its oldest events are then SPAN_HOURS + 4 days old, under 7 days. */
const REUSE_DAYS = 4;
/** History ids use the highest node id, and past milliseconds: no live server's id can equal one. */
const HISTORY_NODE_ID = 1023;
/** The principal of the bench's key (`errand keys create bench`): history belongs to the same owner as the measured tasks, so the owner's indexes hold all of it. */
const PRINCIPAL = 'key:bench';
const SERVICE = 'noop';

export interface History {
  apiKey: string;
  tasks: number;
  /** Seconds the fill took (inserts), and settling after it (VACUUM ANALYZE, CHECKPOINT): as measured when it was filled. */
  fillSeconds: number;
  settleSeconds: number;
  filledAt: Date;
  reused: boolean;
}

/**
 * The fill, one batch of task numbers [first, last] (1-based) out of `total`: the only place that
 * knows how a finished task is stored. Task n was created at a millisecond spread evenly over the
 * span, started 2 ms later, done 2 ms after that with result {} and three events (queued, started,
 * done, as the roles write them). Event ids follow task order from `firstEventId`; the sequencer's
 * counter is moved past them afterwards (finishFill). Adapt these when the schema changes.
 */
function fillBatch(json: { input: string; result: string; event: string }) {
  const tasks = `SELECT n, ((ms << 22) | (${HISTORY_NODE_ID}::bigint << 12) | (n % 4096)) AS id, to_timestamp(ms / 1000.0) AS at
    FROM (SELECT n, $4::bigint + (n::numeric * $5::bigint / $3::bigint)::bigint AS ms FROM generate_series($1::bigint, $2::bigint) AS n) s`;
  return [
    `INSERT INTO task (id, service, status, input, principal, created_at, started_at, completed_at, ttl, expires_at, attempts, worker, result)
     SELECT id, '${SERVICE}', 'done', '{"n":1}'::${json.input}, '${PRINCIPAL}', at, at + interval '2 ms', at + interval '4 ms',
            interval '30 days', at + interval '4 ms' + interval '30 days', 1, 'bench-history', '{}'::${json.result}
     FROM (${tasks}) h ORDER BY id`,
    `INSERT INTO task_event (id, task_id, service, type, data, at, principal)
     SELECT $6::bigint + (h.n - 1) * 3 + e.k, h.id, '${SERVICE}', e.type, e.data::${json.event}, h.at + e.after, '${PRINCIPAL}'
     FROM (${tasks}) h
       CROSS JOIN (VALUES (1, 'queued', '{}', interval '0'),
                          (2, 'started', '{"worker":"bench-history","attempt":1}', interval '2 ms'),
                          (3, 'done', '{}', interval '4 ms')) AS e(k, type, data, after)
     ORDER BY 1`,
  ];
}
const EVENTS_PER_TASK = 3;
const finishFill = (lastEventId: number) => ({ text: 'UPDATE event_log SET last_id = greatest(last_id, $1)', values: [lastEventId] });
const firstEventId = async (db: pg.Client) => Number((await db.query<{ id: string }>('SELECT last_id::text AS id FROM event_log')).rows[0]!.id);

/** The JSON columns' types as the schema has them (jsonb today; json or text would do as well). */
async function jsonTypes(db: pg.Client): Promise<{ input: string; result: string; event: string }> {
  const type = async (table: string, column: string) => (await db.query<{ t: string }>(
    `SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2`, [table, column])).rows[0]!.t;
  return { input: await type('task', 'input'), result: await type('task', 'result'), event: await type('task_event', 'data') };
}

/** What a kept database must match to be used again: every migration's text, the fill's SQL, and N. */
async function fingerprint(tasks: number): Promise<string> {
  const hash = createHash('sha256');
  for (const m of await loadMigrations()) hash.update(m.name).update(m.sql);
  hash.update(fillBatch({ input: 'j', result: 'j', event: 'j' }).join(';')).update(String(tasks));
  return hash.digest('hex');
}

interface Marker { api_key: string; tasks: string; fill_seconds: number; settle_seconds: number; filled_at: Date; fingerprint: string }

async function readMarker(name: string): Promise<Marker | undefined> {
  const db = new pg.Client({ connectionString: databaseUrlOf(name) });
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
  const print = fingerprint(tasks);
  const kept = options.refill ? undefined : await readMarker(name);
  if (kept && kept.fingerprint === (await print) && Number(kept.tasks) === tasks) {
    options.log(`history: kept database ${name} with ${tasks} finished tasks, filled ${kept.filled_at.toISOString()} in ${kept.fill_seconds.toFixed(0)} s (+ ${kept.settle_seconds.toFixed(0)} s VACUUM ANALYZE and CHECKPOINT); --refill-history fills it again`);
    return { apiKey: kept.api_key, tasks, fillSeconds: kept.fill_seconds, settleSeconds: kept.settle_seconds, filledAt: kept.filled_at, reused: true };
  }
  await dropDatabase(name);
  const apiKey = await migrateWithKey(databaseUrlOf(name));
  const db = new pg.Client({ connectionString: databaseUrlOf(name) });
  await db.connect();
  try {
    options.log(`history: filling ${name} with ${tasks} finished tasks and ${tasks * EVENTS_PER_TASK} events, ${options.batch} tasks per transaction`);
    const started = performance.now();
    const statements = fillBatch(await jsonTypes(db));
    const eventBase = await firstEventId(db);
    const spanMs = SPAN_HOURS * 3600_000;
    const spanStart = Date.now() - 10 * 60_000 - spanMs;
    let reported = started;
    for (let first = 1; first <= tasks; first += options.batch) {
      const last = Math.min(tasks, first + options.batch - 1);
      await db.query('BEGIN');
      for (const text of statements) await db.query(text, [first, last, tasks, spanStart, spanMs, eventBase]);
      await db.query('COMMIT');
      if (performance.now() - reported > 30_000) {
        reported = performance.now();
        options.log(`history: ${last} of ${tasks} tasks after ${((reported - started) / 1000).toFixed(0)} s`);
      }
    }
    const { text, values } = finishFill(eventBase + tasks * EVENTS_PER_TASK);
    await db.query(text, values);
    const filled = performance.now();
    // A database that has run for months has been vacuumed and analysed; the first run should not pay for the fill's checkpoint.
    await db.query('VACUUM (ANALYZE) task, task_event');
    await db.query('CHECKPOINT').catch(() => undefined); // needs superuser (or pg_checkpoint); the runs then share the cost
    const fillSeconds = (filled - started) / 1000;
    const settleSeconds = (performance.now() - filled) / 1000;
    options.log(`history: filled ${tasks} tasks in ${fillSeconds.toFixed(1)} s (${(tasks / fillSeconds).toFixed(0)} tasks/s), VACUUM ANALYZE and CHECKPOINT ${settleSeconds.toFixed(1)} s`);
    await db.query(`CREATE TABLE bench_history (api_key text, tasks bigint, fill_seconds float8, settle_seconds float8, filled_at timestamptz, fingerprint text)`);
    await db.query('INSERT INTO bench_history VALUES ($1, $2, $3, $4, now(), $5)', [apiKey, tasks, fillSeconds, settleSeconds, await print]);
    return { apiKey, tasks, fillSeconds, settleSeconds, filledAt: new Date(), reused: false };
  } catch (error) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await db.end();
  }
}
