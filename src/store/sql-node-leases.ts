/** Flake node ids leased to servers started without --node-id (node_lease holds all 1024). */
import type { SqlClient } from './sql-client.ts';
import type { NodeLeases } from './store.ts';

export function sqlNodeLeases(db: SqlClient): NodeLeases {
  return {
    async leaseNodeId(holder, ttlSeconds) {
      const row = (await db.query<{ node_id: number }>(
        `UPDATE node_lease SET holder = $1, expires_at = now() + make_interval(secs => $2)
         WHERE node_id = (SELECT node_id FROM node_lease WHERE expires_at < now() ORDER BY node_id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING node_id`,
        [holder, ttlSeconds],
      )).rows[0];
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
  };
}
