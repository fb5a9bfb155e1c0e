/**
 * Node services loaded from files run in a pool of child processes: what a service sees (ctx), what
 * its task reports, and that a task is stopped whatever its code does.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Outcome, StopReason, TaskRun } from '../../src/worker/index.ts';
import { loadServiceDir } from '../../src/worker/index.ts';
import { NodeLoadError, startNodePool } from '../../src/worker/executors/node.ts';
import type { NodeExecutor } from '../../src/worker/executors/node.ts';
import { testLogger } from '../support/backends.ts';
import { eventually } from '../support/wait.ts';
import { alive } from '../support/processes.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/node/', import.meta.url));
const CANCELED: StopReason = { code: 'canceled', message: 'the task was canceled' };
const TIMEOUT: StopReason = { code: 'timeout', message: 'the task ran longer than its PT1S timeout' };

const pools: NodeExecutor[] = [];
after(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

async function pool(fixture: string, size = 1): Promise<NodeExecutor> {
  const executor = await startNodePool({ entryPath: join(FIXTURES, fixture), service: fixture.replace(/\.ts$/, ''), maxProcesses: size, logger: testLogger });
  pools.push(executor);
  return executor;
}

let next = 0;
function task(input: unknown, signal = new AbortController().signal, progress: (data: unknown) => void = () => undefined): TaskRun {
  return { taskId: `00000000000001${(next++).toString(16).padStart(2, '0')}`, service: 'probe', input, signal, progress };
}


/** Runs a task and stops it once it is running in its process (it reports `{pid}` as progress). */
async function stopWhileRunning(executor: NodeExecutor, input: unknown, reason: StopReason): Promise<{ outcome: Outcome; pid: number; progress: unknown[] }> {
  const controller = new AbortController();
  const progress: unknown[] = [];
  let running!: (pid: number) => void;
  const started = new Promise<number>((resolve) => (running = resolve));
  const outcome = executor.run(task(input, controller.signal, (data) => {
    progress.push(data);
    const pid = (data as { pid?: number }).pid;
    if (pid !== undefined) running(pid);
  }));
  const pid = await started;
  controller.abort(reason);
  const result = await outcome;
  return { outcome: result, pid, progress };
}

test('a service spinning without ever yielding is killed once its grace period is over, and a fresh process takes over', async () => {
  const busy = await pool('busy.ts');
  // It spins for ever: an outcome at all means its process was killed. (That a service is told
  // first and may end on its own is the cooperative test below.)
  const { outcome, pid } = await stopWhileRunning(busy, { spin: true }, CANCELED);
  assert.deepEqual(outcome, { status: 'failed', error: CANCELED });
  assert.equal(alive(pid), false, 'the spinning process is still there');
  const after = await busy.run(task({}));
  assert.equal(after.status, 'done');
  const newPid = (after as { index: { pid: number } }).index.pid;
  assert.notEqual(newPid, pid);
  assert.deepEqual(busy.pids(), [newPid]);
});

test('a promise that never settles, its signal ignored, is ended the same way with the stop code', async () => {
  const hang = await pool('hang.ts');
  const { outcome, pid } = await stopWhileRunning(hang, {}, TIMEOUT);
  assert.deepEqual(outcome, { status: 'failed', error: TIMEOUT });
  assert.equal(alive(pid), false);
  await eventually(() => hang.pids().length === 1 && !hang.pids().includes(pid), 'a replacement process');
});

test('a cooperative service sees ctx.signal abort with the stop reason, ends at once and keeps its process', async () => {
  const behave = await pool('behave.ts');
  const { outcome, pid, progress } = await stopWhileRunning(behave, { action: 'wait-for-stop' }, CANCELED);
  assert.deepEqual(progress, [{ pid }, { stopped: CANCELED }]);
  // It threw when told to stop: the task reports how it was stopped, not what it threw.
  assert.deepEqual(outcome, { status: 'failed', error: CANCELED });
  assert.ok(alive(pid));
  assert.deepEqual(behave.pids(), [pid]);
  const stopped = new AbortController();
  stopped.abort(TIMEOUT);
  assert.deepEqual(await behave.run(task({ action: 'context' }, stopped.signal)), { status: 'failed', error: TIMEOUT }, 'a task stopped before it starts does not run');
});

