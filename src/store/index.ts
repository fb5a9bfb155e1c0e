export type { Store, TaskSubmission, TaskReads, TaskList, TaskChanges, WorkerReports, EventLog, Retention, Recovery, NodeLeases, ApiKeys, NewTask, StartedTask, CompletedTask, CompletionOutcome, StoredFile, UnfinishedTask, RunningTask, RequeueOutcome, StartOutcome, ProgressUpdate, CancelOutcome, DeleteOutcome, QueuePosition, CachedSubmission, NewApiKey, ApiKeyInfo } from './store.ts';
export type { SqlClient } from './sql-client.ts';
export { createSqlStore } from './sql-store.ts';
export { taskListStatement } from './sql-task-list.ts';
export { DatabaseError, errorNature, isInvalidValue, isTransientError } from './sql-errors.ts';
export type { ErrorNature, Refusal } from './sql-errors.ts';
export { loadMigrations, migrate, pendingMigrations } from './migrate.ts';
export { connectPostgres, ensureDatabase } from './postgres/index.ts';
export { openEmbedded } from './embedded/index.ts';
