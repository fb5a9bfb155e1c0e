export type { Store, TaskSubmission, TaskReads, TaskChanges, WorkerReports, EventLog, Retention, Recovery, NodeLeases, ApiKeys, NewTask, StartedTask, CompletedTask, CompletionOutcome, StoredFile, UnfinishedTask, RunningTask, RequeueOutcome, StartOutcome, ProgressUpdate, CancelOutcome, DeleteOutcome, QueuePosition, CachedSubmission, NewApiKey, ApiKeyInfo, Callbacks, CallbackAttempt, CallbackAttemptEnd, ClaimedCallback, TaskCallback, ServiceActivity, ActivityWindows, ServiceActivityFigures, DurationSpread, SchemaHealth, SchemaStatus } from './store.ts';
export { INTERRUPTED_ATTEMPT } from './sql-callbacks.ts';
export type { SqlClient } from './sql-client.ts';
export { createSqlStore } from './sql-store.ts';
export { DatabaseError, errorNature, isInvalidValue, isTransientError } from './sql-errors.ts';
export type { ErrorNature, Refusal } from './sql-errors.ts';
export { loadMigrations, migrate, pendingMigrations } from './migrate.ts';
export { connectPostgres, ensureDatabase } from './postgres/index.ts';
export { openEmbedded } from './embedded/index.ts';
