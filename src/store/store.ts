/** What every part needs from persistence. One implementation (sql-store.ts) runs on both drivers. */
import type { ResultFile, TaskError, TaskInfo, TaskStatus } from '../core/index.ts';

export interface NewTask {
  id: string;
  service: string;
  /** The input as JSON text, stored as submitted (jsonb). */
  input: string;
  owner: string | null;
  ownerKey: string | null;
  /** ISO 8601 duration, already validated. */
  ttl: string | null;
}

export interface StartedTask {
  id: string;
  worker: string | null;
  /** The script the worker runs, when it reports one with the start (Errand's workers do). */
  script?: string | null;
}

export interface CompletedTask {
  id: string;
  status: 'done' | 'failed';
  index: unknown;
  files: ResultFile[];
  error: TaskError | null;
  /** What the script printed (bounded), when the worker reported it. */
  console?: string | null;
}

/** What recording a result did: it ended the task now, the task had already ended, or no such task. */
export type CompletionOutcome =
  | { kind: 'recorded'; status: TaskStatus }
  | { kind: 'already-ended'; status: TaskStatus }
  | { kind: 'unknown-task' };

export interface UnfinishedTask { id: string; service: string; input: string }

export interface StoredFile { contentType: string; content: Buffer }

export interface Store {
  /** Persists a queued task. Concurrent calls are group-committed. */
  insertTask(task: NewTask): Promise<void>;
  getTask(id: string): Promise<TaskInfo | undefined>;
  /** The tasks among `ids` that exist, in the order of `ids`. */
  getTasks(ids: string[]): Promise<TaskInfo[]>;
  /** The task's input as JSON text. */
  getInput(id: string): Promise<string | undefined>;
  getScript(id: string): Promise<string | undefined>;
  /** What the task's script printed, when its worker reported it. */
  getConsole(id: string): Promise<string | undefined>;
  /** The result (or index) as JSON text, once the task has one. */
  getResult(id: string): Promise<string | undefined>;
  getFile(id: string, name: string): Promise<StoredFile | undefined>;
  saveScript(id: string, script: string): Promise<void>;
  /** Marks tasks running (queued or redelivered) and counts the attempt; ended tasks are left alone. */
  markStarted(tasks: StartedTask[]): Promise<void>;
  /** Records results; the first result of a task wins, later ones change nothing. */
  completeTasks(tasks: CompletedTask[]): Promise<CompletionOutcome[]>;
  /** Removes a task and its files; false when there was no such task. */
  deleteTask(id: string): Promise<boolean>;
  /** Removes up to `limit` tasks whose ttl has passed; returns how many went. */
  deleteExpired(limit: number): Promise<number>;
  /** Unfinished tasks after `afterId` (by id), for re-queueing after the embedded broker restarts. */
  listUnfinished(afterId: string | null, limit: number): Promise<UnfinishedTask[]>;
  /** Leases a free flake node id for `holder`; undefined when all 1024 are taken. */
  leaseNodeId(holder: string, ttlSeconds: number): Promise<number | undefined>;
  renewNodeLease(nodeId: number, holder: string, ttlSeconds: number): Promise<boolean>;
  releaseNodeLease(nodeId: number, holder: string): Promise<void>;
  close(): Promise<void>;
  /** What the store is connected to, for logs (no password). */
  readonly target: string;
}
