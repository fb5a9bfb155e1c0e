/**
 * The janitor's sweeps: queued tasks past their deadline end as expired, tasks past their ttl and
 * cache entries past their lifetime go. (Old events go in sql-events.ts.)
 */
import type { SqlClient } from './sql-client.ts';
import { appendEvents } from './sql-events.ts';
import { trimCache } from './sql-result-cache.ts';
import { endTasks, HEX_ID } from './sql-task-rows.ts';
import type { Retention } from './store.ts';

/** Advisory lock key ('errand.janitor'): one janitor sweeps at a time. */
const JANITOR_LOCK = 7_415_021_002;

export function sqlRetention(db: SqlClient): Omit<Retention, 'trimEvents'> {
  return {
    expireQueued: (limit) => db.transaction(async (tx) => {
      const due = await tx.query<{ id: string; service: string; deadline: Date }>(
        `SELECT ${HEX_ID} AS id, service, deadline FROM task WHERE status = 'queued' AND deadline <= now()
         ORDER BY deadline LIMIT $1 FOR UPDATE SKIP LOCKED`, [limit],
      );
      if (due.rows.length === 0) return [];
      const ends = due.rows.map((r) => ({
        id: r.id, status: 'expired' as const,
        error: { code: 'expired', message: `the task was still queued at its deadline, ${new Date(r.deadline).toISOString()}` },
      }));
      await endTasks(tx, ends);
      return appendEvents(tx, ends.map((e, i) => ({ taskId: e.id, service: due.rows[i]!.service, type: 'expired', data: { error: e.error } })));
    }),

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

    trimCache: (limit) => trimCache(db, limit),
  };
}
