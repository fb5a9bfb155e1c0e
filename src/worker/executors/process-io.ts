/**
 * What the R and command executors share: a per-task folder, a pipe for JSON-line messages from a
 * child process (fd 3), the bounded tail of a task's console, and output files read back.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_RESULT_LIMITS, fileCountError, fileSizeError, invalidFileNameError, resultFileNameProblem, resultSizeError } from '../../core/index.ts';
import type { ResultFile, ResultLimits, TaskError } from '../../core/index.ts';

/** What is kept of a task's printed output: its end, where errors are. */
export const MAX_CONSOLE_BYTES = 32 * 1024;

const run = promisify(execFile);

export async function makeTaskDir(taskId: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `errand-${taskId}-`));
}

/** A private folder for one long-lived process (an R process's tasks run in subfolders of it). */
export async function makeWorkDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'errand-r-'));
}

export async function removeTaskDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** The last MAX_CONSOLE_BYTES of a file, marked when cut; undefined when it is missing or empty. */
export async function readConsoleTail(path: string, limit = MAX_CONSOLE_BYTES): Promise<string | undefined> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const { size } = await handle.stat();
    if (size === 0) return undefined;
    const start = Math.max(0, size - limit);
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    const text = buffer.toString('utf8');
    return start > 0 ? `[… ${start} earlier bytes omitted]\n${text.replace(/^[^\n]*\n/, '')}` : text;
  } finally {
    await handle.close();
  }
}

/** Cuts a string to its last `limit` bytes (UTF-8), marked when cut: consoles travel in a message header. */
export function tail(text: string, limit = MAX_CONSOLE_BYTES): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= limit) return text;
  // Skip continuation bytes so the cut never splits a character.
  let start = bytes.length - limit;
  while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++;
  return `[… ${start} earlier bytes omitted]\n${bytes.subarray(start).toString('utf8')}`;
}

/**
 * A real pipe for the child's fd 3. Node gives children socket pairs, which R cannot open as
 * `/dev/fd/3`; a FIFO opened read-write (so the open does not block) is a pipe every language can
 * write to. The name is removed at once: only the two open ends remain.
 */
export async function openMessagePipe(): Promise<{ fd: number; socket: Socket }> {
  const dir = await mkdtemp(join(tmpdir(), 'errand-pipe-'));
  const path = join(dir, 'messages');
  try {
    await run('mkfifo', ['-m', '600', path]);
    const fd = openSync(path, 'r+');
    return { fd, socket: new Socket({ fd, readable: true, writable: false }) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Closes the parent's copy of the pipe. The socket owns the fd: destroy() closes it at once, so
 * closing the number again could close whatever file was opened meanwhile under the same number.
 */
export function closeMessagePipe(pipe: { fd: number; socket: Socket }): void {
  pipe.socket.destroy();
}

/** Splits a byte stream into lines, each handed over as soon as it is complete. */
export function onLines(socket: Socket, onLine: (line: string) => void): void {
  let pending: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => {
    let start = 0;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, start)) {
      pending.push(chunk.subarray(start, i));
      const line = Buffer.concat(pending).toString('utf8');
      pending = [];
      start = i + 1;
      if (line.length > 0) onLine(line);
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  });
}

const MIME_BY_EXTENSION: Record<string, string> = {
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', svg: 'image/svg+xml', gif: 'image/gif', pdf: 'application/pdf',
  json: 'application/json', csv: 'text/csv', txt: 'text/plain', html: 'text/html', md: 'text/markdown', rds: 'application/octet-stream',
};

export function mimeFor(name: string): string {
  const extension = /\.([A-Za-z0-9]+)$/.exec(name)?.[1]?.toLowerCase();
  return (extension && MIME_BY_EXTENSION[extension]) ?? 'application/octet-stream';
}

export interface FileRef { name: string; path: string; contentType: string }

/**
 * Reads the files a task produced; a missing or twice-named file, a name that cannot be served, or
 * files over the result bounds are the task's error. Sizes are checked before anything is read.
 */
export async function readResultFiles(refs: FileRef[], limits: ResultLimits = DEFAULT_RESULT_LIMITS): Promise<ResultFile[] | { error: TaskError }> {
  const countError = fileCountError(refs.length, limits);
  if (countError) return { error: countError };
  const names = new Set<string>();
  const sizes: number[] = [];
  for (const ref of refs) {
    const name = ref.name;
    const problem = resultFileNameProblem(name);
    if (problem) return { error: invalidFileNameError(name, problem) };
    if (names.has(name)) return { error: { code: 'invalid_result', message: `two result files are named ${JSON.stringify(name)}` } };
    names.add(name);
    const info = await stat(ref.path).catch(() => undefined);
    if (!info?.isFile()) return { error: { code: 'invalid_result', message: `result file ${JSON.stringify(name)} was not written (${ref.path})` } };
    const sizeError = fileSizeError(name, info.size, limits);
    if (sizeError) return { error: sizeError };
    sizes.push(info.size);
  }
  const totalError = resultSizeError(sizes.reduce((a, b) => a + b, 0), limits);
  if (totalError) return { error: totalError };
  const files: ResultFile[] = [];
  for (const ref of refs) files.push({ name: ref.name, contentType: ref.contentType, content: await readFile(ref.path) });
  return files;
}
