/**
 * One warm R process: started once with the service script loaded (runtime.R), then given tasks
 * one at a time over stdin, answering on a pipe at fd 3. Owns the process and nothing else: the
 * pool decides when to start, reuse, kill or replace one.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { defaultServiceEnv } from '../../environment.ts';
import { closeMessagePipe, makeWorkDir, onLines, openMessagePipe, removeTaskDir, tail } from '../process-io.ts';

const RUNTIME_SCRIPT = fileURLToPath(new URL('./runtime.R', import.meta.url));
const START_TIMEOUT_MS = 60_000;

export interface RProcessOptions {
  rscript: string;
  scriptPath: string;
  functionName: string;
  /** The folder the script is loaded from (its working directory while loading). */
  cwd: string;
  logger: Logger;
  /** How long R may take to load the script (default 60 s). */
  startTimeoutMs?: number;
  /** R's environment (TMPDIR is set to the work folder); the allowlisted one by default. */
  env?: Record<string, string>;
}

/** What the task printed: inline when small, else only its size (the rest is in the file). */
export interface ConsoleReport { consoleBytes: number; console?: string }

export type RReply =
  | ({ kind: 'result'; index: unknown; indexText?: string; files: { name: string; file: string; mime?: string }[]; cacheable: boolean } & ConsoleReport)
  | ({ kind: 'error'; code: string; message: string; call: string | null; traceback: string[] } & ConsoleReport)
  | { kind: 'exit'; description: string };

/** The script could not be loaded: `field` is the manifest field at fault. */
export class RLoadError extends Error {
  constructor(message: string, readonly field: string) {
    super(message);
  }
}

interface Pending { resolve(reply: RReply): void; progress(data: unknown): void }

type Incoming =
  | { type: 'ready'; pid: number }
  | { type: 'load_failed'; field?: string; message: string }
  | { type: 'progress'; data: unknown }
  | { type: 'result'; index?: unknown; index_json?: string; files?: { name: string; file: string; mime?: string }[]; cacheable?: boolean; console_bytes?: number; console?: string }
  | { type: 'error'; code?: string; message: string; call?: string | null; traceback?: string[] | string; console_bytes?: number; console?: string };

