/**
 * The R runtime: a pool of warm R processes per service, one task per process at a time, each
 * task starting from the state the script left after loading (runtime.R resets globals, options,
 * devices, sinks, the random seed and the working folder). Measured against fork-per-task in
 * docs/benchmarks.md: a fork of a loaded R costs 2.5-4.5 ms, a reset well under one.
 * A timeout or cancel kills the task's process; a process that dies fails only its task; either
 * way a fresh one is started in the background to keep the pool warm.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Manifest } from '../../../core/index.ts';
import type { Executor, Outcome, TaskRun } from '../../executor.ts';
import { stoppedOutcome } from '../../executor.ts';
import { mimeFor, readConsoleTail, readResultFiles, removeTaskDir } from '../process-io.ts';
import { defaultServiceEnv } from '../../environment.ts';
import { RProcess } from './r-process.ts';
import type { RReply } from './r-process.ts';

export interface RExecutorOptions {
  manifest: Manifest;
  /** The service folder. */
  folder: string;
  /** Processes kept warm: the service's concurrency. */
  size: number;
  rscript: string;
  logger: Logger;
  /** R's environment; the allowlisted one with the manifest's `env` by default. */
  env?: Record<string, string>;
}

export interface RExecutor extends Executor {
  /** Starts the first process and waits for it: a script that does not load throws RLoadError. */
  warm(): Promise<void>;
  /** Processes alive now (for tests and the registry). */
  pids(): number[];
}

export function createRExecutor(options: RExecutorOptions): RExecutor {
  const { manifest, logger } = options;
  const log = logger.child({ service: manifest.name, runtime: 'r' });
  const scriptPath = join(options.folder, manifest.entry);
  const env = options.env ?? defaultServiceEnv('r', manifest.env);
  const script = readFileSync(scriptPath, 'utf8');
  const idle: RProcess[] = [];
  const all = new Set<RProcess>();
  let starting = 0;
  let closed = false;

  async function startProcess(): Promise<RProcess> {
    starting++;
    try {
      const r = await RProcess.start({ rscript: options.rscript, scriptPath, functionName: manifest.function, cwd: options.folder, logger: log, env });
      all.add(r);
      return r;
    } finally {
      starting--;
    }
  }

  // Tasks waiting for a process that is starting (a replacement), rather than start one more.
  const waiters: { resolve(r: RProcess): void; reject(err: Error): void }[] = [];

  /** Hands a ready process to a waiting task, else keeps it idle. */
  function offer(r: RProcess): void {
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(r);
    else idle.push(r);
  }

  /** Keeps the pool at its size, in the background; a failure is handed to a waiting task. */
  function replenish(): void {
    if (closed) return;
    for (let missing = options.size - all.size - starting; missing > 0; missing--) {
      startProcess().then(
        (r) => { if (closed) void r.close(); else offer(r); },
        (err: Error) => {
          log.warn({ err: err.message }, 'could not start a warm R process');
          waiters.shift()?.reject(err);
        },
      );
    }
  }

  function retire(r: RProcess): void {
    all.delete(r);
    r.kill();
    void removeTaskDir(r.workDir);
    replenish();
  }

  /** Back to the pool, unless the pool is closing or has more than its size. */
  function release(r: RProcess): void {
    if (!closed && all.size <= options.size) {
      offer(r);
      return;
    }
    all.delete(r);
    void r.close().then(() => removeTaskDir(r.workDir));
  }

  async function acquire(): Promise<RProcess> {
    for (let r = idle.pop(); r; r = idle.pop()) {
      if (r.alive) return r;
      all.delete(r);
    }
    if (starting > 0 && all.size + starting >= options.size) {
      return new Promise<RProcess>((resolve, reject) => waiters.push({ resolve, reject }));
    }
    return startProcess();
  }

  /** The end of what the task printed: sent inline when small, else read from its file. */
  async function consoleOf(r: RProcess, taskId: string, reply: RReply): Promise<string | undefined> {
    if (reply.kind !== 'exit') {
      if (reply.console !== undefined) return reply.console;
      if (reply.consoleBytes === 0) return undefined;
    }
    return readConsoleTail(join(r.taskDir(taskId), 'console.txt'));
  }

  async function execute(task: TaskRun): Promise<Outcome> {
    let r: RProcess;
    try {
      r = await acquire();
    } catch (err) {
      return { status: 'failed', error: { code: 'runtime_unavailable', message: `no R process could be started: ${(err as Error).message}` } };
    }
    if (task.signal.aborted) {
      release(r);
      return stoppedOutcome(task.signal);
    }
    const stop = (): void => r.kill();
    task.signal.addEventListener('abort', stop, { once: true });
    const reply = await r.run(task.taskId, JSON.stringify(task.input ?? null), task.progress);
    task.signal.removeEventListener('abort', stop);
    const console = await consoleOf(r, task.taskId, reply);
    const printed = console === undefined ? {} : { console };

    if (task.signal.aborted) {
      retire(r);
      return { ...stoppedOutcome(task.signal), ...printed };
    }
    if (reply.kind === 'exit') {
      retire(r);
      log.warn({ taskId: task.taskId, exit: reply.description }, 'R process died during a task; replacing it');
      return { status: 'failed', error: { code: 'crashed', message: `the R process running the task ${reply.description}` }, ...printed };
    }
    if (reply.kind === 'error') {
      release(r);
      const detail = { ...(reply.call ? { call: reply.call } : {}), traceback: reply.traceback };
      const message = reply.call ? `Error in ${reply.call}: ${reply.message}` : `Error: ${reply.message}`;
      return { status: 'failed', error: { code: reply.code, message, detail }, ...printed };
    }
    // Files are read before the process is given its next task (which removes this task's folder).
    const files = await readResultFiles(reply.files.map((f) => ({ name: f.name, path: f.file, contentType: f.mime ?? mimeFor(f.name) })), task.limits);
    release(r);
    if ('error' in files) return { status: 'failed', error: files.error, ...printed };
    return { status: 'done', index: reply.index, files, ...printed, ...(reply.cacheable ? {} : { cacheable: false }) };
  }

  return {
    async warm() {
      idle.push(await startProcess());
      replenish();
    },

    run: execute,

    script: () => script,

    pids: () => [...all].filter((r) => r.alive).map((r) => r.pid!),

    async close() {
      closed = true;
      for (const waiter of waiters.splice(0)) waiter.reject(new Error('the R pool is closing'));
      await Promise.all([...all].map(async (r) => { await r.close(); await removeTaskDir(r.workDir); }));
      all.clear();
      idle.length = 0;
    },
  };
}
