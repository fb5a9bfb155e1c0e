/**
 * What every part needs from persistence, by concern. One implementation (sql-store.ts, which
 * composes the sql-*.ts modules) runs on both drivers.
 */
import type { CacheClaim, KeyExpiry, EventFilter, ProgressReport, ResultFile, TaskError, TaskEvent, TaskInfo, TaskListQuery, TaskPage, TaskStatus } from '../core/index.ts';

export interface NewTask {
  id: string;
  service: string;
  /** The input as JSON text, stored as submitted (jsonb). */
  input: string;
  /** The principal that submits it (issue 12); null on a server that records none. */
  owner: string | null;
  /** What `x-client-name` said: a label, never an identity. */
  clientName: string | null;
  /** ISO 8601 duration, already validated. */
  ttl: string | null;
  /** Still queued at this time, the task expires instead of running. */
  deadline?: Date | null;
}

/** A submission to a service that caches: queued anew, or answered by a task that has or will have the result. */
export type CachedSubmission =
  | { kind: 'queued'; event: TaskEvent }
  /**
   * A finished result within its lifetime: the caller's own task that holds it. When that task is
   * a new copy (the result was another principal's), `events` are its own, to publish.
   */
  | { kind: 'hit'; task: TaskInfo; events?: TaskEvent[] }
  /** A task still queued or running with the same key. */
  | { kind: 'joined'; task: TaskInfo };

export interface StartedTask {
  id: string;
  worker: string | null;
  /** The script the worker runs, when it reports one with the start (Errand's workers do). */
  script?: string | null;
  /** The worker's token for this attempt (Errand's workers send one). */
  runId?: string | null;
  /** The worker reports a run under way again, having been sent a copy of its task. */
  resumed?: boolean;
  /** When the run began by the worker's clock (its start report comes later); recorded between creation and now. */
  startedAt?: Date | null;
}

/** What a start report did: began an attempt, gave up on the task, or nothing (already ended, same attempt, no task). */
export type StartOutcome =
  | { kind: 'started'; attempt: number; events: TaskEvent[] }
  | { kind: 'gave-up'; events: TaskEvent[] }
  | { kind: 'already-started' }
  | { kind: 'ended'; status: TaskStatus }
  | { kind: 'unknown-task' };

export interface ProgressUpdate extends ProgressReport { id: string }

export type CancelOutcome =
  | { kind: 'canceled'; wasRunning: boolean; events: TaskEvent[] }
  | { kind: 'ended'; status: TaskStatus }
  | { kind: 'unknown-task' };

export interface DeleteOutcome { deleted: boolean; events: TaskEvent[] }

/** Where a queued task stands among its service's tasks. */
export interface QueuePosition { queuedAhead: number; meanDurationSeconds: number | undefined }

export interface CompletedTask {
  id: string;
  status: 'done' | 'failed';
  index: unknown;
  /** The index as the worker wrote it, when its bytes came through: stored as is (key order, number spelling). */
  indexText?: string;
  files: ResultFile[];
  error: TaskError | null;
  /** What the script printed (bounded), when the worker reported it. */
  console?: string | null;
  /** The attempt and worker that produced the result (Errand's workers say), for a result that overtakes its start report. */
  runId?: string | null;
  worker?: string | null;
  /** The attempt's last progress report, when the result names it. */
  lastProgress?: { seq: number; value: unknown } | null;
  /** False when the script said its result must not be served from the cache. */
  cacheable?: boolean;
  /** The service version that produced the result (Errand's workers say); a cache entry for another version is dropped. */
  version?: string | null;
  /** The script the run used, when the result carries its start (no start report was sent). */
  script?: string | null;
  /** True when the result carries its run's start (no start report was sent): on a task running under another run, it is a new attempt. */
  carriesStart?: boolean;
  /** That start's time by the worker's clock, when it carries one: recorded between creation and now. */
  startedAt?: Date | null;
}

/**
 * What recording a result did: it ended the task now, the task had already ended, or no such
 * task; or it could not be written at all: `transient` when the database was away (try again
 * later), otherwise never (the task could not even be failed: set the message aside).
 */
export type CompletionOutcome =
  | { kind: 'recorded'; status: TaskStatus; events: TaskEvent[] }
  | { kind: 'already-ended'; status: TaskStatus }
  | { kind: 'unknown-task' }
  | { kind: 'not-recorded'; transient: boolean; error: Error };

