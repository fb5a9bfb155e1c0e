/** The command runtime with real processes: stdin/stdout, fd 3 progress, output files, failure, stop. */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inlineManifest } from '../../src/core/index.ts';
import type { Outcome, StopReason, TaskRun } from '../../src/worker/index.ts';
import { createCommandExecutor } from '../../src/worker/index.ts';
import { testLogger } from '../support/backends.ts';
import { eventually } from '../support/wait.ts';
import { alive } from '../support/processes.ts';

const FOLDER = fileURLToPath(new URL('../fixtures/commands/', import.meta.url));

function runWith(behaviour: string, input: unknown = {}, signal = new AbortController().signal, progress: unknown[] = [], program = './behave.sh') {
  const executor = createCommandExecutor({ manifest: inlineManifest('behave', { runtime: 'command', command: [program, behaviour] }), folder: FOLDER, logger: testLogger });
  const task: TaskRun = { taskId: '00000000000000c1', service: 'behave', input, signal, progress: (d) => progress.push(d) };
  return executor.run(task);
}

const failed = (o: Outcome) => (o as Extract<Outcome, { status: 'failed' }>).error;

test('the input arrives on stdin and the JSON on stdout is the result; empty stdout is null', async () => {
  assert.deepEqual(await runWith('echo', { a: [1, 'x'] }), { status: 'done', index: { a: [1, 'x'] }, files: [] });
  assert.deepEqual(await runWith('nothing'), { status: 'done', index: null, files: [] });
});

test('JSON lines on fd 3 are progress, in order; a line that is not JSON is skipped', async () => {
  const progress: unknown[] = [];
  const outcome = await runWith('progress', {}, undefined, progress);
  assert.equal(outcome.status, 'done');
  assert.deepEqual(progress, [{ progress: 10 }, { progress: 90 }]);
});

test('files left in ERRAND_OUTPUT_DIR are result files typed by extension; the task id and service are in the environment', async () => {
  const outcome = await runWith('files');
  assert.equal(outcome.status, 'done');
  const files = (outcome as Extract<Outcome, { status: 'done' }>).files;
  assert.deepEqual(files.map((f) => [f.name, f.contentType, f.content.toString()]), [['p.svg', 'image/svg+xml', '<svg/>'], ['table.csv', 'text/csv', 'a,b\n1,2\n']]);
  assert.deepEqual((await runWith('env') as { index: unknown }).index, { task: '00000000000000c1', service: 'behave' });
});

test('a non-zero exit fails with the last stderr line; stderr is kept as the console', async () => {
  const outcome = await runWith('fail');
  assert.equal(outcome.status, 'failed');
  assert.equal(failed(outcome).code, 'command_failed');
  assert.equal(failed(outcome).message, './behave.sh exited with status 3: the input was wrong');
  assert.deepEqual((failed(outcome).detail as { exitCode: number }).exitCode, 3);
  assert.equal(outcome.console, 'some detail\nthe input was wrong\n');
});

test('stdout that is not JSON fails with invalid_result; a missing program with runtime_unavailable', async () => {
  assert.equal(failed(await runWith('garbage')).code, 'invalid_result');
  assert.equal(failed(await runWith('x', {}, undefined, [], 'no-such-program-errand')).code, 'runtime_unavailable');
});

test('a stop kills the program and what it started, even one that ignores SIGTERM', async () => {
  for (const behaviour of ['sleep', 'stubborn']) {
    const controller = new AbortController();
    const progress: unknown[] = [];
    const running = runWith(behaviour, {}, controller.signal, progress);
    await eventually(() => progress.length === 1, `${behaviour} to start`);
    let childPid: number | undefined;
    if (behaviour === 'sleep') {
      // The grandchild's pid is in the task folder, which goes when the task ends: read it now.
      childPid = Number(await eventually(async () => {
        const dirs = (await readdir(tmpdir())).filter((d) => d.startsWith('errand-00000000000000c1-')).map((d) => join(tmpdir(), d));
        for (const d of dirs) {
          const text = await readFile(join(d, 'child.pid'), 'utf8').catch(() => '');
          if (text.trim()) return text.trim();
        }
        return undefined;
      }, 'the grandchild pid'));
    }
    // The program would run on far longer than this test waits: an outcome at all means it was stopped.
    controller.abort({ code: 'canceled', message: 'the task was canceled' } satisfies StopReason);
    const outcome = await running;
    assert.deepEqual(outcome.status, 'failed');
    assert.equal(failed(outcome).code, 'canceled');
    if (childPid !== undefined) await eventually(() => !alive(childPid!), 'the grandchild to be killed');
  }
});
