/** The R runtime with real R: Patavi's script convention, errors, console, isolation, kill and crash. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inlineManifest } from '../../src/core/index.ts';
import type { Manifest, ResultLimits } from '../../src/core/index.ts';
import type { Outcome, StopReason, TaskRun } from '../../src/worker/index.ts';
import { createRExecutor, RLoadError } from '../../src/worker/executors/r/index.ts';
import type { RExecutor } from '../../src/worker/executors/r/index.ts';
import { testLogger } from '../support/backends.ts';
import { describeWithR } from '../support/r.ts';
import { eventually } from '../support/wait.ts';
import { alive } from '../support/processes.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/r/', import.meta.url));

function rExecutor(entry: string, fields: Partial<Manifest> = {}, size = 1): RExecutor {
  const manifest = inlineManifest(fields.name ?? 'probe', { runtime: 'r', entry, ...fields });
  return createRExecutor({ manifest, folder: FIXTURES, maxProcesses: size, rscript: 'Rscript', logger: testLogger });
}

let next = 0;
function task(input: unknown, signal = new AbortController().signal, progress: unknown[] = []): TaskRun {
  return { taskId: `00000000000000${(next++).toString(16).padStart(2, '0')}`, service: 'probe', input, signal, progress: (d) => progress.push(d) };
}

/** What the probe's `meet` action reports: whether the other task arrived, and its process and times. */
interface Meeting { met: boolean; pid: number; started: number; ended: number }


