/**
 * The command runtime, continued (the basics — stdin/stdout, fd 3, files, failures, a stop of a
 * process group — are in command-runtime.test.ts): stops that come early or as a timeout, and the
 * bundled Python service `wordcount` run as the worker runs it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { inlineManifest } from '../../src/core/index.ts';
import type { Outcome, ServiceDefinition, StopReason, TaskRun } from '../../src/worker/index.ts';
import { createCommandExecutor, loadServiceDir } from '../../src/worker/index.ts';
import { testLogger } from '../support/backends.ts';
import { eventually } from '../support/wait.ts';
import { alive } from '../support/processes.ts';

const COMMANDS = fileURLToPath(new URL('../fixtures/commands/', import.meta.url));
const WORDCOUNT = fileURLToPath(new URL('../../services/wordcount/', import.meta.url));

let scratch: string;
before(async () => { scratch = await mkdtemp(join(tmpdir(), 'errand-command-test-')); });
after(async () => { await rm(scratch, { recursive: true, force: true }); });

let next = 0;
function task(service: string, input: unknown, signal = new AbortController().signal, progress: unknown[] = []): TaskRun {
  return { taskId: `00000000000000${(next++).toString(16).padStart(2, '0')}`, service, input, signal, progress: (d) => progress.push(d) };
}

const failed = (o: Outcome) => { assert.equal(o.status, 'failed', JSON.stringify(o)); return (o as Extract<Outcome, { status: 'failed' }>).error; };
const done = (o: Outcome) => { assert.equal(o.status, 'done', JSON.stringify(o)); return o as Extract<Outcome, { status: 'done' }>; };

/** The pids.sh fixture: records its pid and its child's in `pidFile`. */
function pidsExecutor(pidFile: string) {
  return createCommandExecutor({ manifest: inlineManifest('pids', { runtime: 'command', command: ['./pids.sh', pidFile] }), folder: COMMANDS, logger: testLogger });
}

describe('stopping a command', () => {
  test('a stop that comes while the task is still being set up ends it at once', async () => {
    const pidFile = join(scratch, 'early.pids');
    const controller = new AbortController();
    const running = pidsExecutor(pidFile).run(task('pids', {}, controller.signal));
    // run() has begun (its folder and pipe are on their way) but has not started the program.
    // The program would run on far longer than this test waits: an outcome at all means it was stopped.
    controller.abort({ code: 'canceled', message: 'the task was canceled' } satisfies StopReason);
    const outcome = await running;
    assert.deepEqual(failed(outcome), { code: 'canceled', message: 'the task was canceled' });
    // Had the program started, nothing it started may be left running.
    const pids = await readFile(pidFile, 'utf8').then((t) => t.trim().split(' ').map(Number), () => []);
    for (const pid of pids) await eventually(() => !alive(pid), `process ${pid} to be gone`);
  });

  test('a timeout ends the program and the child it started, with code timeout', async () => {
    const pidFile = join(scratch, 'timeout.pids');
    const controller = new AbortController();
    const progress: unknown[] = [];
    const running = pidsExecutor(pidFile).run(task('pids', {}, controller.signal, progress));
    await eventually(() => progress.length === 1, 'the program to report that it is running');
    const [program, child] = (await readFile(pidFile, 'utf8')).trim().split(' ').map(Number) as [number, number];
    assert.ok(alive(program) && alive(child));
    // The program would run on far longer than this test waits: an outcome at all means it was stopped.
    controller.abort({ code: 'timeout', message: 'the task ran longer than PT1S' } satisfies StopReason);
    const outcome = await running;
    assert.deepEqual(failed(outcome), { code: 'timeout', message: 'the task ran longer than PT1S' });
    await eventually(() => !alive(program) && !alive(child), 'the program and its child to be gone');
  });
});

describe('the wordcount service (Python)', () => {
  let service: ServiceDefinition;
  before(async () => {
    // Its own folder holding only wordcount, loaded as a worker loads a services folder.
    const dir = join(scratch, 'services');
    await cp(WORDCOUNT, join(dir, 'wordcount'), { recursive: true });
    const loaded = await loadServiceDir(dir, { defaultConcurrency: 1, logger: testLogger });
    assert.deepEqual(loaded.problems, []);
    service = loaded.services[0]!;
  });
  after(async () => { await service?.executor.close(); });

  test('its manifest loads: a command runtime with a schema, an example, a timeout and its README as docs', () => {
    assert.equal(service.name, 'wordcount');
    assert.equal(service.manifest.runtime, 'command');
    assert.deepEqual(service.manifest.command, ['python3', 'wordcount.py']);
    assert.equal(service.manifest.timeoutMs, 60_000);
    assert.deepEqual(service.manifest.example, { value: { text: 'the cat and the hat', top: 3 } });
    assert.match(service.docs ?? '', /^# wordcount/);
  });

  test('its example: totals, the top words, every count as CSV, and progress in order', async () => {
    const progress: unknown[] = [];
    const outcome = done(await service.executor.run(task('wordcount', service.manifest.example!.value, undefined, progress)));
    assert.deepEqual(outcome.index, {
      words: 5, distinct: 4,
      top: [{ word: 'the', count: 2 }, { word: 'cat', count: 1 }, { word: 'and', count: 1 }],
      counts: { href: 'counts.csv', 'content-type': 'text/csv' },
    });
    assert.deepEqual(outcome.files.map((f) => [f.name, f.contentType, f.content.toString()]), [['counts.csv', 'text/csv', 'word,count\nthe,2\ncat,1\nand,1\nhat,1\n']]);
    assert.deepEqual(progress, [{ progress: 10 }, { progress: 60 }, { progress: 100 }]);
  });

  test('words are counted whatever their case and punctuation; top defaults to ten', async () => {
    const text = "Don't stop. DON'T! 'Quoted', quoted; 1 2 3 4 5 6 7 8 9";
    const index = done(await service.executor.run(task('wordcount', { text }))).index as { words: number; distinct: number; top: Array<{ word: string; count: number }> };
    assert.equal(index.words, 14);
    assert.equal(index.distinct, 12);
    assert.equal(index.top.length, 10);
    assert.deepEqual(index.top.slice(0, 3), [{ word: "don't", count: 2 }, { word: 'quoted', count: 2 }, { word: 'stop', count: 1 }]);
  });

  test('a text with no words fails the task with the reason from stderr', async () => {
    const outcome = await service.executor.run(task('wordcount', { text: '  \n\t ' }));
    const error = failed(outcome);
    assert.equal(error.code, 'command_failed');
    assert.equal(error.message, 'python3 exited with status 1: text has no words');
    assert.equal(outcome.console, 'text has no words\n');
  });

  test('it runs by hand too, without the progress channel on fd 3', async () => {
    const out = join(scratch, 'by-hand');
    await mkdir(out);
    const child = promisify(execFile)('python3', ['wordcount.py'], { cwd: WORDCOUNT, env: { ...process.env, ERRAND_OUTPUT_DIR: out } });
    child.child.stdin!.end(JSON.stringify({ text: 'a b a' }));
    const { stdout } = await child;
    assert.deepEqual(JSON.parse(stdout).top, [{ word: 'a', count: 2 }, { word: 'b', count: 1 }]);
    assert.equal(await readFile(join(out, 'counts.csv'), 'utf8'), 'word,count\na,2\nb,1\n');
  });
});