test('progress values arrive in order, all before the result', async () => {
  const behave = await pool('behave.ts');
  const progress: unknown[] = [];
  const outcome = await behave.run(task({ action: 'progress', count: 300 }, undefined, (data) => progress.push(data)));
  assert.deepEqual(outcome, { status: 'done', index: { steps: 300 }, files: [] });
  assert.deepEqual(progress, Array.from({ length: 300 }, (_, i) => ({ step: i + 1 })));
});

test('ctx.noCache() marks only its own task\'s result as one the cache must not serve', async () => {
  const executor = await pool('behave.ts');
  const marked = await executor.run(task({ action: 'no-cache' }));
  assert.deepEqual(marked, { status: 'done', index: { volatile: true }, files: [], cacheable: false });
  // The same process's next task starts cacheable again.
  const next = await executor.run(task({ action: 'undefined' }));
  assert.deepEqual(next, { status: 'done', index: null, files: [] });
});

test('saveFile makes a multi-file result whose bytes arrive intact', async () => {
  const behave = await pool('behave.ts');
  const outcome = await behave.run(task({ action: 'files' }));
  assert.equal(outcome.status, 'done');
  const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  assert.deepEqual((outcome as Extract<Outcome, { status: 'done' }>).index, { bytes: { href: 'bytes.bin' } });
  const files = (outcome as Extract<Outcome, { status: 'done' }>).files;
  assert.deepEqual(files.map((f) => [f.name, f.contentType]), [['bytes.bin', 'application/octet-stream'], ['view.bin', 'application/octet-stream'], ['note.txt', 'text/plain']]);
  assert.ok(files.every((f) => Buffer.isBuffer(f.content)));
  assert.ok(files[0]!.content.equals(every));
  assert.ok(files[1]!.content.equals(every.subarray(250)), 'a Uint8Array view is sent as its own bytes');
  assert.equal(files[2]!.content.toString('utf8'), 'héllo\n');
});

test('a thrown error fails the task with its code when that is snake_case, else script_error', async () => {
  const behave = await pool('behave.ts');
  const cases: [unknown, Outcome][] = [
    [{ action: 'throw', code: 'bad_input', message: 'n must be positive' }, { status: 'failed', error: { code: 'bad_input', message: 'n must be positive' } }],
    [{ action: 'throw', code: 'ENOENT', message: 'no file' }, { status: 'failed', error: { code: 'script_error', message: 'no file' } }],
    [{ action: 'throw', code: 42, message: 'numbered' }, { status: 'failed', error: { code: 'script_error', message: 'numbered' } }],
    [{ action: 'throw-value', value: 'a bare string' }, { status: 'failed', error: { code: 'script_error', message: 'a bare string' } }],
    [{ action: 'throw-value', value: null }, { status: 'failed', error: { code: 'script_error', message: 'null' } }],
  ];
  for (const [input, expected] of cases) assert.deepEqual(await behave.run(task(input)), expected, JSON.stringify(input));
});

test('results are JSON: any JSON value, undefined as null, and a value JSON cannot hold fails the task', async () => {
  const behave = await pool('behave.ts');
  assert.deepEqual(await behave.run(task([1, 'two', { three: [3] }])), { status: 'done', index: [1, 'two', { three: [3] }], files: [] });
  assert.deepEqual(await behave.run(task('text')), { status: 'done', index: 'text', files: [] });
  assert.deepEqual(await behave.run(task(null)), { status: 'done', index: null, files: [] });
  assert.deepEqual(await behave.run(task({ action: 'undefined' })), { status: 'done', index: null, files: [] });
  assert.deepEqual(await behave.run(task({ action: 'not-json' })), { status: 'failed', error: { code: 'invalid_result', message: 'the result is not JSON: Do not know how to serialize a BigInt' } });
});

test('ctx names the task and the service; the service runs in a process of its own, in its folder', async () => {
  const behave = await pool('behave.ts');
  const run = task({ action: 'context' });
  const outcome = (await behave.run(run)) as Extract<Outcome, { status: 'done' }>;
  const index = outcome.index as { taskId: string; service: string; cwd: string; pid: number };
  assert.equal(index.taskId, run.taskId);
  assert.equal(index.service, 'probe');
  assert.equal(index.cwd, FIXTURES.replace(/\/$/, ''));
  assert.notEqual(index.pid, process.pid);
  assert.deepEqual(behave.pids(), [index.pid]);
});

test('a process that exits during a task fails only that task, with code crashed, and is replaced', async () => {
  const crash = await pool('crash.ts', 2);
  const [other, crashed] = await Promise.all([crash.run(task({ ms: 300 })), crash.run(task({ exit: 3 }))]);
  assert.equal(other.status, 'done');
  assert.deepEqual(crashed, { status: 'failed', error: { code: 'crashed', message: 'the Node process running the task exited with status 3' } });
  assert.equal((await crash.run(task({}))).status, 'done');
  await eventually(() => crash.pids().length === 2, 'the pool back at its size');
});

