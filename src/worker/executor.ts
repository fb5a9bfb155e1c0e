/**
 * The boundary between the worker (queues, acks, messages) and whatever runs a task: a pool of
 * warm R processes, a program started per task, or a Node module. An executor never throws for a
 * task's own failure: it returns a failed outcome with a stable code.
 */
import type { Manifest, ResultFile, ResultLimits, TaskError } from '../core/index.ts';

/** Why a task is being stopped; the executor ends it failed with this code. */
export interface StopReason { code: 'timeout' | 'canceled' | 'shutdown'; message: string }

export interface TaskRun {
  taskId: string;
  service: string;
  input: unknown;
  /** Aborted, with a StopReason, when the task must stop (timeout, cancel, shutdown). */
  signal: AbortSignal;
  /** Reports progress; Patavi passes the value through as `eventData`. */
  progress(data: unknown): void;
  /**
   * Passes on what the script printed, as it prints it (the whole end of it still comes with the
   * outcome); false once no more is wanted, so the executor may stop looking.
   */
  console?(text: string): boolean;
  /**
   * The worker's bounds on a result (default DEFAULT_RESULT_LIMITS): executors that read files
   * from disk refuse ones over them before reading. The worker checks every result against them.
   */
  limits?: ResultLimits;
}

export type Outcome = (
  /** `indexText`: the index as the runtime wrote it (R's jsonlite), sent as is rather than serialised again. */
  | { status: 'done'; index: unknown; files: ResultFile[]; indexText?: string }
  | { status: 'failed'; error: TaskError }
) & {
  /** What the script printed (bounded), kept with the task. */
  console?: string;
  /** False when the script said this result must not be served from the result cache. */
  cacheable?: boolean;
};

export interface Executor {
  run(task: TaskRun): Promise<Outcome>;
  /** Text the worker reports as the task's script (Patavi's `{script}` message), when there is one. */
  script?(): string | undefined;
  close(): Promise<void>;
}

export interface ServiceDefinition {
  manifest: Manifest;
  name: string;
  /** Tasks of this service run at once by one worker (its prefetch). */
  concurrency: number;
  executor: Executor;
  /** Markdown describing the service, when the folder has it. */
  docs: string | null;
}

/** The failed outcome for a stopped task. */
export function stoppedOutcome(signal: AbortSignal): Outcome {
  const reason = signal.reason as Partial<StopReason> | undefined;
  return { status: 'failed', error: { code: reason?.code ?? 'canceled', message: reason?.message ?? 'the task was stopped' } };
}
