/**
 * One warm child process running a Node service (child.ts): started once with the module loaded,
 * then given tasks one at a time over its IPC channel. Owns the process and nothing else: the pool
 * decides when to start, reuse, kill or replace one.
 *
 * The child leads its own process group, so that a kill takes whatever the service started with
 * it, and so that a Ctrl-C meant for the worker does not end tasks the worker lets finish.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { ResultFile } from '../../../core/index.ts';
import type { FromChild, StopMessage, ToChild } from './protocol.ts';

// Beside this module, with its extension: child.js in the build (dist/), child.ts from the sources (tests).
const CHILD_SCRIPT = fileURLToPath(new URL(`./child${extname(import.meta.url)}`, import.meta.url));
// Services are TypeScript as often as not: a child that loads a .ts module (the service's, or
// child.ts itself) runs with tsx's loader, found from here so that it resolves wherever the
// service folder is. A JavaScript service in the build runs on plain Node.
const TSX_LOADER = import.meta.resolve('tsx');
const TYPESCRIPT = /\.[cm]?tsx?$/;

function loaderArgs(entryPath: string): string[] {
  return TYPESCRIPT.test(entryPath) || TYPESCRIPT.test(CHILD_SCRIPT) ? ['--import', TSX_LOADER] : [];
}
const START_TIMEOUT_MS = 60_000;
/** How long the IPC channel may take to deliver the last messages once the process has exited. */
const DRAIN_MS = 500;

export interface NodeProcessOptions {
  entryPath: string;
  /** The service folder: the process's working directory. */
  cwd: string;
  logger: Logger;
  startTimeoutMs?: number;
  /** The process's environment: the allowlisted one (environment.ts), never the worker's whole. */
  env: Record<string, string>;
}

export type NodeReply =
  | { kind: 'done'; index: unknown; files: ResultFile[]; cacheable: boolean }
  | { kind: 'failed'; code: string; message: string }
  | { kind: 'exit'; description: string };

/** The module does not load, or does not export `run`. */
export class NodeLoadError extends Error {}

interface Pending { run: number; resolve(reply: NodeReply): void; progress(data: unknown): void }

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

function bytes(content: Uint8Array): Buffer {
  return Buffer.isBuffer(content) ? content : Buffer.from(content.buffer, content.byteOffset, content.byteLength);
}

export class NodeProcess {
  private pending: Pending | undefined;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** The process has exited and its last messages have been read. */
  private ended = false;
  /** Resolves once the process has exited and its last messages have been read. */
  readonly whenEnded: Promise<void>;
  private endedNow: () => void = () => undefined;
  private fatal: string | undefined;
  private runs = 0;

  private constructor(private readonly child: ChildProcess, private readonly log: Logger) {
    this.whenEnded = new Promise<void>((resolve) => { this.endedNow = resolve; });
    // An idle pool does not keep the worker alive; a task or a start under way does (busy()).
    this.idle();
  }

