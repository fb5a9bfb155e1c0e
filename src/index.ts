/**
 * What the `errand` package exports: the types a Node service is written against
 * (`import type { ServiceContext } from 'errand'`; docs/services.md#node). Types only: the roles
 * are the `errand` command, not a library. Self-contained, so that dist/index.d.ts reads as the
 * contract; the worker implements it (src/worker/executors/node/).
 */

/** The second argument of a Node service's `run`: the task it runs and what it may report. */
export interface ServiceContext {
  /** The task's id (16 hex digits). */
  taskId: string;
  /** The service's name. */
  service: string;
  /**
   * Aborted when the task must stop (timeout, cancel, the worker shutting down), with
   * `signal.reason` set to `{code, message}`; a task still running 0.5 s later has its process killed.
   */
  signal: AbortSignal;
  /** Reports progress: any JSON value, passed on to watchers as it is. */
  progress(data: unknown): void;
  /** Adds a file to the result, which makes it a multi-file one (index + files); a Buffer is a Uint8Array. */
  saveFile(name: string, content: Uint8Array | string, contentType: string): void;
  /** Marks this task's result as one the result cache must never serve (it depends on more than the input). */
  noCache(): void;
}

/**
 * A Node service's `run`: returns the result (or a promise of it), any JSON value; a throw fails
 * the task (with the error's `code` when it is snake_case, else `script_error`).
 */
export type ServiceRun = (input: unknown, ctx: ServiceContext) => unknown;
