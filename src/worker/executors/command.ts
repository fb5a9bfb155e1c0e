/**
 * Any program as a service, one process per task: the input JSON on stdin, the result JSON on
 * stdout, progress as JSON lines written to file descriptor 3, output files in the folder named by
 * ERRAND_OUTPUT_DIR, and a non-zero exit for failure (with the end of stderr as the reason). A
 * program that creates the file named by ERRAND_NO_CACHE_FILE keeps its result out of the cache.
 * Each task runs in its own process group so that a timeout or cancel stops everything it started.
 */
import { spawn } from 'node:child_process';
import { access, mkdir, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from 'pino';
import { DEFAULT_RESULT_LIMITS, resultSizeError } from '../../core/index.ts';
import type { Manifest } from '../../core/index.ts';
import type { Executor, Outcome, TaskRun } from '../executor.ts';
import { stoppedOutcome } from '../executor.ts';
import { defaultServiceEnv } from '../environment.ts';
import { closeMessagePipe, makeTaskDir, mimeFor, onLines, openMessagePipe, readResultFiles, removeTaskDir, tail } from './process-io.ts';

/** Between SIGTERM and SIGKILL when a task is stopped. */
const KILL_GRACE_MS = 500;

export interface CommandExecutorOptions {
  manifest: Manifest;
  folder: string;
  logger: Logger;
  /** The program's environment (besides the ERRAND_* task variables); the allowlisted one by default. */
  env?: Record<string, string>;
}

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1)?.trim() ?? '';
}

export function createCommandExecutor(options: CommandExecutorOptions): Executor {
  const { manifest, folder } = options;
  const log = options.logger.child({ service: manifest.name, runtime: 'command' });
  const [program, ...args] = manifest.command as [string, ...string[]];
  const executable = program.startsWith('./') ? resolve(folder, program) : program;
  const baseEnv = options.env ?? defaultServiceEnv('command', manifest.env);

  async function execute(task: TaskRun, dir: string): Promise<Outcome> {
    const outputDir = join(dir, 'output');
    await mkdir(outputDir);
    // A program creates this file to say its result must never be served from the result cache.
    const noCacheFile = join(dir, 'no-cache');
    const pipe = await openMessagePipe();
    // A stop that came while the folder and pipe were being made has already fired its event:
    // the listener added below would never hear it, and the program would run to its end.
    if (task.signal.aborted) {
      closeMessagePipe(pipe);
      return stoppedOutcome(task.signal);
    }
    const child = spawn(executable, args, {
      cwd: folder,
      detached: true, // its own process group, killed as one
      stdio: ['pipe', 'pipe', 'pipe', pipe.fd],
      env: { ...baseEnv, ERRAND_TASK_ID: task.taskId, ERRAND_SERVICE: task.service, ERRAND_OUTPUT_DIR: outputDir, ERRAND_PROGRESS_FD: '3', ERRAND_NO_CACHE_FILE: noCacheFile },
    });
    onLines(pipe.socket, (line) => {
      try {
        task.progress(JSON.parse(line));
      } catch {
        log.debug({ taskId: task.taskId, line: line.slice(0, 200) }, 'progress line is not JSON; ignored');
      }
    });

    // The result printed on stdout is bounded by the whole result's bound: what is over it is not kept.
    const limits = task.limits ?? DEFAULT_RESULT_LIMITS;
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      if (stdoutBytes <= limits.maxResultBytes) stdout.push(chunk);
    });
    // A character split between two chunks is decoded whole once its last byte arrives.
    const live = new StringDecoder('utf8');
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr = tail(stderr + chunk.toString('utf8'));
      const text = live.write(chunk);
      if (text) task.console?.(text);
    });
    child.stdin!.on('error', () => undefined); // a program need not read its input
    child.stdin!.end(JSON.stringify(task.input ?? null));

    let killTimer: NodeJS.Timeout | undefined;
    const stop = (): void => {
      if (child.pid === undefined) return;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), KILL_GRACE_MS);
    };
    task.signal.addEventListener('abort', stop, { once: true });

    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | { error: Error }>((resolveExit) => {
      child.once('error', (error) => resolveExit({ error }));
      child.once('exit', (code, signal) => {
        // Whatever the program left running goes with it.
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
        child.once('close', () => resolveExit({ code, signal }));
      });
    });
    task.signal.removeEventListener('abort', stop);
    clearTimeout(killTimer);
    closeMessagePipe(pipe);

    const console = stderr.length > 0 ? { console: stderr } : {};
    if ('error' in exit) return { status: 'failed', error: { code: 'runtime_unavailable', message: `cannot run ${program}: ${exit.error.message}` } };
    if (task.signal.aborted) return { ...stoppedOutcome(task.signal), ...console };
    if (exit.code !== 0) {
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`;
      const reason = lastLine(stderr);
      return {
        status: 'failed',
        error: { code: 'command_failed', message: `${program} ${how}${reason ? `: ${reason}` : ''}`, detail: { exitCode: exit.code, signal: exit.signal, stderr } },
        ...console,
      };
    }
    const stdoutError = resultSizeError(stdoutBytes, limits);
    if (stdoutError) return { status: 'failed', error: { ...stdoutError, message: `${stdoutError.message}: printed on stdout` }, ...console };
    const text = Buffer.concat(stdout).toString('utf8').trim();
    let index: unknown = null;
    if (text.length > 0) {
      try {
        index = JSON.parse(text);
      } catch (err) {
        return { status: 'failed', error: { code: 'invalid_result', message: `stdout is not JSON: ${(err as Error).message}` }, ...console };
      }
    }
    const names = (await readdir(outputDir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
    const files = await readResultFiles(names.map((name) => ({ name, path: join(outputDir, name), contentType: mimeFor(name) })), task.limits);
    if ('error' in files) return { status: 'failed', error: files.error, ...console };
    const cacheable = !(await exists(noCacheFile));
    return { status: 'done', index, files, ...console, ...(cacheable ? {} : { cacheable: false }) };
  }

  return {
    async run(task) {
      if (task.signal.aborted) return stoppedOutcome(task.signal);
      const dir = await makeTaskDir(task.taskId);
      try {
        return await execute(task, dir);
      } finally {
        await removeTaskDir(dir);
      }
    },
    async close() {},
  };
}
