/**
 * Node services loaded from a folder: each runs in a process pool (../process-pool.ts) of child
 * processes, one task per process at a time: one at start, as many as its concurrency when tasks
 * wait. A stop (timeout, cancel, shutdown) aborts the task's ctx.signal in its process; a task
 * still running KILL_GRACE_MS later has its process killed, and the pool starts a fresh one. A
 * process that dies (process.exit, an uncaught exception) fails only its task, with code
 * `crashed`, and is replaced the same way.
 *
 * Child processes rather than worker threads: Worker.terminate() does stop a busy JavaScript loop,
 * but waits for a thread blocked in native code (execSync('sleep 3') held it 2.8 s), and a thread
 * shares the worker's process: a crash in a native addon would take every task of the worker with
 * it, and programs the service starts are not stopped with it. A SIGKILL to a process group always
 * works and takes everything in it. The price, measured with a
 * no-op round trip (median of 2000): about 0.1 ms over a fork's IPC channel against 0.03 ms to a
 * worker thread on a quiet machine; a whole task through this pool, about 0.3 ms on a busy
 * two-core one (against 0.01 ms for a function called in the worker).
 */
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Outcome, TaskRun } from '../../executor.ts';
import { stoppedOutcome } from '../../executor.ts';
import { defaultServiceEnv } from '../../environment.ts';
import { createProcessPool } from '../process-pool.ts';
import type { ProcessPool, ProcessRun, ProcessRuntime } from '../process-pool.ts';
import { NodeLoadError, NodeProcess } from './node-process.ts';
import type { NodeProcessOptions } from './node-process.ts';

/** Between telling a task to stop and killing its process. */
export const KILL_GRACE_MS = 500;

export interface NodePoolOptions {
  /** The module exporting `run`. */
  entryPath: string;
  /** The service's name, for logs. */
  service: string;
  /** Most processes at once: the service's concurrency. */
  maxProcesses: number;
  /** A process beyond the first idle this long leaves (default DEFAULT_IDLE_TIMEOUT_MS). */
  idleTimeoutMs?: number;
  /** How long a task waits for a busy process before the pool starts another (see process-pool.ts). */
  growAfterMs?: number;
  logger: Logger;
  /** The processes' working directory (default: the folder of entryPath). */
  cwd?: string;
  /** How long a process may take to load the module (default 60 s). */
  startTimeoutMs?: number;
  /** The processes' environment; the allowlisted one by default. */
  env?: Record<string, string>;
}

export type NodeExecutor = ProcessPool;

/** Runs one task in its process: a stop aborts ctx.signal, then kills the process after the grace. */
async function runTask(p: NodeProcess, task: TaskRun, log: Logger): Promise<ProcessRun> {
  let killTimer: NodeJS.Timeout | undefined;
  const stop = (): void => {
    const { code, message } = (stoppedOutcome(task.signal) as Extract<Outcome, { status: 'failed' }>).error;
    p.abort({ code, message });
    killTimer = setTimeout(() => {
      log.info({ taskId: task.taskId, childPid: p.pid }, `task did not stop within ${KILL_GRACE_MS} ms of being told; killing its process`);
      p.kill();
    }, KILL_GRACE_MS);
  };
  task.signal.addEventListener('abort', stop, { once: true });
  const reply = await p.run({ taskId: task.taskId, service: task.service, input: task.input ?? null }, task.progress);
  task.signal.removeEventListener('abort', stop);
  clearTimeout(killTimer);

  if (reply.kind === 'exit') {
    if (task.signal.aborted) return { outcome: stoppedOutcome(task.signal), reusable: false };
    log.warn({ taskId: task.taskId, exit: reply.description }, 'Node process died during a task; replacing it');
    return { outcome: { status: 'failed', error: { code: 'crashed', message: `the Node process running the task ${reply.description}` } }, reusable: false };
  }
  // A service that stops when told reports how it was stopped, not what it returned or threw.
  if (task.signal.aborted) return { outcome: stoppedOutcome(task.signal), reusable: true };
  if (reply.kind === 'failed') return { outcome: { status: 'failed', error: { code: reply.code, message: reply.message } }, reusable: true };
  return { outcome: { status: 'done', index: reply.index, files: reply.files, ...(reply.cacheable ? {} : { cacheable: false }) }, reusable: true };
}

export function createNodePoolExecutor(options: NodePoolOptions): NodeExecutor {
  const log = options.logger.child({ service: options.service, runtime: 'node' });
  const processOptions: NodeProcessOptions = { entryPath: options.entryPath, cwd: options.cwd ?? dirname(options.entryPath), logger: log, startTimeoutMs: options.startTimeoutMs, env: options.env ?? defaultServiceEnv('node') };
  const runtime: ProcessRuntime<NodeProcess> = {
    name: 'Node',
    start: () => NodeProcess.start(processOptions),
    run: (p, task) => runTask(p, task, log),
  };
  return createProcessPool({ runtime, maxProcesses: options.maxProcesses, idleTimeoutMs: options.idleTimeoutMs, ...(options.growAfterMs !== undefined ? { growAfterMs: options.growAfterMs } : {}), logger: log });
}

/** A warm pool for the module at `entryPath`; rejects with NodeLoadError when it does not load. */
export async function startNodePool(options: NodePoolOptions): Promise<NodeExecutor> {
  const executor = createNodePoolExecutor(options);
  try {
    await executor.warm();
  } catch (err) {
    await executor.close();
    throw err;
  }
  return executor;
}

export { NodeLoadError };
