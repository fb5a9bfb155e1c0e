/**
 * The process pool behind R and Node services, with real processes: one at start, one more per
 * waiting task up to the service's concurrency and never past it, back to one after the idle
 * timeout, and a process that dies, idle or during a task, replaced and its folder removed.
 * Every assertion is on what the processes report (pids, folders), none on how long anything took.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inlineManifest } from '../../src/core/index.ts';
import type { Outcome, TaskRun } from '../../src/worker/index.ts';
import { startNodePool } from '../../src/worker/executors/node.ts';
import { createRExecutor } from '../../src/worker/executors/r/index.ts';
import type { ProcessPool } from '../../src/worker/executors/process-pool.ts';
import { testLogger } from '../support/backends.ts';
import { describeWithR } from '../support/r.ts';
import { eventually } from '../support/wait.ts';
import { alive } from '../support/processes.ts';

const NODE_FIXTURES = fileURLToPath(new URL('../fixtures/node/', import.meta.url));
const R_FIXTURES = fileURLToPath(new URL('../fixtures/r/', import.meta.url));

/** What a gather task reports: its process, and (R) that process's work folder. */
interface Where { pid: number; workDir?: string; met?: boolean; opened?: boolean }

interface Runtime {
  name: string;
  /** A pool of the gather fixture, warm (one process started). */
  start(maxProcesses: number, idleTimeoutMs?: number): Promise<ProcessPool>;
}

const runtimes: Runtime[] = [
  {
    name: 'Node',
    start: (maxProcesses, idleTimeoutMs) => startNodePool({ entryPath: join(NODE_FIXTURES, 'gather.ts'), service: 'gather', maxProcesses, idleTimeoutMs, logger: testLogger }),
  },
  {
    name: 'R',
    async start(maxProcesses, idleTimeoutMs) {
      const manifest = inlineManifest('gather', { runtime: 'r', entry: 'gather.R' });
      const pool = createRExecutor({ manifest, folder: R_FIXTURES, maxProcesses, idleTimeoutMs, rscript: 'Rscript', logger: testLogger });
      try {
        await pool.warm();
      } catch (err) {
        await pool.close();
        throw err;
      }
      return pool;
    },
  },
];

let next = 0;
function task(input: unknown, progress: (data: unknown) => void = () => undefined): TaskRun {
  return { taskId: `00000000000002${(next++).toString(16).padStart(2, '0')}`, service: 'gather', input, signal: new AbortController().signal, progress };
}

function where(outcome: Outcome): Where {
  assert.equal(outcome.status, 'done', JSON.stringify(outcome));
  return (outcome as Extract<Outcome, { status: 'done' }>).index as Where;
}


const sorted = (pids: Iterable<number>): number[] => [...pids].sort((a, b) => a - b);

let gates: string;
before(async () => { gates = await mkdtemp(join(tmpdir(), 'errand-pool-gates-')); });
after(() => rm(gates, { recursive: true, force: true }));

/** A folder the tasks of one test meet in. */
const gate = (): Promise<string> => mkdtemp(join(gates, 'gate-'));
const arrivals = async (dir: string): Promise<number> => (await readdir(dir)).filter((name) => name.startsWith('arrived-')).length;

