/**
 * Things only one process may hold at a time: a server's node id (a lost lease is reported, so the
 * process stops before it could mint a duplicate task id) and the janitor's removal sweep
 * (one at a time across recorders, by an advisory lock).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectPostgres } from '../../src/store/index.ts';
import { FlakeIdGenerator } from '../../src/core/index.ts';
import { leaseNodeId } from '../../src/server/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, realBackend, testLogger } from '../support/backends.ts';
import { eventually } from '../support/wait.ts';

const ids = new FlakeIdGenerator(6);

await describeEachBackend('node id lease', (kind) => {
  let backend: Backend;
  before(async () => { backend = await kind.create(); });
  after(async () => { await backend.close(); });

  test('a lease another process took over is reported as lost; one still held is not', async () => {
    let lost = 0;
    // Renewed every 100 ms.
    const lease = await leaseNodeId(backend.store, testLogger, () => { lost++; }, 0.3);
    try {
      const expiry = async () => (await backend.db.query<{ at: string }>('SELECT expires_at::text AS at FROM node_lease WHERE node_id = $1', [lease.nodeId])).rows[0]!.at;
      const leased = await expiry();
      await eventually(async () => (await expiry()) !== leased, 'the lease to be renewed');
      assert.equal(lost, 0, 'renewals of a lease still held');
      await backend.db.query(`UPDATE node_lease SET holder = 'another process' WHERE node_id = $1`, [lease.nodeId]);
      await eventually(() => lost > 0, 'the lost lease to be reported');
    } finally {
      await lease.release();
    }
    // Its release does not free the id the other process now holds.
    const holder = await backend.db.query<{ holder: string }>('SELECT holder FROM node_lease WHERE node_id = $1', [lease.nodeId]);
    assert.equal(holder.rows[0]!.holder, 'another process');
  });
});

await describeEachBackend('janitor lock', () => {
  let backend: Backend;
  before(async () => { backend = await realBackend.create(); });
  after(async () => { await backend.close(); });

  test('while another janitor sweeps (holds the lock), a sweep removes nothing; after, it removes what is due', async () => {
    const task = { id: ids.next(), service: 'svc', input: '{}', owner: null, clientName: null, ttl: 'PT0S' };
    await backend.store.insertTask(task);
    await backend.store.completeTasks([{ id: task.id, status: 'done', index: {}, files: [], error: null }]);
    const other = await connectPostgres({ url: backend.urls!.database, poolSize: 1 });
    try {
      await other.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(7415021002)');
        assert.equal(await backend.store.deleteExpired(100), 0);
        assert.equal((await backend.store.getTask(task.id))?.status, 'done');
      });
      assert.equal(await backend.store.deleteExpired(100), 1);
      assert.equal(await backend.store.getTask(task.id), undefined);
    } finally {
      await other.close();
    }
  });
}, [realBackend]);
