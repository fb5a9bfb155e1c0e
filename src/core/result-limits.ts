/**
 * What a result may be: the names its files may have and how large it may grow. Scripts choose
 * both, and workers may be hostile, so the worker checks a result before sending it (the script's
 * author sees why it failed) and the recorder checks it again on arrival. Pure: the callers decide
 * what a problem does to the task (it fails, with the TaskError returned here).
 */
import type { TaskError } from './task.ts';

export interface ResultLimits {
  /** Files one result may carry. */
  maxFiles: number;
  /** Bytes one result file may have. */
  maxFileBytes: number;
  /**
   * Bytes of the whole result message as the worker sends it: the JSON result, or the multipart
   * body (index, files and their part headers). The worker and the recorder measure the same bytes.
   */
  maxResultBytes: number;
}

const MiB = 1024 * 1024;

/**
 * A few plots and tables per result, well under RabbitMQ's own message limit (128 MiB before 4.0,
 * 16 MiB from 4.0: raise its `max_message_size` to match a larger --max-result-size).
 */
export const DEFAULT_RESULT_LIMITS: ResultLimits = { maxFiles: 100, maxFileBytes: 32 * MiB, maxResultBytes: 64 * MiB };

/** File systems' usual limit on one name; also keeps names short enough for a header. */
export const MAX_RESULT_FILE_NAME_BYTES = 255;

// C0 controls, DEL and C1 controls: they break headers, logs and terminals.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** Half of a surrogate pair without the other half: not Unicode, and not storable as UTF-8. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why `name` cannot be a result file name, or undefined when it can. A result file is served at
 * `/task/:id/results/<name>` and may be saved under its name by a browser: it must be one plain
 * path segment, printable, and valid Unicode (PostgreSQL text cannot hold NUL or lone surrogates).
 */
export function resultFileNameProblem(name: string): string | undefined {
  // Scripts build the list of files (R's `files`, a Node service's saveFile): the type is not a given.
  if (typeof name !== 'string') return 'must be a string';
  if (name.length === 0) return 'must not be empty';
  if (name === '.' || name === '..') return 'must not be "." or ".."';
  if (name.includes('/') || name.includes('\\')) return 'must not contain "/" or "\\"';
  if (CONTROL.test(name)) return 'must not contain control characters';
  if (LONE_SURROGATE.test(name)) return 'must be valid Unicode';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_RESULT_FILE_NAME_BYTES) return `must be at most ${MAX_RESULT_FILE_NAME_BYTES} bytes (UTF-8), not ${bytes}`;
  return undefined;
}

/** The task error for a file name that cannot be used: `invalid_result`, naming the file. */
export function invalidFileNameError(name: string, problem: string): TaskError {
  return { code: 'invalid_result', message: `result file name ${JSON.stringify(name)} ${problem}` };
}

function tooLarge(message: string): TaskError {
  return { code: 'result_too_large', message };
}

export function fileCountError(count: number, limits: ResultLimits): TaskError | undefined {
  return count > limits.maxFiles ? tooLarge(`the result has ${count} files, over the limit of ${limits.maxFiles} files (--max-result-files)`) : undefined;
}

export function fileSizeError(name: string, bytes: number, limits: ResultLimits): TaskError | undefined {
  return bytes > limits.maxFileBytes
    ? tooLarge(`result file ${JSON.stringify(name)} is ${bytes} bytes, over the limit of ${limits.maxFileBytes} bytes per file (--max-result-file-size)`)
    : undefined;
}

export function resultSizeError(bytes: number, limits: ResultLimits): TaskError | undefined {
  return bytes > limits.maxResultBytes
    ? tooLarge(`the result is ${bytes} bytes, over the limit of ${limits.maxResultBytes} bytes per result (--max-result-size)`)
    : undefined;
}

/**
 * The first problem with a result's files: a bad or repeated name (`invalid_result`), too many files, a file
 * too large, or files that together exceed the whole result's bound (`result_too_large`).
 */
export function resultFilesError(files: ReadonlyArray<{ name: string; content: { length: number } }>, limits: ResultLimits): TaskError | undefined {
  const countError = fileCountError(files.length, limits);
  if (countError) return countError;
  let total = 0;
  const names = new Set<string>();
  for (const file of files) {
    const problem = resultFileNameProblem(file.name);
    if (problem) return invalidFileNameError(file.name, problem);
    if (names.has(file.name)) return { code: 'invalid_result', message: `the result has two files named ${JSON.stringify(file.name)}` };
    names.add(file.name);
    const sizeError = fileSizeError(file.name, file.content.length, limits);
    if (sizeError) return sizeError;
    total += file.content.length;
  }
  return resultSizeError(total, limits);
}