void describeWithR('R runtime', () => {
  let r: RExecutor;
  before(async () => {
    r = rExecutor('probe.R');
    await r.warm();
  });
  after(() => r.close());

  test('the function gets params as R values and its return value is the JSON result', async () => {
    const value = { a: 1, list: [1, 2, 3], nested: { b: 'x', empty: {} }, records: [{ x: 1 }, { x: 2 }], nothing: null };
    const outcome = await r.run(task({ action: 'echo', value }));
    assert.deepEqual(outcome, { status: 'done', index: value, indexText: JSON.stringify(value), files: [] });
  });

  test('the result is the text jsonlite wrote, not the same value serialised again', async () => {
    const outcome = await r.run(task({ action: 'spelled' }));
    assert.equal(outcome.status, 'done');
    // JavaScript would move the integer-like keys first and spell 1e+20 out in full.
    assert.equal((outcome as { indexText?: string }).indexText, '{"big":1e+20,"2":"b","1":"a"}');
    assert.deepEqual((outcome as { index: unknown }).index, { big: 1e20, 2: 'b', 1: 'a' });
  });

  test('R values become JSON as Patavi clients expect (length-one vectors are scalars)', async () => {
    const outcome = await r.run(task({ action: 'types' }));
    assert.equal(outcome.status, 'done');
    assert.deepEqual((outcome as { index: unknown }).index, {
      scalar: 1.5, int: 2, vec: [1, 2, 3], empty: [], obj: { a: 1 }, na: null, null: null, str: 'é ✓', bool: true,
    });
  });

  test('update() reports progress while the task runs', async () => {
    const progress: unknown[] = [];
    const outcome = await r.run(task({ action: 'sleep', seconds: 0 }, undefined, progress));
    assert.equal(outcome.status, 'done');
    assert.deepEqual(progress, [{ progress: 1 }]);
  });

  test('save.plot makes png, jpeg and svg files of a multi-file result', async () => {
    const outcome = await r.run(task({ action: 'plots' }));
    assert.equal(outcome.status, 'done');
    const files = (outcome as Extract<Outcome, { status: 'done' }>).files;
    assert.deepEqual(files.map((f) => [f.name, f.contentType]), [['a.png', 'image/png'], ['b.jpeg', 'image/jpeg'], ['c.svg', 'image/svg+xml']]);
    assert.deepEqual([...files[0]!.content.subarray(1, 4)], [...Buffer.from('PNG')]);
    assert.deepEqual([...files[1]!.content.subarray(0, 2)], [0xff, 0xd8]);
    assert.match(files[2]!.content.toString('utf8'), /<svg/);
  });

  test('a file name that cannot be served fails invalid_result; files over the bounds fail result_too_large', async () => {
    for (const name of ['..', 'a\\b', 'bell\u0007', '']) {
      const outcome = await r.run(task({ action: 'named', name }));
      assert.equal(outcome.status, 'failed', name);
      const error = (outcome as Extract<Outcome, { status: 'failed' }>).error;
      assert.equal(error.code, 'invalid_result');
      assert.ok(error.message.includes(JSON.stringify(name)), error.message);
    }
    const bounded = async (limits: ResultLimits) => (await r.run({ ...task({ action: 'plots' }), limits }) as Extract<Outcome, { status: 'failed' }>).error;
    assert.deepEqual(await bounded({ maxFiles: 2, maxFileBytes: 1e9, maxResultBytes: 1e9 }), { code: 'result_too_large', message: 'the result has 3 files, over the limit of 2 files (--max-result-files)' });
    assert.match((await bounded({ maxFiles: 3, maxFileBytes: 100, maxResultBytes: 1e9 })).message, /"a.png" is \d+ bytes, over the limit of 100 bytes per file/);
    assert.match((await bounded({ maxFiles: 3, maxFileBytes: 1e9, maxResultBytes: 100 })).message, /over the limit of 100 bytes per result/);
  });

  test("an R error fails the task with R's message, the call and the calls that led to it", async () => {
    const outcome = await r.run(task({ action: 'fail', value: 'bad data' }));
    assert.equal(outcome.status, 'failed');
    const { error } = outcome as Extract<Outcome, { status: 'failed' }>;
    assert.equal(error.code, 'r_error');
    assert.equal(error.message, 'Error in inner_fn(x): inner failure: bad data');
    const detail = error.detail as { call: string; traceback: string[] };
    assert.equal(detail.call, 'inner_fn(x)');
    assert.ok(detail.traceback.some((c) => c.startsWith('outer_fn(')), detail.traceback.join(' | '));
    // The process survives an R error and runs the next task.
    assert.equal((await r.run(task({ action: 'echo', value: 1 }))).status, 'done');
  });

  test('printed output, messages and warnings are kept with the task, bounded to the end', async () => {
    const short = await r.run(task({ action: 'print', lines: 1 }));
    assert.equal(short.status, 'done');
    assert.match(short.console!, /hello from print/);
    assert.match(short.console!, /cat line/);
    assert.match(short.console!, /a message/);
    assert.match(short.console!, /Warning in probe\(params\): a warning/);
    const long = await r.run(task({ action: 'print', lines: 2000 }));
    assert.ok(Buffer.byteLength(long.console!) <= 33 * 1024, `console is ${Buffer.byteLength(long.console!)} bytes`);
    assert.match(long.console!, /^\[… \d+ earlier bytes omitted\]/);
    assert.match(long.console!, /line 002000/);
  });

  test('each task starts from the state the script left: globals, options, seed and folder are reset', async () => {
    assert.deepEqual((await r.run(task({ action: 'leak' }))), { status: 'done', index: { counter: 1 }, indexText: '{"counter":1}', files: [] });
    const look = await r.run(task({ action: 'look' }));
    assert.equal(look.status, 'done');
    const state = (look as { index: Record<string, unknown> }).index;
    assert.equal(state.counter, 0);
    assert.equal(state.leaked, false);
    assert.equal(state.option, 'unset');
    assert.equal(state.digits, 7);
    assert.notEqual(state.random, 0.2655086631, 'set.seed(1) of the previous task leaked');
    assert.equal(state.stray, false);
    // Still one warm process: isolation did not cost a restart.
    assert.equal(r.pids().length, 1);
  });

  test('a stop (timeout or cancel) kills the R process, and a fresh one takes over', async () => {
    const [pid] = r.pids();
    const controller = new AbortController();
    const progress: unknown[] = [];
    const running = r.run(task({ action: 'sleep', seconds: 60 }, controller.signal, progress));
    await eventually(() => progress.length === 1, 'the task to report progress');
    // The program would run on far longer than this test waits: an outcome at all means it was stopped.
    controller.abort({ code: 'timeout', message: 'the task ran longer than its PT1S timeout' } satisfies StopReason);
    const outcome = await running;
    assert.deepEqual(outcome, { status: 'failed', error: { code: 'timeout', message: 'the task ran longer than its PT1S timeout' } });
    assert.equal(alive(pid!), false, 'the R process still runs');
    await eventually(() => r.pids().length === 1, 'a replacement R process');
    assert.notEqual(r.pids()[0], pid);
    assert.equal((await r.run(task({ action: 'echo', value: 'after' }))).status, 'done');
  });

  test('an R process that dies fails only its task and is replaced', async () => {
    const quit = await r.run(task({ action: 'quit' }));
    assert.equal(quit.status, 'failed');
    assert.equal((quit as Extract<Outcome, { status: 'failed' }>).error.code, 'crashed');
    assert.match((quit as Extract<Outcome, { status: 'failed' }>).error.message, /exited with status 3/);

    const pidOutcome = await r.run(task({ action: 'pid' }));
    const pid = (pidOutcome as { index: number }).index;
    const controller = new AbortController();
    const progress: unknown[] = [];
    const running = r.run(task({ action: 'sleep', seconds: 60 }, controller.signal, progress));
    await eventually(() => progress.length === 1, 'the task to report progress');
    process.kill(pid, 'SIGKILL'); // the OOM killer, say
    const killed = await running;
    assert.equal((killed as Extract<Outcome, { status: 'failed' }>).error.code, 'crashed');
    assert.match((killed as Extract<Outcome, { status: 'failed' }>).error.message, /SIGKILL/);
    assert.equal((await r.run(task({ action: 'echo', value: 'next' }))).status, 'done');
  });

  test('a pool runs tasks in parallel, one per process', async () => {
    const pool = rExecutor('probe.R', {}, 2);
    try {
      await pool.warm();
      // Each task waits for the other to arrive: run one after the other, neither would meet it.
      const dir = await mkdtemp(join(tmpdir(), 'errand-meet-'));
      const meet = (me: string, other: string) => pool.run(task({ action: 'meet', dir, me, other, patience: 60 }));
      const outcomes = await Promise.all([meet('a', 'b'), meet('b', 'a')]);
      await rm(dir, { recursive: true, force: true });
      assert.deepEqual(outcomes.map((o) => o.status), ['done', 'done']);
      const [a, b] = outcomes.map((o) => (o as { index: Meeting }).index) as [Meeting, Meeting];
      assert.deepEqual([a.met, b.met], [true, true], 'the two tasks ran at the same time');
      assert.ok(a.started <= b.ended && b.started <= a.ended, `what the processes report overlaps: ${JSON.stringify([a, b])}`);
      assert.notEqual(a.pid, b.pid, 'in two processes');
    } finally {
      await pool.close();
    }
  });

  test('a script that does not load, or lacks its function, is refused at start naming the field', async () => {
    const broken = rExecutor('broken.R', { name: 'broken' });
    await assert.rejects(broken.warm(), (err: RLoadError) => err instanceof RLoadError && err.field === 'entry' && /unexpected/.test(err.message));
    await broken.close();
    const missing = rExecutor('nofunction.R', { name: 'nofunction' });
    await assert.rejects(missing.warm(), (err: RLoadError) => err.field === 'function' && /no function named nofunction/.test(err.message));
    await missing.close();
  });

  test('a null input reaches R as NULL, and printed bytes that are not UTF-8 do not cost the result', async () => {
    const odd = rExecutor('odd.R', { name: 'odd' });
    try {
      await odd.warm();
      assert.deepEqual(await odd.run(task(null)), { status: 'done', index: 'params is NULL', indexText: '"params is NULL"', files: [] });
      const bytes = await odd.run(task({ action: 'bytes' }));
      assert.equal(bytes.status, 'done');
      assert.match(bytes.console!, /^A.*B/);
    } finally {
      await odd.close();
    }
  });
});