export interface UnfinishedTask { id: string; service: string; input: string }

/** A task an Errand worker runs now, as the janitor checks it: the attempt is the run id. */
export interface RunningTask { id: string; service: string; worker: string | null; runId: string }

/** What `requeueLost` did: queued the task again, failed it (no attempts left), or nothing (it moved on). */
export type RequeueOutcome =
  | { kind: 'requeued'; events: TaskEvent[] }
  | { kind: 'gave-up'; events: TaskEvent[] }
  | { kind: 'moved-on' };

export interface StoredFile { contentType: string; content: Buffer }

/** A key to store (issue 12): its name, scopes as written (`submit:echo`), the SHA-256 of its text. */
export interface NewApiKey {
  name: string;
  scopes: string[];
  /** 64 lower-case hex digits (hashApiKey); the key itself is never stored. */
  secretSha256: string;
  /** Null: the key does not expire. A duration is added to the creation time by the database. */
  expires: KeyExpiry | null;
}

/** A stored key as the CLI lists it and a server checks it: never its text or hash. */
export interface ApiKeyInfo {
  name: string;
  scopes: string[];
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  /** When a server last looked the key up (at most once per its cache period), or null. */
  lastUsedAt: Date | null;
}

/**
 * The store by concern: each role depends on the parts it uses (the server submits, reads and
 * changes tasks; the recorder writes what workers report; the janitor sweeps and recovers).
 */

/** Creating tasks: the server's POST /task. */
export interface TaskSubmission {
  /** Persists a queued task and its `queued` event. Concurrent calls are group-committed. */
  insertTask(task: NewTask): Promise<TaskEvent>;
  /**
   * Queues a task of a caching service unless its key's entry can answer: a task with that key
   * still queued or running (and a deadline no earlier than this one's) is joined, a finished
   * result within its lifetime is a hit. Either way that task's ttl grows to cover this request's.
   * With `fresh`, a new task is queued and takes the entry over. The entry's task is handed out
   * only to its own owner: another principal (a shared entry) gets, on a hit, a new task done with
   * a copy of the result; for a task under way, a new task queued that does not take the entry over.
   */
  submitCached(task: NewTask, cache: CacheClaim): Promise<CachedSubmission>;
}

/**
 * Reads of tasks and their parts. With `owner`, a task of another owner is as absent as one that
 * does not exist (issue 12): one query decides both.
 */
export interface TaskReads {
  getTask(id: string): Promise<TaskInfo | undefined>;
  /** The tasks among `ids` that exist (and belong to `owner`, when given), in the order of `ids`. */
  getTasks(ids: string[], owner?: string): Promise<TaskInfo[]>;
  /** The task's input as JSON text. */
  getInput(id: string, owner?: string): Promise<string | undefined>;
  getScript(id: string, owner?: string): Promise<string | undefined>;
  /** What the task's script printed, when its worker reported it. */
  getConsole(id: string, owner?: string): Promise<string | undefined>;
  /** The result (or index) as JSON text, once the task has one. */
  getResult(id: string, owner?: string): Promise<string | undefined>;
  getFile(id: string, name: string, owner?: string): Promise<StoredFile | undefined>;
  /** Tasks queued ahead of this one and the service's recent mean run time. */
  queuePosition(task: { id: string; service: string }): Promise<QueuePosition>;
  /** Ids of tasks canceled or expired before they started, ended within the last `withinSeconds`. */
  stoppedBeforeStart(withinSeconds: number, limit: number): Promise<string[]>;
}

/** The task list (GET /tasks, issue 14). */
export interface TaskList {
  /**
   * A page of the tasks that pass `query`'s filters, newest first by (created_at, id), starting
   * after `query.after`; `next` is set when more tasks follow. Pages never overlap nor skip a
   * task, whatever is stored between them (core/task-list.ts).
   */
  listTasks(query: TaskListQuery): Promise<TaskPage>;
}

/** What a caller does to a task it may change. */
export interface TaskChanges {
  /** Ends a queued or running task as canceled; `by`, the principal that did it, goes into the event. */
  cancelTask(id: string, by?: string): Promise<CancelOutcome>;
  /** Removes a task and its files, leaving a `deleted` event (saying `by` whom, when given). */
  deleteTask(id: string, by?: string): Promise<DeleteOutcome>;
}

