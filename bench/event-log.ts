/**
 * `npm run bench:events`: the event log's three candidate designs, measured on PostgreSQL with
 * the same writers, so that docs/events.md can say why Errand numbers events as it does.
 *   pending:   the design before issue 13: writers add events to a pending table; after each
 *              commit a sequencer transaction (event_log row lock) moves them into the log, numbered
 *   commit:    each writing transaction numbers its own events as its last statement, holding
 *              event_log's row lock until it commits (Errand's choice)
 *   xid:       no lock: events carry the writing transaction's id (pg_current_xact_id) and a
 *              sequence position; readers read only below the oldest running transaction
 * Each writer transaction updates one task row and writes `events` events, as a recorder batch
 * or a single submission would; `writers` connections write at once for `seconds`.
 * Options: --writers W (16) --events E (1) --seconds S (5); --rounds R (3, alternating designs)
 */
import { parseArgs } from 'node:util';
import { userInfo } from 'node:os';
import pg from 'pg';

const { values } = parseArgs({ options: {
  writers: { type: 'string', default: '16' }, events: { type: 'string', default: '1' },
  seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' },
} });
const WRITERS = Number(values.writers);
const EVENTS = Number(values.events);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const DB = 'errand_bench_events';
const user = process.env.PGUSER ?? userInfo().username;

type Design = 'pending' | 'commit' | 'xid';

const SCHEMA = `
  CREATE TABLE task (id bigint PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
  INSERT INTO task SELECT g FROM generate_series(1, 10000) g;
  CREATE TABLE event_log (singleton boolean PRIMARY KEY DEFAULT true, last_id bigint NOT NULL DEFAULT 0);
  INSERT INTO event_log DEFAULT VALUES;
  CREATE TABLE pending (pk bigserial PRIMARY KEY, task_id bigint NOT NULL, type text NOT NULL, data jsonb, at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE log (id bigint PRIMARY KEY, task_id bigint NOT NULL, type text NOT NULL, data jsonb, at timestamptz NOT NULL);
  CREATE TABLE xlog (xid xid8 NOT NULL DEFAULT pg_current_xact_id(), pos bigserial, task_id bigint NOT NULL, type text NOT NULL, data jsonb, at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (xid, pos));
`;

async function reset(): Promise<void> {
  const admin = new pg.Client({ connectionString: `postgres://${user}@127.0.0.1:5432/postgres` });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DB}`);
  await admin.end();
  const db = new pg.Client({ connectionString: `postgres://${user}@127.0.0.1:5432/${DB}` });
  await db.connect();
  await db.query(SCHEMA);
  await db.end();
}

/** One writer's transaction for `design`; resolves when committed (and, for pending, numbered). */
async function write(client: pg.Client, design: Design, task: number): Promise<void> {
  const ids = Array.from({ length: EVENTS }, () => task);
  await client.query('BEGIN');
  await client.query('UPDATE task SET n = n + 1 WHERE id = $1', [task]);
  if (design === 'pending') {
    await client.query(`INSERT INTO pending (task_id, type, data) SELECT t, 'progress', '{}' FROM unnest($1::bigint[]) t`, [ids]);
    await client.query('COMMIT');
    // The sequencer pass the writer ran after its commit.
    await client.query('BEGIN');
    const last = Number((await client.query('SELECT last_id FROM event_log FOR UPDATE')).rows[0].last_id);
    const moved = await client.query(
      `WITH taken AS (DELETE FROM pending WHERE pk IN (SELECT pk FROM pending ORDER BY pk LIMIT 10000) RETURNING pk, task_id, type, data, at)
       INSERT INTO log SELECT $1::bigint + row_number() OVER (ORDER BY pk), task_id, type, data, at FROM taken`, [last]);
    if (moved.rowCount) await client.query('UPDATE event_log SET last_id = $1', [last + moved.rowCount]);
    await client.query('COMMIT');
  } else if (design === 'commit') {
    await client.query(
      `WITH taken AS (UPDATE event_log SET last_id = last_id + $2 RETURNING last_id - $2 AS before)
       INSERT INTO log SELECT taken.before + u.n, u.t, 'progress', '{}', now() FROM taken, unnest($1::bigint[]) WITH ORDINALITY AS u(t, n)`, [ids, EVENTS]);
    await client.query('COMMIT');
  } else {
    await client.query(`INSERT INTO xlog (task_id, type, data) SELECT t, 'progress', '{}' FROM unnest($1::bigint[]) t`, [ids]);
    await client.query('COMMIT');
  }
}

async function measure(design: Design): Promise<{ eventsPerSecond: number; readable: number }> {
  await reset();
  const clients = await Promise.all(Array.from({ length: WRITERS }, async () => {
    const c = new pg.Client({ connectionString: `postgres://${user}@127.0.0.1:5432/${DB}` });
    await c.connect();
    return c;
  }));
  const end = performance.now() + SECONDS * 1000;
  let transactions = 0;
  await Promise.all(clients.map(async (c, w) => {
    for (let i = 0; performance.now() < end; i++) {
      await write(c, design, 1 + ((w * 613 + i) % 10_000));
      transactions++;
    }
  }));
  const elapsed = SECONDS + (performance.now() - end) / 1000;
  // What a reader may deliver: numbered events, or for xid those below the oldest running transaction.
  const reader = clients[0]!;
  const readable = design === 'xid'
    ? Number((await reader.query('SELECT count(*) AS n FROM xlog WHERE xid < pg_snapshot_xmin(pg_current_snapshot())')).rows[0].n)
    : Number((await reader.query('SELECT count(*) AS n FROM log')).rows[0].n);
  await Promise.all(clients.map((c) => c.end()));
  return { eventsPerSecond: (transactions * EVENTS) / elapsed, readable };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  console.log(`event log designs: ${WRITERS} writers, ${EVENTS} event(s) per transaction, ${SECONDS} s each, ${ROUNDS} rounds`);
  const designs: Design[] = ['pending', 'commit', 'xid'];
  const rates = new Map<Design, number[]>(designs.map((d) => [d, []]));
  for (let r = 1; r <= ROUNDS; r++) {
    for (const design of designs) {
      const { eventsPerSecond, readable } = await measure(design);
      rates.get(design)!.push(eventsPerSecond);
      console.log(`round ${r} ${design.padEnd(8)} ${eventsPerSecond.toFixed(0).padStart(7)} events/s (${readable} readable at the end)`);
    }
  }
  for (const design of designs) {
    const xs = rates.get(design)!;
    console.log(`${design.padEnd(8)} median ${median(xs).toFixed(0)} events/s (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`);
  }
}

await main();
