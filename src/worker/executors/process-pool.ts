/**
 * One pool of warm processes per service, whatever runs in them (R, Node): one task per process at
 * a time. The runtime says how to start a process, run a task in it and clean up after it; the
 * pool decides how many there are.
 *
 * - At start, one process, awaited: a script that does not load fails the service at startup.
 * - A task that finds no idle process waits for one, and the pool starts one more for it unless
 *   it already holds the service's concurrency (`maxProcesses`).
 * - A process idle for `idleTimeoutMs` leaves, down to one: an idle laptop holds one process per
 *   service, not `concurrency` of them.
 * - A process that dies, between tasks or during one, or that a task's stop killed, is replaced
 *   at once, and whatever it leaves behind (its folder) is removed once it has exited and its task,
 *   if any, is done with it.
 */
import type { Logger } from 'pino';
import type { Executor, Outcome, TaskRun } from '../executor.ts';
import { stoppedOutcome } from '../executor.ts';

/** How long a process beyond the first may wait for a task before it leaves (`--executor-idle-timeout`). */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/** Measured with the bench's no-op Node service: one process serves 64 clients with no task waiting this long. */
export const DEFAULT_GROW_AFTER_MS = 20;

/** One process of a pool: the runtime's own class (RProcess, NodeProcess). */
export interface PooledProcess {
  readonly pid: number | undefined;
  readonly alive: boolean;
  /** Resolves once the process has exited, however, and its last messages have been read. */
  readonly whenEnded: Promise<void>;
  /** Stops the process, and what it started, at once. */
  kill(): void;
  /** Lets the process leave, killing it if it does not within a grace period. */
  close(): Promise<void>;
}

/** What a task did, and whether its process may take another. */
export interface ProcessRun { outcome: Outcome; reusable: boolean }

/** What a pool needs from a runtime. */
export interface ProcessRuntime<P extends PooledProcess> {
  /** `R`, `Node`: for messages. */
  readonly name: string;
  /** Starts one process, ready for a task; rejects when it cannot (the script does not load). */
  start(): Promise<P>;
  /**
   * Runs one task in `process` (which runs nothing else meanwhile), stopping it when task.signal
   * aborts. Never throws for the task's own failure. `reusable: false` when the process must not
   * take another task (it died, or was killed to stop the task).
   */
  run(process: P, task: TaskRun): Promise<ProcessRun>;
  /** Removes what an exited process leaves behind; called once per process. */
  cleanUp?(process: P): Promise<void>;
}

export interface ProcessPoolOptions<P extends PooledProcess> {
  runtime: ProcessRuntime<P>;
  /** Most processes at once: the service's concurrency. */
  maxProcesses: number;
  /** A process idle this long leaves, unless it is the last one (default DEFAULT_IDLE_TIMEOUT_MS). */
  idleTimeoutMs?: number;
  /**
   * A task that has waited this long for a busy process makes the pool start another (default
   * DEFAULT_GROW_AFTER_MS). Quick tasks are served by the processes there are, one after
   * another, instead of each starting a process (about 60 MB and a fraction of a CPU second).
   */
  growAfterMs?: number;
  logger: Logger;
}

/** Counts at one moment, for tests, logs and metrics; the last four only grow. */
export interface PoolStats {
  /** Started and not yet gone: busy or idle. */
  processes: number;
  /** Being started. */
  starting: number;
  idle: number;
  /** Tasks waiting for a process. */
  waiting: number;
  /** Processes started and ready, the first one included. */
  started: number;
  /** Starts that failed (the script did not load, the runtime is missing). */
  failedStarts: number;
  /** Processes started in place of one that left: it died, or was killed to stop its task. */
  restarted: number;
  /** Processes that died unasked: during a task (which fails `crashed`) or while idle. */
  crashed: number;
}

export interface ProcessPool extends Executor {
  /** Starts the first process and waits for it: a script that does not load makes this reject. */
  warm(): Promise<void>;
  /** Processes alive now (for tests and the registry). */
  pids(): number[];
  stats(): PoolStats;
}

interface Waiter<P> { resolve(process: P): void; reject(err: Error): void; since: number }