/** What workers report, as the recorder writes it: a run's script, start, progress and result. */
export interface WorkerReports {
  saveScript(id: string, script: string): Promise<void>;
  /**
   * Marks tasks running and counts the attempt (a redelivered task's attempt is `retried`); past
   * `maxAttempts` the task fails with `worker_lost` instead. Ended tasks are left alone.
   */
  markStarted(tasks: StartedTask[], maxAttempts?: number): Promise<StartOutcome[]>;
  /** Keeps the latest progress of running tasks, in each attempt's order; returns the events written. */
  recordProgress(updates: ProgressUpdate[], maxAttempts?: number): Promise<TaskEvent[]>;
  /** Records results; the first result of a task wins, later ones change nothing. */
  completeTasks(tasks: CompletedTask[]): Promise<CompletionOutcome[]>;
}

/** Reading the event log. */
export interface EventLog {
  /** Events after `after` (and up to `upTo`) passing `filter`, oldest first. */
  readEvents(filter: EventFilter, after: number, upTo: number | null, limit: number): Promise<TaskEvent[]>;
  /** The last `count` events up to `upTo` passing `filter`, oldest first. */
  lastEvents(filter: EventFilter, upTo: number, count: number): Promise<TaskEvent[]>;
  /** The id of the last event committed (0 when none). */
  lastEventId(): Promise<number>;
  /** The oldest event still kept, when there is one. */
  oldestEventId(): Promise<number | undefined>;
}

/** The janitor's sweeps: deadlines, ttls, cache lifetimes, event retention. */
export interface Retention {
  /** Ends up to `limit` queued tasks whose deadline has passed as expired. */
  expireQueued(limit: number): Promise<TaskEvent[]>;
  /** Removes up to `limit` tasks whose ttl has passed; returns how many went. */
  deleteExpired(limit: number): Promise<number>;
  /** Removes up to `limit` cache entries past their lifetime; the tasks stay. */
  trimCache(limit: number): Promise<number>;
  /** Removes up to `limit` events older than `retentionSeconds`. */
  trimEvents(retentionSeconds: number, limit: number): Promise<number>;
}

/** Tasks whose worker or broker was lost, found again (the janitor, and `errand dev` at start). */
export interface Recovery {
  /** Running tasks after `afterId` (by id) that Errand workers started (they have a run id). */
  listRunning(afterId: string | null, limit: number): Promise<RunningTask[]>;
  /**
   * The task's worker is lost: if it still runs that attempt, it is queued again (`send` puts
   * its message back on the queue, inside the transaction, so a failed send changes nothing) or,
   * with `maxAttempts` used up, fails with `worker_lost`.
   */
  requeueLost(task: RunningTask, maxAttempts: number, send: (task: UnfinishedTask) => Promise<void>): Promise<RequeueOutcome>;
  /**
   * Unfinished tasks after `afterId` (by id), for re-queueing after the embedded broker restarts:
   * queued ones, and running ones no Errand worker started (those the janitor queues again).
   */
  listUnfinished(afterId: string | null, limit: number): Promise<UnfinishedTask[]>;
}

/** Flake node ids for servers started without --node-id. */
export interface NodeLeases {
  /** Leases a free flake node id for `holder`; undefined when all 1024 are taken. */
  leaseNodeId(holder: string, ttlSeconds: number): Promise<number | undefined>;
  renewNodeLease(nodeId: number, holder: string, ttlSeconds: number): Promise<boolean>;
  releaseNodeLease(nodeId: number, holder: string): Promise<void>;
}

/** API keys (issue 12). */
export interface ApiKeys {
  /** Stores a key; a key of the same name not revoked is a `conflict` (field `name`). */
  createApiKey(key: NewApiKey): Promise<ApiKeyInfo>;
  /** Every key, revoked and expired ones included, oldest first. */
  listApiKeys(): Promise<ApiKeyInfo[]>;
  /** Revokes the key of this name not yet revoked; undefined when there is none. */
  revokeApiKey(name: string): Promise<ApiKeyInfo | undefined>;
  /**
   * The key with this SHA-256, as a server checking a request sees it (revoked and expired ones
   * too: the caller decides). A key neither revoked nor expired is marked used now.
   */
  useApiKey(secretSha256: string): Promise<ApiKeyInfo | undefined>;
}

/** One attempt to deliver a callback: when it began, how long it took, and how it ended (neither code nor error: under way). */
export interface CallbackAttempt {
  attempt: number;
  at: Date;
  durationMs: number | null;
  /** The receiver's HTTP status, when it answered. */
  statusCode: number | null;
  /** Why it failed without an answer (or why the answer does not count), when it did. */
  error: string | null;
  /** When the next attempt is due, after a failed one that has a next. */
  retryAt: Date | null;
}

