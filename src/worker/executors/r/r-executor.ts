/**
 * The R runtime: each R service runs in a process pool (../process-pool.ts) of warm R processes,
 * one task per process at a time, each task starting from the state the script left after loading
 * (runtime.R resets globals, options, devices, sinks, the random seed and the working folder).
 * Measured against fork-per-task in docs/benchmarks.md: a fork of a loaded R costs 2.5-4.5 ms, a
 * reset well under one. A timeout or cancel kills the task's process; a process that dies fails
 * only its task; either way the pool starts a fresh one, and removes the old one's work folder.
 */
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from 'pino';
import type { Manifest } from '../../../core/index.ts';
import type { TaskRun } from '../../executor.ts';
import { stoppedOutcome } from '../../executor.ts';
import { mimeFor, readConsoleTail, readResultFiles, removeTaskDir } from '../process-io.ts';
import { defaultServiceEnv } from '../../environment.ts';
import { createProcessPool } from '../process-pool.ts';
import type { ProcessPool, ProcessRun, ProcessRuntime } from '../process-pool.ts';
import { RProcess } from './r-process.ts';
import type { RProcessOptions, RReply } from './r-process.ts';

export interface RExecutorOptions {
  manifest: Manifest;
  /** The service folder. */
  folder: string;
  /** Most processes at once: the service's concurrency. */
  maxProcesses: number;
  /** A process beyond the first idle this long leaves (default DEFAULT_IDLE_TIMEOUT_MS). */
  idleTimeoutMs?: number;
  rscript: string;
  logger: Logger;
  /** R's environment; the allowlisted one with the manifest's `env` by default. */
  env?: Record<string, string>;
}

export interface RExecutor extends ProcessPool {
  /** The service's script, which the worker reports as the task's (Patavi's `{script}` message). */
  script(): string;
}

/** The end of what the task printed: sent inline when small, else read from its file. */
async function consoleOf(r: RProcess, taskId: string, reply: RReply): Promise<string | undefined> {
  if (reply.kind !== 'exit') {
    if (reply.console !== undefined) return reply.console;
    if (reply.consoleBytes === 0) return undefined;
  }
  return readConsoleTail(join(r.taskDir(taskId), 'console.txt'));
}

/** How often a running task's console file is looked at for what it printed since. */
const CONSOLE_POLL_MS = 200;

/**
 * Passes on what an R task prints while it runs: the runtime flushes the task's console.txt at
 * each update(), and this reads what was added since the last look. Returns a stop that reads
 * once more.
 */
function followConsole(path: string, pass: (text: string) => boolean): () => Promise<void> {
  let offset = 0;
  let wanted = true;
  let reading: Promise<void> = Promise.resolve();
  const decoder = new StringDecoder('utf8');
  const look = () => {
    reading = reading.then(async () => {
      if (!wanted) return;
      let handle;
      try {
        handle = await open(path, 'r');
        const { size } = await handle.stat();
        if (size <= offset) return;
        const buffer = Buffer.alloc(Math.min(size - offset, 1024 * 1024));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
        offset += bytesRead;
        const text = decoder.write(buffer.subarray(0, bytesRead));
        if (text) wanted = pass(text);
      } catch {
        // Not there yet, or gone with its task: nothing to pass on.
      } finally {
        await handle?.close();
      }
    });
  };
  const timer = setInterval(look, CONSOLE_POLL_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    look();
    await reading;
  };
}

/** Runs one task in its process: a stop kills the process (R gets no chance to run on). */
async function runTask(r: RProcess, task: TaskRun, log: Logger): Promise<ProcessRun> {
  const stop = (): void => r.kill();
  task.signal.addEventListener('abort', stop, { once: true });
  const passOn = task.console;
  const stopFollowing = passOn ? followConsole(join(r.taskDir(task.taskId), 'console.txt'), passOn) : undefined;
  const reply = await r.run(task.taskId, JSON.stringify(task.input ?? null), task.progress).finally(() => stopFollowing?.());
  task.signal.removeEventListener('abort', stop);
  const console = await consoleOf(r, task.taskId, reply);
  const printed = console === undefined ? {} : { console };

  if (task.signal.aborted) return { outcome: { ...stoppedOutcome(task.signal), ...printed }, reusable: false };
  if (reply.kind === 'exit') {
    log.warn({ taskId: task.taskId, exit: reply.description }, 'R process died during a task; replacing it');
    return { outcome: { status: 'failed', error: { code: 'crashed', message: `the R process running the task ${reply.description}` }, ...printed }, reusable: false };
  }
  if (reply.kind === 'error') {
    const detail = { ...(reply.call ? { call: reply.call } : {}), traceback: reply.traceback };
    const message = reply.call ? `Error in ${reply.call}: ${reply.message}` : `Error: ${reply.message}`;
    return { outcome: { status: 'failed', error: { code: reply.code, message, detail }, ...printed }, reusable: true };
  }
  // Files are read before the process is given its next task (which removes this task's folder).
  const files = await readResultFiles(reply.files.map((f) => ({ name: f.name, path: f.file, contentType: f.mime ?? mimeFor(f.name) })), task.limits);
  if ('error' in files) return { outcome: { status: 'failed', error: files.error, ...printed }, reusable: true };
  return { outcome: { status: 'done', index: reply.index, ...(reply.indexText !== undefined ? { indexText: reply.indexText } : {}), files, ...printed, ...(reply.cacheable ? {} : { cacheable: false }) }, reusable: true };
}

export function createRExecutor(options: RExecutorOptions): RExecutor {
  const { manifest, logger } = options;
  const log = logger.child({ service: manifest.name, runtime: 'r' });
  const scriptPath = join(options.folder, manifest.entry);
  const script = readFileSync(scriptPath, 'utf8');
  const processOptions: RProcessOptions = {
    rscript: options.rscript, scriptPath, functionName: manifest.function, cwd: options.folder, logger: log,
    env: options.env ?? defaultServiceEnv('r', manifest.env),
  };
  const runtime: ProcessRuntime<RProcess> = {
    name: 'R',
    start: () => RProcess.start(processOptions),
    run: (r, task) => runTask(r, task, log),
    // Its tasks' folders and R's own session folder are all inside it.
    cleanUp: (r) => removeTaskDir(r.workDir),
  };
  const pool = createProcessPool({ runtime, maxProcesses: options.maxProcesses, idleTimeoutMs: options.idleTimeoutMs, logger: log });
  return { ...pool, script: () => script };
}