export function createProcessPool<P extends PooledProcess>(options: ProcessPoolOptions<P>): ProcessPool {
  const { runtime, maxProcesses, logger: log } = options;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  /** Every process started and not yet discarded, busy or idle. */
  const all = new Set<P>();
  /** Processes running a task. */
  const busy = new Set<P>();
  /** Ready processes without a task, the most recently used last (it is taken first, so the others age out). */
  const idle: P[] = [];
  const idleTimers = new Map<P, NodeJS.Timeout>();
  const waiters: Waiter<P>[] = [];
  /** Starts and clean-ups under way, for close() to wait for. */
  const pending = new Set<Promise<unknown>>();
  let starting = 0;
  const counts = { started: 0, failedStarts: 0, restarted: 0, crashed: 0 };
  let closed = false;
  const growAfterMs = options.growAfterMs ?? DEFAULT_GROW_AFTER_MS;
  let growTimer: NodeJS.Timeout | undefined;

  function track(work: Promise<unknown>): void {
    pending.add(work);
    void work.finally(() => pending.delete(work));
  }

  function leaveIdle(p: P): void {
    const at = idle.indexOf(p);
    if (at !== -1) idle.splice(at, 1);
    clearTimeout(idleTimers.get(p));
    idleTimers.delete(p);
  }

  /** Out of the pool for good: stopped, and what it leaves removed once it has exited. */
  function discard(p: P, how: 'kill' | 'close'): void {
    if (!all.delete(p)) return;
    leaveIdle(p);
    if (how === 'kill') p.kill();
    else void p.close();
    track(p.whenEnded.then(() => runtime.cleanUp?.(p)).catch((err: Error) => {
      log.warn({ pid: p.pid, err: err.message }, `could not clean up after a ${runtime.name} process`);
    }));
  }

  async function launch(): Promise<P> {
    starting++;
    try {
      const p = await runtime.start().catch((err: unknown) => { counts.failedStarts++; throw err; });
      counts.started++;
      all.add(p);
      void p.whenEnded.then(() => {
        // One running a task is the task's to hand back (its folder may still be read); this is one that died idle.
        if (!all.has(p) || busy.has(p)) return;
        log.warn({ pid: p.pid }, `an idle ${runtime.name} process exited; starting another`);
        counts.crashed++;
        discard(p, 'kill');
        replace();
      });
      return p;
    } finally {
      starting--;
    }
  }

  /** Hands a ready process to the first waiting task, else keeps it idle until it times out. */
  function offer(p: P): void {
    // Gone already (its whenEnded handler replaces it), or dying: no task should get it.
    if (!all.has(p) || !p.alive) return;
    if (closed) {
      discard(p, 'close');
      return;
    }
    const waiter = waiters.shift();
    if (waiter) {
      waiter.resolve(p);
      return;
    }
    idle.push(p);
    idleTimers.set(p, setTimeout(() => {
      idleTimers.delete(p);
      // The last process stays, warm for the next task.
      if (!idle.includes(p) || all.size <= 1) return;
      log.debug({ pid: p.pid }, `${runtime.name} process idle for ${idleTimeoutMs} ms; stopping it`);
      discard(p, 'close');
    }, idleTimeoutMs).unref());
  }

  function startInBackground(): void {
    const start = launch().then(offer, (err: Error) => {
      log.warn({ err: err.message }, `could not start a ${runtime.name} process`);
      // With no process left to wait for, the waiting tasks get the failure.
      if (all.size + starting === 0) for (const waiter of waiters.splice(0)) waiter.reject(err);
    });
    track(start);
  }

  /** A process is gone: another takes its place. */
  function replace(): void {
    if (closed || all.size + starting >= maxProcesses) return;
    counts.restarted++;
    startInBackground();
  }

  function acquire(): Promise<P> {
    if (closed) return Promise.reject(new Error(`the ${runtime.name} pool is closed`));
    for (let p = idle.pop(); p; p = idle.pop()) {
      leaveIdle(p);
      // One that died moments ago: its whenEnded handler replaces it.
      if (p.alive) return Promise.resolve(p);
    }
    return new Promise<P>((resolve, reject) => {
      waiters.push({ resolve, reject, since: performance.now() });
      // With no process at all (the last one died), one starts at once.
      if (growAfterMs === 0 || all.size + starting === 0) grow();
      else scheduleGrowth();
    });
  }

  /** One more process per task that has waited growAfterMs, up to the most allowed; the others wait for a busy one. */
  function grow(): void {
    growTimer = undefined;
    if (closed || waiters.length === 0) return;
    const now = performance.now();
    const overdue = all.size + starting === 0 ? waiters.length : waiters.filter((w) => now - w.since >= growAfterMs).length;
    while (!closed && starting < overdue && all.size + starting < maxProcesses) startInBackground();
    scheduleGrowth();
  }

  function scheduleGrowth(): void {
    if (growTimer || closed || waiters.length === 0 || all.size + starting >= maxProcesses) return;
    growTimer = setTimeout(grow, Math.max(0, waiters[0]!.since + growAfterMs - performance.now()));
  }

  /** The task is done with `p`: back to the pool, or replaced when it must not run another. */
  function release(p: P, reusable: boolean): void {
    busy.delete(p);
    if (reusable && p.alive && all.has(p)) {
      offer(p);
      return;
    }
    const wasMember = all.has(p);
    discard(p, 'kill');
    if (wasMember) replace();
  }

  async function run(task: TaskRun): Promise<Outcome> {
    if (task.signal.aborted) return stoppedOutcome(task.signal);
    let p: P;
    try {
      p = await acquire();
    } catch (err) {
      return { status: 'failed', error: { code: 'runtime_unavailable', message: `no ${runtime.name} process could be started: ${(err as Error).message}` } };
    }
    busy.add(p);
    if (task.signal.aborted) {
      release(p, true);
      return stoppedOutcome(task.signal);
    }
    let result: ProcessRun;
    try {
      result = await runtime.run(p, task);
    } catch (err) {
      // A fault of Errand's own, not the task's: the process is not trusted with another task.
      log.error({ taskId: task.taskId, err: (err as Error).message }, `the ${runtime.name} runtime failed a task`);
      result = { outcome: { status: 'failed', error: { code: 'crashed', message: `the ${runtime.name} runtime failed: ${(err as Error).message}` } }, reusable: false };
    }
    if (result.outcome.status === 'failed' && result.outcome.error.code === 'crashed') counts.crashed++;
    release(p, result.reusable);
    return result.outcome;
  }

  return {
    async warm() {
      offer(await launch());
    },

    run,

    pids: () => [...all].filter((p) => p.alive).map((p) => p.pid!),

    stats: () => ({ processes: all.size, starting, idle: idle.length, waiting: waiters.length, ...counts }),

    async close() {
      closed = true;
      clearTimeout(growTimer);
      for (const waiter of waiters.splice(0)) waiter.reject(new Error(`the ${runtime.name} pool is closing`));
      const ended = [...all].map((p) => p.whenEnded);
      for (const p of [...all]) discard(p, 'close');
      // Starts under way end in offer(), which discards them now that the pool is closed.
      while (pending.size > 0) await Promise.all([...pending]);
      await Promise.all(ended);
    },
  };
}
