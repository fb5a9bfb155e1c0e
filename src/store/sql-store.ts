/**
 * The Store on SQL: one implementation, run by `pg` in production and by PGlite embedded. Each
 * concern of store.ts has its module (sql-submission, sql-reads, sql-task-list, sql-task-changes,
 * sql-worker-reports with sql-results, sql-retention, sql-recovery, sql-node-leases, sql-events,
 * sql-api-keys, sql-callbacks, sql-service-activity, sql-health); this file puts them together over one client.
 */
import type { SqlClient } from './sql-client.ts';
import { createApiKey, listApiKeys, revokeApiKey, useApiKey } from './sql-api-keys.ts';
import { lastEventId, lastEvents, oldestEventId, readEvents, trimEvents } from './sql-events.ts';
import { sqlSchemaHealth } from './sql-health.ts';
import { sqlNodeLeases } from './sql-node-leases.ts';
import { sqlTaskReads } from './sql-reads.ts';
import { sqlRecovery } from './sql-recovery.ts';
import { sqlRetention } from './sql-retention.ts';
import { sqlServiceActivity } from './sql-service-activity.ts';
import { sqlTaskSubmission } from './sql-submission.ts';
import { sqlTaskChanges } from './sql-task-changes.ts';
import { sqlTaskList } from './sql-task-list.ts';
import { sqlWorkerReports } from './sql-worker-reports.ts';
import { sqlCallbacks } from './sql-callbacks.ts';
import type { Store } from './store.ts';

export { DEFAULT_MAX_ATTEMPTS } from './sql-worker-reports.ts';
export { UNRECORDABLE_RESULT } from './sql-results.ts';

export function createSqlStore(db: SqlClient, options: { maxBatch?: number } = {}): Store {
  const submission = sqlTaskSubmission(db, { maxBatch: options.maxBatch ?? 500 });

  return {
    target: db.target,

    insertTask: submission.insertTask,
    submitCached: submission.submitCached,
    ...sqlTaskReads(db),
    ...sqlTaskList(db),
    ...sqlTaskChanges(db),
    ...sqlWorkerReports(db),
    ...sqlRetention(db),
    ...sqlRecovery(db),
    ...sqlNodeLeases(db),
    ...sqlCallbacks(db),
    ...sqlServiceActivity(db),
    ...sqlSchemaHealth(db),

    readEvents: (filter, after, upTo, limit) => readEvents(db, filter, after, upTo, limit),
    lastEvents: (filter, upTo, count) => lastEvents(db, filter, upTo, count),
    lastEventId: () => lastEventId(db),
    oldestEventId: () => oldestEventId(db),
    trimEvents: (retentionSeconds, limit) => trimEvents(db, retentionSeconds, limit),

    // API keys (issue 12)
    createApiKey: (key) => createApiKey(db, key),
    listApiKeys: () => listApiKeys(db),
    revokeApiKey: (name) => revokeApiKey(db, name),
    useApiKey: (secretSha256) => useApiKey(db, secretSha256),

    async close() {
      await submission.drain();
      await db.close();
    },
  };
}