test('an exception nothing catches, thrown outside the task promise, crashes only its task', async () => {
  const crash = await pool('crash.ts');
  const [pid] = crash.pids();
  assert.deepEqual(await crash.run(task({ uncaught: 'boom from a timer' })), {
    status: 'failed',
    error: { code: 'crashed', message: 'the Node process running the task exited with status 1 after an uncaught exception: boom from a timer' },
  });
  assert.equal(alive(pid!), false);
  const after = await crash.run(task({}));
  assert.equal(after.status, 'done');
});

test('a process that dies between tasks is replaced before a task needs it', async () => {
  const crash = await pool('crash.ts');
  const outcome = (await crash.run(task({ later: 'thrown after its task' }))) as Extract<Outcome, { status: 'done' }>;
  const { pid } = outcome.index as { pid: number };
  await eventually(() => !alive(pid) && crash.pids().length === 1, 'a replacement for the dead process');
  assert.notDeepEqual(crash.pids(), [pid]);
  assert.equal((await crash.run(task({}))).status, 'done');
});

test('a module that does not export run, or does not load, is refused at load', async () => {
  await assert.rejects(pool('no-run.ts'), (err: Error) => err instanceof NodeLoadError && err.message === `${join(FIXTURES, 'no-run.ts')} does not export a function named run`);
  await assert.rejects(pool('throws-at-load.ts'), (err: Error) => err instanceof NodeLoadError && /this module cannot load/.test(err.message));
  const viaDefault = await pool('default-run.ts');
  assert.deepEqual(await viaDefault.run(task({ a: 1 })), { status: 'done', index: { got: { a: 1 } }, files: [] });
});

test('close() stops every process of the pool', async () => {
  const executor = await startNodePool({ entryPath: join(FIXTURES, 'behave.ts'), service: 'behave', maxProcesses: 3, logger: testLogger });
  // Three tasks at once grow the pool to three processes; stopped, they leave them idle.
  const stops = [0, 1, 2].map(() => new AbortController());
  const running: number[] = [];
  const outcomes = stops.map((stop) => executor.run(task({ action: 'wait-for-stop' }, stop.signal, (data) => {
    const pid = (data as { pid?: number }).pid;
    if (pid !== undefined) running.push(pid);
  })));
  await eventually(() => running.length === 3, 'three tasks running');
  for (const stop of stops) stop.abort(CANCELED);
  await Promise.all(outcomes);
  const pids = executor.pids();
  assert.deepEqual([...pids].sort(), [...new Set(running)].sort(), 'one process per task, all kept');
  await executor.close();
  assert.deepEqual(pids.filter(alive), []);
  assert.deepEqual(executor.pids(), []);
});

test('a services folder: a Node service runs in the pool, one without run is reported on its entry field', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'errand-node-services-'));
  try {
    await mkdir(join(dir, 'spin'));
    await writeFile(join(dir, 'spin', 'service.json'), '{"entry": "index.ts", "concurrency": 2}');
    await writeFile(join(dir, 'spin', 'index.ts'), 'export function run(input: { spin?: boolean }, ctx: { progress(x: unknown): void }) {\n  ctx.progress({ pid: process.pid });\n  while (input.spin) { /* busy */ }\n  return { pid: process.pid };\n}\n');
    await mkdir(join(dir, 'no-run'));
    await writeFile(join(dir, 'no-run', 'service.json'), '{"entry": "index.ts"}');
    await writeFile(join(dir, 'no-run', 'index.ts'), 'export const walk = () => 1;\n');
    const loaded = await loadServiceDir(dir, { defaultConcurrency: 1, logger: testLogger });
    try {
      assert.deepEqual(loaded.problems.map((p) => [p.field, p.message]), [['entry', `entry: ${join(dir, 'no-run', 'index.ts')} does not export a function named run`]]);
      const spin = loaded.services.find((s) => s.name === 'spin')!;
      const { outcome, pid } = await stopWhileRunning(spin.executor as NodeExecutor, { spin: true }, TIMEOUT);
      assert.deepEqual(outcome, { status: 'failed', error: TIMEOUT });
      assert.equal(alive(pid), false);
    } finally {
      await Promise.all(loaded.services.map((s) => s.executor.close()));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