/** A task's callback (issue 14): pending until delivered (a 2xx) or failed (attempts used up). */
export interface TaskCallback {
  url: string;
  state: 'pending' | 'delivered' | 'failed';
  /** While pending: when it may next be tried (once the task has ended). */
  nextAt: Date | null;
  attempts: CallbackAttempt[];
}

/** A callback a deliverer has claimed: its attempt `attempt` is under way, leased to it. */
export interface ClaimedCallback { id: string; taskId: string; url: string; attempt: number }

/** How an attempt ended, and so the callback: delivered, pending (tried again in `retryInMs`) or failed. */
export interface CallbackAttemptEnd {
  id: string;
  taskId: string;
  attempt: number;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  state: TaskCallback['state'];
  retryInMs?: number;
}

/** Completion callbacks (issue 14): added at submission, delivered by the recorders' deliverers. */
export interface Callbacks {
  /** Adds a callback to `url` for the task (none when it has one to that URL); false when there is no such task. */
  addCallback(taskId: string, url: string): Promise<boolean>;
  /** The task's callbacks with every attempt, oldest first. */
  getCallbacks(taskId: string): Promise<TaskCallback[]>;
  /**
   * Claims up to `limit` callbacks of ended tasks that are due, for `leaseMs`: each one's next
   * attempt is begun (and recorded). Rows another deliverer holds are skipped; callbacks whose
   * attempts are used up (by interrupted ones) fail instead.
   */
  claimCallbacks(limit: number, leaseMs: number, maxAttempts: number): Promise<ClaimedCallback[]>;
  /** Records how a claimed attempt ended, and the callback's state after it. */
  finishCallbackAttempt(end: CallbackAttemptEnd): Promise<void>;
}

/** How to measure a service's recent activity. */
export interface ActivityWindows {
  /** Windows, in seconds, arrivals and completions are counted over (at most a day each). */
  windows: number[];
  /** Wait and run times come from the latest `sampleSize` tasks that ran and ended... */
  sampleSize: number;
  /** ...no longer than this many seconds ago. */
  sampleSeconds: number;
}

/** Spread of a duration over the sample, in seconds. */
export interface DurationSpread { p50: number; p90: number; p99: number; mean: number }

/** One service's tasks now and lately, as the database saw them at `at`. */
export interface ServiceActivityFigures {
  /** The database's clock when it answered: the windows end here. */
  at: Date;
  /** Tasks queued (a task that ends before its start report is due counts as queued until it ends). */
  queued: number;
  running: number;
  /** Creation time of the oldest queued task. */
  oldestQueuedAt: Date | null;
  /** Tasks created in each window (a copy answered from another principal's cached result is not an arrival). */
  arrivals: number[];
  /** Tasks that ran and ended (done or failed) in each window. */
  completions: number[];
  /** Of those, the ones that failed. */
  failures: number[];
  sample: {
    tasks: number;
    /** When the first and last task of the sample ended. */
    from: Date | null;
    to: Date | null;
    /** created → started. */
    wait: DurationSpread | null;
    /** started → completed. */
    run: DurationSpread | null;
  };
}

/** Capacity figures per service (GET /services/:name/stats): bounded reads, never the history. */
export interface ServiceActivity {
  serviceActivity(service: string, windows: ActivityWindows): Promise<ServiceActivityFigures>;
}

/** Where the schema stands against this code's migrations (readiness, issue 14). */
export interface SchemaStatus {
  /** Migrations this code has that the database has not applied (names, in order). */
  pending: string[];
  /** Versions the database has applied that this code does not know (a newer Errand migrated it). */
  newer: number[];
}

/** What a readiness probe asks of the database. */
export interface SchemaHealth {
  /** Reads the applied migrations; rejects when the database cannot be reached. */
  schemaStatus(): Promise<SchemaStatus>;
}

/** Everything, as one process opens it. */
export interface Store extends TaskSubmission, TaskReads, TaskList, TaskChanges, WorkerReports, EventLog, Retention, Recovery, NodeLeases, ApiKeys, Callbacks, ServiceActivity, SchemaHealth {
  close(): Promise<void>;
  /** What the store is connected to, for logs (no password). */
  readonly target: string;
}