function poolSuite(runtime: Runtime): void {
  /** Runs `body` with a fresh pool, closed afterwards whatever happens. */
  async function withPool(maxProcesses: number, idleTimeoutMs: number | undefined, body: (pool: ProcessPool) => Promise<void>): Promise<void> {
    const pool = await runtime.start(maxProcesses, idleTimeoutMs);
    try {
      await body(pool);
    } finally {
      await pool.close();
    }
  }

  test(`${runtime.name}: the pool starts one process; three tasks at once grow it to three`, () => withPool(3, undefined, async (pool) => {
    assert.equal(pool.pids().length, 1);
    assert.deepEqual(pool.stats(), { processes: 1, starting: 0, idle: 1, waiting: 0, started: 1, failedStarts: 0, restarted: 0, crashed: 0 });
    const dir = await gate();
    // Each waits until all three have arrived: they end only if they run at the same time.
    const results = (await Promise.all([1, 2, 3].map(() => pool.run(task({ action: 'gather', dir, count: 3 }))))).map(where);
    assert.deepEqual(results.map((r) => r.met), [true, true, true], 'the three tasks ran at the same time');
    const pids = new Set(results.map((r) => r.pid));
    assert.equal(pids.size, 3, 'in three processes');
    assert.deepEqual(sorted(pool.pids()), sorted(pids));
    // Grown, not replaced: the counts the metrics read (issue 14).
    assert.deepEqual({ ...pool.stats(), idle: 0 }, { processes: 3, starting: 0, idle: 0, waiting: 0, started: 3, failedStarts: 0, restarted: 0, crashed: 0 });
  }));

  test(`${runtime.name}: never more processes than the concurrency; tasks beyond it wait for a busy one`, () => withPool(2, undefined, async (pool) => {
    const dir = await gate();
    const outcomes = [1, 2, 3, 4].map(() => pool.run(task({ action: 'hold', dir })));
    await eventually(async () => (await arrivals(dir)) === 2 && pool.stats().waiting === 2, 'two tasks running and two waiting');
    const stats = pool.stats();
    assert.equal(stats.processes + stats.starting, 2, JSON.stringify(stats));
    await writeFile(join(dir, 'open'), '');
    const results = (await Promise.all(outcomes)).map(where);
    assert.ok(results.every((r) => r.opened), JSON.stringify(results));
    const pids = new Set(results.map((r) => r.pid));
    assert.equal(pids.size, 2, 'four tasks ran in two processes');
    assert.deepEqual(sorted(pool.pids()), sorted(pids));
  }));

  test(`${runtime.name}: after the idle timeout the pool shrinks back to one process, removing the others' folders`, () => withPool(3, 300, async (pool) => {
    const dir = await gate();
    const results = (await Promise.all([1, 2, 3].map(() => pool.run(task({ action: 'gather', dir, count: 3 }))))).map(where);
    const pids = new Set(results.map((r) => r.pid));
    assert.equal(pids.size, 3);
    await eventually(() => pool.pids().length === 1, 'the pool back to one process');
    const [kept] = pool.pids();
    assert.ok(pids.has(kept!), 'the one left is one of the three');
    const gone = results.filter((r) => r.pid !== kept);
    await eventually(() => gone.every((r) => !alive(r.pid)), 'the idle processes to exit');
    await eventually(() => gone.every((r) => r.workDir === undefined || !existsSync(r.workDir)), 'their folders to be removed');
    const kept1 = results.find((r) => r.pid === kept)!;
    if (kept1.workDir !== undefined) assert.ok(existsSync(kept1.workDir), 'the folder of the process left was removed');
    assert.equal(where(await pool.run(task({ action: 'where' }))).pid, kept, 'the next task runs in the process left');
  }));

  test(`${runtime.name}: a process killed while idle is replaced and its folder removed`, () => withPool(2, undefined, async (pool) => {
    const first = where(await pool.run(task({ action: 'where' })));
    process.kill(first.pid, 'SIGKILL');
    await eventually(() => pool.pids().length === 1 && pool.pids()[0] !== first.pid, 'a replacement process');
    if (first.workDir !== undefined) await eventually(() => !existsSync(first.workDir!), 'the dead process\'s folder to be removed');
    const second = where(await pool.run(task({ action: 'where' })));
    assert.notEqual(second.pid, first.pid);
    assert.deepEqual(pool.pids(), [second.pid]);
    const { started, restarted, crashed } = pool.stats();
    assert.deepEqual({ started, restarted, crashed }, { started: 2, restarted: 1, crashed: 1 });
  }));

  test(`${runtime.name}: a process killed during a task fails it as crashed, is replaced and its folder removed`, () => withPool(2, undefined, async (pool) => {
    const progress: Where[] = [];
    const running = pool.run(task({ action: 'sleep', seconds: 120 }, (data) => progress.push(data as Where)));
    await eventually(() => progress.length === 1, 'the task to run');
    const [victim] = progress;
    process.kill(victim!.pid, 'SIGKILL');
    const outcome = await running;
    assert.equal(outcome.status, 'failed');
    assert.equal((outcome as Extract<Outcome, { status: 'failed' }>).error.code, 'crashed');
    await eventually(() => pool.pids().length === 1 && pool.pids()[0] !== victim!.pid, 'a replacement process');
    if (victim!.workDir !== undefined) await eventually(() => !existsSync(victim!.workDir!), 'the dead process\'s folder to be removed');
    assert.notEqual(where(await pool.run(task({ action: 'where' }))).pid, victim!.pid);
    const { started, restarted, crashed, failedStarts } = pool.stats();
    assert.deepEqual({ started, restarted, crashed, failedStarts }, { started: 2, restarted: 1, crashed: 1, failedStarts: 0 });
  }));
}

describe('the Node process pool', () => poolSuite(runtimes[0]!));
await describeWithR('the R process pool', () => poolSuite(runtimes[1]!));

describe('growing the pool', () => {
  const quickTasks = async (growAfterMs: number): Promise<{ pids: Set<number>; processes: number }> => {
    const pool = await startNodePool({ entryPath: join(NODE_FIXTURES, 'gather.ts'), service: 'gather', maxProcesses: 8, growAfterMs, logger: testLogger });
    try {
      const results = (await Promise.all(Array.from({ length: 40 }, () => pool.run(task({ action: 'where' }))))).map(where);
      return { pids: new Set(results.map((r) => r.pid)), processes: pool.stats().processes + pool.stats().starting };
    } finally {
      await pool.close();
    }
  };

  test('quick tasks that never wait growAfterMs are served by the one process there is', async () => {
    const { pids, processes } = await quickTasks(600_000);
    assert.equal(pids.size, 1);
    assert.equal(processes, 1, 'no process started for them');
  });

  test('with growAfterMs 0 every waiting task starts a process, up to the concurrency', async () => {
    const { processes } = await quickTasks(0);
    assert.ok(processes > 1, `${processes} process(es)`);
  });
});
