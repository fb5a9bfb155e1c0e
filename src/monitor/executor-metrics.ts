/**
 * A worker's executor processes (issue 14): for each service run by a pool of warm processes (R,
 * Node), the processes started, failed to start, restarted and crashed, and how many there are
 * now. Read from each pool's own counts when Prometheus scrapes: running a task costs nothing
 * more. Services that start a process per task (command) or run in the worker have no pool and
 * report nothing here.
 */
import type { Metrics, Sample } from './metrics.ts';

/** What a pool tells of itself (src/worker/executors/process-pool.ts). */
export interface PoolCounts { processes: number; starting: number; idle: number; waiting: number; started: number; failedStarts: number; restarted: number; crashed: number }

/** A service as the worker holds it: only what the metrics read. */
export interface PooledService { name: string; manifest: { runtime: string }; executor: object }

type Label = 'service' | 'runtime';

function poolOf(service: PooledService): { stats(): PoolCounts } | undefined {
  const executor = service.executor as { stats?: unknown };
  return typeof executor.stats === 'function' ? (executor as { stats(): PoolCounts }) : undefined;
}

export function executorMetrics(metrics: Metrics, services: readonly PooledService[]): void {
  const pools = services.flatMap((service) => {
    const pool = poolOf(service);
    return pool ? [{ labels: { service: metrics.service(service.name), runtime: service.manifest.runtime }, pool }] : [];
  });
  const each = (value: (counts: PoolCounts) => number, state?: string): Array<Sample<Label | 'state'>> =>
    pools.map(({ labels, pool }) => ({ labels: state === undefined ? labels : { ...labels, state }, value: value(pool.stats()) }));
  const labelNames = ['service', 'runtime'] as const;
  const counter = (name: string, help: string, value: (counts: PoolCounts) => number): void =>
    metrics.readAtScrape({ name, help, labelNames, type: 'counter' }, () => each(value));
  counter('errand_executor_process_starts_total', 'Executor processes started and ready, the first one of each service included.', (c) => c.started);
  counter('errand_executor_process_start_failures_total', 'Executor processes that failed to start (the script did not load, the runtime is missing).', (c) => c.failedStarts);
  counter('errand_executor_process_restarts_total', 'Executor processes started in place of one that left: it died, or was killed to stop its task (timeout, cancel).', (c) => c.restarted);
  counter('errand_executor_process_crashes_total', 'Executor processes that died unasked: during a task (which failed `crashed`) or while idle.', (c) => c.crashed);
  metrics.readAtScrape({ name: 'errand_executor_processes', help: 'Executor processes now, by state: busy (running a task), idle, starting.', labelNames: ['service', 'runtime', 'state'] }, () => [
    ...each((c) => c.processes - c.idle, 'busy'),
    ...each((c) => c.idle, 'idle'),
    ...each((c) => c.starting, 'starting'),
  ]);
  metrics.readAtScrape({ name: 'errand_executor_tasks_waiting', help: 'Tasks waiting for a process of their service\'s pool (all busy, one more starting).', labelNames }, () => each((c) => c.waiting));
}