function exitDescription(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exited with status ${code}`;
}

export class RProcess {
  private pending: Pending | undefined;
  private exited = false;
  private output = '';
  /** Resolves once the process has exited (its task, if any, has been told). */
  readonly whenEnded: Promise<void>;
  private endedNow: () => void = () => undefined;

  private constructor(private readonly child: ChildProcess, private readonly log: Logger, readonly workDir: string) {
    this.whenEnded = new Promise<void>((resolve) => { this.endedNow = resolve; });
  }

  /**
   * Starts R and loads the script; rejects with RLoadError when the script does not load. A start
   * that fails (the script does not load, R takes too long, R cannot be run at all) leaves nothing
   * behind: the process is gone, the message pipe closed and the work folder removed before the
   * promise rejects.
   */
  static async start(options: RProcessOptions): Promise<RProcess> {
    const pipe = await openMessagePipe();
    let workDir: string;
    let child: ChildProcess;
    try {
      workDir = await makeWorkDir();
    } catch (err) {
      closeMessagePipe(pipe);
      throw err;
    }
    try {
      child = spawn(options.rscript, ['--vanilla', RUNTIME_SCRIPT, options.scriptPath, options.functionName], {
        cwd: options.cwd,
        stdio: ['pipe', 'pipe', 'pipe', pipe.fd],
        // R's own session folder (tempdir()) goes inside the work folder, so it is removed with it
        // even when R is killed and cannot remove it itself.
        env: { ...(options.env ?? defaultServiceEnv('r')), TMPDIR: workDir },
      });
    } catch (err) {
      closeMessagePipe(pipe);
      await removeTaskDir(workDir);
      throw err;
    }
    const r = new RProcess(child, options.logger, workDir);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const startTimeoutMs = options.startTimeoutMs ?? START_TIMEOUT_MS;
    return new Promise<RProcess>((resolve, reject) => {
      let ready = false;
      let failed = false;
      /** The start failed: the process goes, then the pipe and the folder, then the caller hears why. */
      const fail = (err: Error): void => {
        if (ready || failed) return;
        failed = true;
        clearTimeout(timer);
        void (async () => {
          if (child.pid !== undefined && !r.exited) {
            child.kill('SIGKILL');
            await exited;
          }
          // Its stdio pipes would otherwise close only once read to their end, some time later.
          for (const stream of [child.stdin, child.stdout, child.stderr]) stream?.destroy();
          closeMessagePipe(pipe);
          await removeTaskDir(workDir).catch((rmErr: Error) => r.log.warn({ workDir, err: rmErr.message }, 'could not remove the work folder of an R process that did not start'));
          reject(err);
        })();
      };
      const timer = setTimeout(() => {
        fail(new RLoadError(`R did not load ${options.scriptPath} within ${startTimeoutMs / 1000} s`, 'entry'));
      }, startTimeoutMs);
      const capture = (chunk: Buffer): void => {
        r.output = tail(r.output + chunk.toString('utf8'), 8192);
        if (ready) r.log.debug({ output: chunk.toString('utf8').trimEnd() }, 'R printed outside a task');
      };
      child.stdout!.on('data', capture);
      child.stderr!.on('data', capture);
      child.stdin!.on('error', () => undefined); // a dead R shows up as 'exit'
      child.on('error', (err) => {
        // No 'exit' follows a spawn that failed (no such program): this is the only cleanup.
        if (ready) {
          r.log.warn({ err: err.message }, 'R process error');
          return;
        }
        const hint = (err as NodeJS.ErrnoException).code === 'ENOENT' ? ' (is R installed? apt-get install r-base-core r-cran-jsonlite, or give --rscript)' : '';
        fail(new RLoadError(`cannot start ${options.rscript}: ${err.message}${hint}`, 'runtime'));
      });
      child.on('exit', (code, signal) => {
        r.exited = true;
        if (!ready) {
          // R may have said why (load_failed) just before it exited: let that line be read first.
          const description = exitDescription(code, signal);
          setImmediate(() => {
            if (ready) closeMessagePipe(pipe); // it said ready, then died: the pool finds it dead
            else fail(new RLoadError(`R exited while loading ${options.scriptPath} (${description}): ${r.output.trim() || 'no output'}`, 'entry'));
            r.endedNow();
          });
          return;
        }
        closeMessagePipe(pipe);
        const pending = r.pending;
        r.pending = undefined;
        pending?.resolve({ kind: 'exit', description: exitDescription(code, signal) });
        r.endedNow();
      });
      onLines(pipe.socket, (line) => {
        let message: Incoming;
        try {
          message = JSON.parse(line) as Incoming;
        } catch {
          r.log.warn({ line: line.slice(0, 200) }, 'unreadable message from R; ignored');
          return;
        }
        if (message.type === 'ready') {
          if (failed) return;
          ready = true;
          clearTimeout(timer);
          resolve(r);
        } else if (message.type === 'load_failed') {
          fail(new RLoadError(message.message, message.field ?? 'entry'));
        } else {
          r.receive(message);
        }
      });
    });
  }

  get alive(): boolean {
    return !this.exited;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private receive(message: Exclude<Incoming, { type: 'ready' } | { type: 'load_failed' }>): void {
    const pending = this.pending;
    if (!pending) return;
    if (message.type === 'progress') {
      pending.progress(message.data);
      return;
    }
    this.pending = undefined;
    const console: ConsoleReport = { consoleBytes: message.console_bytes ?? 0, ...(typeof message.console === 'string' ? { console: message.console } : {}) };
    if (message.type === 'result') {
      const result = indexOf(message);
      if ('problem' in result) {
        pending.resolve({ kind: 'error', code: 'invalid_result', message: result.problem, call: null, traceback: [], ...console });
        return;
      }
      pending.resolve({ kind: 'result', ...result, files: message.files ?? [], cacheable: message.cacheable !== false, ...console });
    } else {
      const traceback = Array.isArray(message.traceback) ? message.traceback : typeof message.traceback === 'string' ? [message.traceback] : [];
      pending.resolve({ kind: 'error', code: message.code ?? 'r_error', message: message.message, call: message.call ?? null, traceback, ...console });
    }
  }

  /** The folder a task runs in (R creates it, and removes it when the next task starts). */
  taskDir(taskId: string): string {
    return join(this.workDir, taskId);
  }

  /** Runs one task in taskDir(taskId); resolves with its result, its R error, or the process's exit. */
  run(taskId: string, inputJson: string, progress: (data: unknown) => void): Promise<RReply> {
    if (this.exited) return Promise.resolve({ kind: 'exit', description: 'the R process had already exited' });
    if (this.pending) throw new Error('an R process runs one task at a time');
    return new Promise<RReply>((resolve) => {
      this.pending = { resolve, progress };
      this.child.stdin!.write(`${JSON.stringify({ base: this.workDir, id: taskId })}\n${inputJson}\n`);
    });
  }

  /** Stops the process at once (timeout, cancel): R gets no chance to run on. */
  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  /** Lets R finish and leave (end of input), killing it if it does not within `graceMs`. */
  async close(graceMs = 2000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.kill(), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/** The result's index, and its text as R wrote it when R sent that (index_json). */
function indexOf(message: { index?: unknown; index_json?: string }): { index: unknown; indexText?: string } | { problem: string } {
  if (typeof message.index_json !== 'string') return { index: message.index ?? null };
  try {
    return { index: JSON.parse(message.index_json) as unknown, indexText: message.index_json };
  } catch (err) {
    return { problem: `the result R wrote is not JSON: ${(err as Error).message}` };
  }
}
