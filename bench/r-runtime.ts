/**
 * The R runtime's own cost, without the pipeline: a task round trip to a warm R process (with the
 * reset between tasks), one `Rscript` process per task (the naive way), and what a fork of a warm
 * R costs (the Rserve way, the alternative to reset that was measured and not chosen).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pino from 'pino';
import { inlineManifest } from '../src/core/index.ts';
import { createRExecutor } from '../src/worker/index.ts';

const run = promisify(execFile);
const FOLDER = new URL('./services/rnoop/', import.meta.url).pathname;

export interface Percentiles { p50: number; p99: number }

function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50: at(0.5), p99: at(0.99) };
}

/** Round trip of a no-op task through the R executor: write the task, R runs and resets, read the reply. */
export async function warmRoundTrip(tasks: number): Promise<Percentiles> {
  const executor = createRExecutor({
    manifest: inlineManifest('rnoop', { runtime: 'r', entry: 'rnoop.R' }),
    folder: FOLDER, maxProcesses: 1, rscript: 'Rscript', logger: pino({ level: 'warn' }),
  });
  await executor.warm();
  const signal = new AbortController().signal;
  const samples: number[] = [];
  try {
    for (let i = 0; i < tasks + 50; i++) {
      const start = performance.now();
      const outcome = await executor.run({ taskId: 'ffffffffffffffff', service: 'rnoop', input: { n: i }, signal, progress: () => undefined });
      if (outcome.status !== 'done') throw new Error(JSON.stringify(outcome));
      if (i >= 50) samples.push(performance.now() - start); // the first 50 warm up
    }
  } finally {
    await executor.close();
  }
  return percentiles(samples);
}

/** The same work as one fresh `Rscript` per task: start R, load jsonlite, parse, answer. */
export async function rscriptPerTask(tasks: number): Promise<Percentiles> {
  const samples: number[] = [];
  const code = 'library(jsonlite); x <- fromJSON(commandArgs(TRUE)[1]); cat(toJSON(list()))';
  for (let i = 0; i < tasks; i++) {
    const start = performance.now();
    await run('Rscript', ['--vanilla', '-e', code, '{"n":1}']);
    samples.push(performance.now() - start);
  }
  return percentiles(samples);
}

/** Milliseconds per fork-and-reap of a warm R with jsonlite loaded (parallel::mcparallel + mccollect). */
export async function forkCost(forks: number): Promise<number> {
  const code = `suppressMessages(library(jsonlite)); n <- ${forks}; t0 <- proc.time()[["elapsed"]];
    for (i in 1:n) { j <- parallel::mcparallel(NULL); parallel::mccollect(j) };
    cat((proc.time()[["elapsed"]] - t0) * 1000 / n)`;
  const { stdout } = await run('Rscript', ['--vanilla', '-e', code]);
  return Number(stdout.trim());
}
