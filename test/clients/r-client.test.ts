/**
 * The R client (clients/r/errand.R, issue 15) against the embedded default, `errand dev` with its
 * bundled services, as a real process: an R session submits, waits with its progress in the
 * console, reads results and a plot, cancels, and gets Errand's errors as R conditions.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/build.ts';
import { spawnErrand, stopAll } from '../support/processes.ts';
import type { RunningErrand } from '../support/processes.ts';
import { describeWithR } from '../support/r.ts';
import { eventually } from '../support/wait.ts';

const run = promisify(execFile);
const CLIENT = join(REPO_ROOT, 'clients/r/errand.R');

void describeWithR('the R client against errand dev', () => {
  let dir: string;
  let dev: RunningErrand;
  let base: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'errand-r-client-'));
    dev = spawnErrand(['dev', '--port', '0', '--data-dir', join(dir, 'data')]);
    await eventually(() => dev.output().includes('Ctrl-C stops') || dev.child.exitCode !== null, 'errand dev to print its banner', 60_000);
    base = /Open (\S+)\//.exec(dev.output())![1]!;
  });
  after(async () => {
    await stopAll([dev]);
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs R code after sourcing the client, with ERRAND_URL set; answers what it printed. */
  async function r(code: string): Promise<{ stdout: string; stderr: string }> {
    const script = join(dir, `script-${Math.random().toString(16).slice(2)}.R`);
    await writeFile(script, `source(${JSON.stringify(CLIENT)})\n${code}\n`);
    return run('Rscript', ['--vanilla', script], { env: { ...process.env, ERRAND_URL: base }, cwd: dir });
  }

  test('errand_submit, errand_wait with a progress bar and the script\'s messages, errand_results', async () => {
    const { stdout, stderr } = await r(`
      task <- errand_submit("slow", list(duration = 1))
      ended <- errand_wait(task)
      result <- errand_results(ended)
      cat(jsonlite::toJSON(list(id = task$id, queued = task$status, status = ended$status, duration = result$duration, plot = result$plot$href), auto_unbox = TRUE), "\\n")
    `);
    const answer = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    assert.equal(answer.queued, 'queued');
    assert.equal(answer.status, 'done');
    assert.equal(answer.duration, 1);
    assert.equal(answer.plot, 'duration.png');
    // txtProgressBar draws on stdout; messages go to stderr.
    assert.match(stdout, /\|=+\| 100%/);
    assert.match(stderr, /step \d+ of 100/);
  });

  test('a regression with its plot saved to a file, and results as text exactly as R wrote them', async () => {
    const { stdout } = await r(`
      task <- errand_submit("regression", list(formula = "weight ~ height", data = list(height = c(58, 60, 62, 64, 66), weight = c(115, 120, 126, 132, 139))))
      ended <- errand_wait(task, quiet = TRUE)
      fit <- errand_results(ended)
      errand_file(ended, "diagnostics.png", "diagnostics.png")
      cat(jsonlite::toJSON(list(n = fit$n, terms = fit$coefficients$term, text = substr(errand_results(ended, text = TRUE), 1, 12)), auto_unbox = TRUE), "\\n")
    `);
    const answer = JSON.parse(stdout.trim()) as { n: number; terms: string[]; text: string };
    assert.equal(answer.n, 5);
    assert.deepEqual(answer.terms, ['(Intercept)', 'height']);
    assert.equal(answer.text, '{"formula":"');
    const png = await readFile(join(dir, 'diagnostics.png'));
    assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  });

  test('errors are errand_error conditions with status, code and field; the results of a failed task raise its code; cancel', async () => {
    const { stdout } = await r(`
      code <- function(expr) tryCatch({ expr; "no error" }, errand_error = function(e) paste(e$status, e$code, if (is.null(e$field)) "-" else e$field))
      failing <- errand_wait(errand_submit("slow", list(duration = 0.1, fail = TRUE)), quiet = TRUE)
      long <- errand_submit("slow", list(duration = 60, silent = TRUE))
      canceled <- errand_cancel(long)
      cat(jsonlite::toJSON(list(
        unknown = code(errand_submit("nosuch", list())),
        invalid = code(errand_submit("slow", list(duration = "soon"))),
        missing = code(errand_task("0000000000000000")),
        failed = failing$status,
        failedResults = code(errand_results(failing)),
        canceled = canceled$status,
        again = code(errand_cancel(long)),
        down = code(errand_task("0000000000000000", client = errand_client("http://127.0.0.1:9")))
      ), auto_unbox = TRUE), "\\n")
    `);
    const answer = JSON.parse(stdout.trim()) as Record<string, string>;
    assert.deepEqual(answer, {
      unknown: '400 unknown_service service',
      invalid: '400 invalid_input duration',
      missing: '404 not_found id',
      failed: 'failed',
      failedResults: '200 r_error -',
      canceled: 'canceled',
      again: '409 task_ended id',
      down: '0 connection_failed -',
    });
  });
}, ['jsonlite', 'curl']);