  /** Starts the process and loads the module; rejects with NodeLoadError when it does not load. */
  static start(options: NodeProcessOptions): Promise<NodeProcess> {
    const child = fork(CHILD_SCRIPT, [options.entryPath], {
      cwd: options.cwd,
      execArgv: loaderArgs(options.entryPath),
      env: options.env,
      serialization: 'advanced',
      detached: true,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const p = new NodeProcess(child, options.logger);
    p.busy();
    const startTimeoutMs = options.startTimeoutMs ?? START_TIMEOUT_MS;
    return new Promise<NodeProcess>((resolve, reject) => {
      let ready = false;
      let failure: Error | undefined;
      /** The start failed: reject once the process is gone. */
      const fail = (err: Error): void => {
        if (ready || failure) return;
        failure = err;
        clearTimeout(timer);
        p.kill();
        void p.whenEnded.then(() => reject(err));
      };
      const timer = setTimeout(() => fail(new NodeLoadError(`${options.entryPath} did not load within ${startTimeoutMs / 1000} s`)), startTimeoutMs);
      child.on('error', (err) => {
        if (ready) {
          p.log.warn({ err: err.message }, 'Node service process error');
          return;
        }
        failure ??= new Error(`cannot start a Node process for ${options.entryPath}: ${err.message}`);
        clearTimeout(timer);
        if (child.pid === undefined) p.end(); // no process, so no 'exit' to wait for
        else p.kill();
        void p.whenEnded.then(() => reject(failure));
      });
      child.on('exit', (code, signal) => {
        p.exit = { code, signal };
        // Whatever the service left running goes with it.
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
        // Messages sent just before the exit may still be on their way: 'close' says they are in.
        const drained = setTimeout(() => p.end(), DRAIN_MS);
        child.once('close', () => {
          clearTimeout(drained);
          p.end();
        });
      });
      void p.whenEnded.then(() => {
        if (!ready) fail(new NodeLoadError(`the Node process exited while loading ${options.entryPath} (${p.description()})`));
      });
      child.on('message', (message: FromChild) => {
        if (message.type === 'ready') {
          if (failure) return;
          ready = true;
          clearTimeout(timer);
          p.idle();
          resolve(p);
        } else if (message.type === 'load_failed') {
          fail(new NodeLoadError(message.message));
        } else {
          p.receive(message);
        }
      });
    });
  }

  get alive(): boolean {
    return this.exit === undefined && !this.ended;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private description(): string {
    const how = this.exit?.signal ? `was killed by ${this.exit.signal}` : this.exit ? `exited with status ${this.exit.code}` : 'ended';
    return this.fatal === undefined ? how : `${how} after an uncaught exception: ${this.fatal}`;
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.idle();
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve({ kind: 'exit', description: this.description() });
    this.endedNow();
  }

  private busy(): void {
    this.child.ref();
    this.child.channel?.ref();
  }

  private idle(): void {
    this.child.unref();
    this.child.channel?.unref();
  }

  private receive(message: Exclude<FromChild, { type: 'ready' } | { type: 'load_failed' }>): void {
    if (message.type === 'fatal') {
      this.fatal = message.message;
      return;
    }
    const pending = this.pending;
    if (!pending || message.run !== pending.run) return; // about an earlier task: too late
    if (message.type === 'progress') {
      pending.progress(JSON.parse(message.data));
      return;
    }
    this.pending = undefined;
    this.idle();
    if (message.type === 'failed') {
      pending.resolve({ kind: 'failed', code: message.code, message: message.message });
    } else {
      const files = message.files.map((f) => ({ name: f.name, contentType: f.contentType, content: bytes(f.content) }));
      pending.resolve({ kind: 'done', index: JSON.parse(message.index), files, cacheable: message.cacheable });
    }
  }

  private send(message: ToChild): void {
    try {
      this.child.send(message);
    } catch (err) {
      // The channel is closing: the exit that follows resolves the task.
      this.log.debug({ err: (err as Error).message }, 'could not message a Node service process');
    }
  }

  /** Runs one task; resolves with its result, its error, or the process's exit. */
  run(task: { taskId: string; service: string; input: unknown }, progress: (data: unknown) => void): Promise<NodeReply> {
    if (!this.alive) return Promise.resolve({ kind: 'exit', description: `the Node process had already ${this.description()}` });
    if (this.pending) throw new Error('a Node service process runs one task at a time');
    const run = ++this.runs;
    return new Promise<NodeReply>((resolve) => {
      this.pending = { run, resolve, progress };
      this.busy();
      this.send({ type: 'run', run, ...task });
    });
  }

  /** Tells the task under way to stop (its ctx.signal aborts with `reason`). */
  abort(reason: StopMessage): void {
    if (this.pending && this.alive) this.send({ type: 'abort', run: this.pending.run, reason });
  }

  /** Stops the process and all it started at once; the task under way resolves as an exit. */
  kill(): void {
    if (this.exit || this.child.pid === undefined) return;
    killGroup(this.child.pid, 'SIGKILL');
  }

  /** Lets the process leave (it does when disconnected), killing it if it has not within `graceMs`. */
  async close(graceMs = 2000): Promise<void> {
    if (this.ended) return;
    this.busy();
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.whenEnded;
    clearTimeout(timer);
  }
}
