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
}

/** What the task printed: inline when small, else only its size (the rest is in the file). */
export interface ConsoleReport { consoleBytes: number; console?: string }

export type RReply =
  | ({ kind: 'result'; index: unknown; files: { name: string; file: string; mime?: string }[] } & ConsoleReport)
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
  | { type: 'result'; index: unknown; files?: { name: string; file: string; mime?: string }[]; console_bytes?: number; console?: string }
  | { type: 'error'; code?: string; message: string; call?: string | null; traceback?: string[] | string; console_bytes?: number; console?: string };

function exitDescription(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exited with status ${code}`;
}

export class RProcess {
  private pending: Pending | undefined;
  private exited = false;
  private output = '';

  private constructor(private readonly child: ChildProcess, private readonly log: Logger, readonly workDir: string) {}

  /** Starts R and loads the script; rejects with RLoadError when the script does not load. */
  static async start(options: RProcessOptions): Promise<RProcess> {
    const pipe = await openMessagePipe();
    const workDir = await makeWorkDir();
    const child = spawn(options.rscript, ['--vanilla', RUNTIME_SCRIPT, options.scriptPath, options.functionName], {
      cwd: options.cwd,
      stdio: ['pipe', 'pipe', 'pipe', pipe.fd],
    });
    const r = new RProcess(child, options.logger, workDir);
    return new Promise<RProcess>((resolve, reject) => {
      let started = false;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new RLoadError(`R did not load ${options.scriptPath} within ${START_TIMEOUT_MS / 1000} s`, 'entry'));
      }, START_TIMEOUT_MS);
      const capture = (chunk: Buffer): void => {
        r.output = tail(r.output + chunk.toString('utf8'), 8192);
        if (started) r.log.debug({ output: chunk.toString('utf8').trimEnd() }, 'R printed outside a task');
      };
      child.stdout!.on('data', capture);
      child.stderr!.on('data', capture);
      child.stdin!.on('error', () => undefined); // a dead R shows up as 'exit'
      child.on('error', (err) => {
        clearTimeout(timer);
        const hint = (err as NodeJS.ErrnoException).code === 'ENOENT' ? ' (is R installed? apt-get install r-base-core r-cran-jsonlite, or give --rscript)' : '';
        reject(new RLoadError(`cannot start ${options.rscript}: ${err.message}${hint}`, 'runtime'));
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        r.exited = true;
        closeMessagePipe(pipe);
        if (!started) {
          void removeTaskDir(workDir);
          reject(new RLoadError(`R exited while loading ${options.scriptPath} (${exitDescription(code, signal)}): ${r.output.trim() || 'no output'}`, 'entry'));
        }
        const pending = r.pending;
        r.pending = undefined;
        pending?.resolve({ kind: 'exit', description: exitDescription(code, signal) });
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
          started = true;
          clearTimeout(timer);
          resolve(r);
        } else if (message.type === 'load_failed') {
          started = true; // the exit that follows is expected
          clearTimeout(timer);
          reject(new RLoadError(message.message, message.field ?? 'entry'));
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
      pending.resolve({ kind: 'result', index: message.index, files: message.files ?? [], ...console });
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
