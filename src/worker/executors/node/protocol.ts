/**
 * The messages between the worker and a Node service's child process, over the IPC channel with
 * the `advanced` (structured clone) serialisation so that file contents travel as bytes. Values a
 * service hands over (results, progress) cross as JSON text: what the worker sends on is exactly
 * what JSON.stringify made of them, as when the service ran inside the worker.
 *
 * `run` numbers a process's tasks: a message about an earlier task (a leftover timer calling
 * ctx.progress after its task ended) is recognised and ignored.
 */

/** Why a task is stopped, as the service sees it in `ctx.signal.reason`. */
export interface StopMessage { code: string; message: string }

export type ToChild =
  | { type: 'run'; run: number; taskId: string; service: string; input: unknown }
  | { type: 'abort'; run: number; reason: StopMessage };

export interface FileMessage { name: string; contentType: string; content: Uint8Array }

export type FromChild =
  | { type: 'ready'; pid: number }
  | { type: 'load_failed'; message: string }
  | { type: 'progress'; run: number; data: string }
  | { type: 'done'; run: number; index: string; files: FileMessage[]; cacheable: boolean }
  | { type: 'failed'; run: number; code: string; message: string }
  /** An exception nothing caught: the process exits right after saying so. */
  | { type: 'fatal'; message: string };
