/**
 * The boundary between the worker (queues, acks, messages) and whatever runs a task: a Node
 * module today; a pool of warm R processes and arbitrary commands next. An executor never throws
 * for a task's own failure: it returns a failed outcome with a stable code.
 */
import type { ResultFile, TaskError } from '../core/index.ts';

export interface TaskRun {
  taskId: string;
  service: string;
  input: unknown;
  /** Aborted when the task is to stop (timeout, cancel, shutdown). */
  signal: AbortSignal;
  /** Reports progress; Patavi passes the value through as `eventData`. */
  progress(data: unknown): void;
}

export type Outcome =
  | { status: 'done'; index: unknown; files: ResultFile[] }
  | { status: 'failed'; error: TaskError };

export interface Executor {
  run(task: TaskRun): Promise<Outcome>;
  /** Text the worker reports as the task's script (Patavi's `{script}` message), when there is one. */
  script?(): string | undefined;
  close(): Promise<void>;
}

export interface ServiceDefinition {
  name: string;
  version: string;
  description: string;
  /** Tasks of this service run at once by one worker (its prefetch). */
  concurrency: number;
  executor: Executor;
}
