/**
 * Node services loaded from a folder: a pool of warm child processes per service, as many as its
 * concurrency, one task per process at a time. A stop (timeout, cancel, shutdown) aborts the
 * task's ctx.signal in its process; a task still running KILL_GRACE_MS later has its process
 * killed, and a fresh one is started in the background. A process that dies (process.exit, an
 * uncaught exception) fails only its task, with code `crashed`, and is replaced the same way.
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
import type { Executor, Outcome, TaskRun } from '../../executor.ts';
import { stoppedOutcome } from '../../executor.ts';
import { defaultServiceEnv } from '../../environment.ts';
import { NodeLoadError, NodeProcess } from './node-process.ts';

/** Between telling a task to stop and killing its process. */
export const KILL_GRACE_MS = 500;

export interface NodePoolOptions {
  /** The module exporting `run`. */
  entryPath: string;
  /** The service's name, for logs. */
  service: string;
  /** Processes kept warm: the service's concurrency. */
  size: number;
  logger: Logger;
  /** The processes' working directory (default: the folder of entryPath). */
  cwd?: string;
  /** How long a process may take to load the module (default 60 s). */
  startTimeoutMs?: number;
  /** The processes' environment; the allowlisted one by default. */
  env?: Record<string, string>;
}

export interface NodeExecutor extends Executor {
  /** Starts the first process and waits for it: a module that does not load throws NodeLoadError. */
  warm(): Promise<void>;
  /** Processes alive now (for tests and the registry). */
  pids(): number[];
}

export function createNodePoolExecutor(options: NodePoolOptions): NodeExecutor {
  const log = options.logger.child({ service: options.service, runtime: 'node' });
  const processOptions = { entryPath: options.entryPath, cwd: options.cwd ?? dirname(options.entryPath), logger: log, startTimeoutMs: options.startTimeoutMs, env: options.env ?? defaultServiceEnv('node') };
  const idle: NodeProcess[] = [];
  const all = new Set<NodeProcess>();
  let starting = 0;
  let closed = false;

  async function startProcess(): Promise<NodeProcess> {
    starting++;
    try {
      const p = await NodeProcess.start(processOptions);
      all.add(p);
      // One that dies between tasks (a leftover timer threw) is replaced before a task needs it.
      void p.whenEnded.then(() => {
        if (!all.delete(p)) return;
        if (idle.includes(p)) idle.splice(idle.indexOf(p), 1);
        replenish();
      });
      return p;
    } finally {
      starting--;
    }
  }

  // Tasks waiting for a process that is starting (a replacement), rather than start one more.
  const waiters: { resolve(p: NodeProcess): void; reject(err: Error): void }[] = [];

  /** Hands a ready process to a waiting task, else keeps it idle. */
  function offer(p: NodeProcess): void {
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(p);
    else idle.push(p);
  }

  /** Keeps the pool at its size, in the background; a failure is handed to a waiting task. */
  function replenish(): void {
    if (closed) return;
    for (let missing = options.size - all.size - starting; missing > 0; missing--) {
      startProcess().then(
        (p) => { if (closed) void p.close(); else offer(p); },
        (err: Error) => {
          log.warn({ err: err.message }, 'could not start a warm Node process');
          waiters.shift()?.reject(err);
        },
      );
    }
  }

  function retire(p: NodeProcess): void {
    all.delete(p);
    p.kill();
    replenish();
  }

  /** Back to the pool, unless the pool is closing or has more than its size. */
  function release(p: NodeProcess): void {
    if (!closed && all.size <= options.size) {
      offer(p);
      return;
    }
    all.delete(p);
    void p.close();
  }

  async function acquire(): Promise<NodeProcess> {
    for (let p = idle.pop(); p; p = idle.pop()) {
      if (p.alive) return p;
      all.delete(p);
    }
    if (starting > 0 && all.size + starting >= options.size) {
      return new Promise<NodeProcess>((resolve, reject) => waiters.push({ resolve, reject }));
    }
    return startProcess();
  }

  async function execute(task: TaskRun): Promise<Outcome> {
    if (task.signal.aborted) return stoppedOutcome(task.signal);
    let p: NodeProcess;
    try {
      p = await acquire();
    } catch (err) {
      return { status: 'failed', error: { code: 'runtime_unavailable', message: `no Node process could be started: ${(err as Error).message}` } };
    }
    if (task.signal.aborted) {
      release(p);
      return stoppedOutcome(task.signal);
    }
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
      retire(p);
      if (task.signal.aborted) return stoppedOutcome(task.signal);
      log.warn({ taskId: task.taskId, exit: reply.description }, 'Node process died during a task; replacing it');
      return { status: 'failed', error: { code: 'crashed', message: `the Node process running the task ${reply.description}` } };
    }
    release(p);
    // A service that stops when told reports how it was stopped, not what it returned or threw.
    if (task.signal.aborted) return stoppedOutcome(task.signal);
    if (reply.kind === 'failed') return { status: 'failed', error: { code: reply.code, message: reply.message } };
    return { status: 'done', index: reply.index, files: reply.files, ...(reply.cacheable ? {} : { cacheable: false }) };
  }

  return {
    async warm() {
      idle.push(await startProcess());
      replenish();
    },

    run: execute,

    pids: () => [...all].filter((p) => p.alive).map((p) => p.pid!),

    async close() {
      closed = true;
      for (const waiter of waiters.splice(0)) waiter.reject(new Error('the Node pool is closing'));
      await Promise.all([...all].map((p) => p.close()));
      all.clear();
      idle.length = 0;
    },
  };
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
