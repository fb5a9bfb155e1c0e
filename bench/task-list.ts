/**
 * The task list against history (issue 14: "p95 under 20 ms for a filtered first page" on 10
 * million tasks): with --history N, each errand-history run also times first pages of GET /tasks,
 * one request at a time over HTTP while the roles run, filtered as users and operators filter:
 * the bench key's own tasks (a `read` key: its owner filter is implied), and with a `read:all` key
 * made for the measure, by service, status, owner, error code and created window, each picking out
 * the few tasks the history's MIX made rare. The filters take turns; one pass before the measure
 * warms the server and the database's caches, as an operator's second look would find them.
 */
import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';
import { DEFAULT_TASK_LIST_LIMIT } from '../src/core/index.ts';
import type { TaskListQuery, TaskStatus } from '../src/core/index.ts';
import { spawnErrand } from '../test/support/processes.ts';
import { MIX } from './history-fill.ts';
import { percentiles } from './stats.ts';
import type { Latency } from './stats.ts';

export interface TaskListMeasure extends Latency {
  requests: number;
  /** Each filter's share of the requests. */
  byFilter: Record<string, Latency & { tasks: number }>;
}

/** A filter as a user (the bench key, `read`: its own tasks) or an operator (`read:all`) asks it. */
export interface Filter { name: string; who: 'user' | 'operator'; params: Record<string, string>; query: string }

/** The principal of the bench key (history-fill.ts's): a user's list is implied to be its own. */
const BENCH_PRINCIPAL = 'key:bench';

/** The filters, for history created between `spanStart` and `spanEnd`. */
export function listFilters(spanStart: Date, spanEnd: Date): Filter[] {
  // An hour from the middle of the history.
  const middle = new Date((spanStart.getTime() + spanEnd.getTime()) / 2);
  const filter = (name: string, who: Filter['who'], params: Record<string, string>): Filter => ({ name, who, params, query: new URLSearchParams(params).toString() });
  return [
    filter('own', 'user', {}),
    filter('own status=failed', 'user', { status: 'failed' }),
    filter(`service=${MIX.otherService}`, 'operator', { service: MIX.otherService }),
    filter('status=failed', 'operator', { status: 'failed' }),
    filter('owner (1 %)', 'operator', { owner: MIX.otherPrincipal }),
    filter(`errorCode=${MIX.rareCode}`, 'operator', { errorCode: MIX.rareCode }),
    filter(`service=${MIX.otherService}&status=failed`, 'operator', { service: MIX.otherService, status: 'failed' }),
    // Two filters whose tasks never meet: an index per filter would read all of either's to find none.
    filter('owner (1 %)&status=failed (none)', 'operator', { owner: MIX.otherPrincipal, status: 'failed' }),
    filter('created 1 h', 'operator', { createdSince: middle.toISOString(), createdUntil: new Date(middle.getTime() + 3_600_000).toISOString() }),
  ];
}

/** The store's query for a filter's first page, as the route makes it (for EXPLAIN: task-list-plans.ts). */
export function storeQuery(filter: Filter, limit = DEFAULT_TASK_LIST_LIMIT): TaskListQuery {
  const p = filter.params;
  return {
    limit,
    ...(p.service !== undefined ? { service: p.service } : {}),
    ...(p.status !== undefined ? { statuses: [p.status as TaskStatus] } : {}),
    ...(filter.who === 'user' ? { owner: BENCH_PRINCIPAL } : p.owner !== undefined ? { owner: p.owner } : {}),
    ...(p.errorCode !== undefined ? { errorCode: p.errorCode } : {}),
    ...(p.createdSince !== undefined ? { createdSince: new Date(p.createdSince) } : {}),
    ...(p.createdUntil !== undefined ? { createdUntil: new Date(p.createdUntil) } : {}),
  };
}

/** Makes a `read:all` key in the database (as an operator would), and revokes it when done. */
async function withOperatorKey<T>(databaseUrl: string, use: (key: string) => Promise<T>): Promise<T> {
  const name = `bench-ops-${randomBytes(4).toString('hex')}`;
  const create = spawnErrand(['keys', 'create', name, '--scope', 'read:all', '--database-url', databaseUrl]);
  if ((await create.exited).code !== 0) throw new Error(create.output());
  try {
    return await use(create.output().trim().split('\n').at(-1)!);
  } finally {
    await spawnErrand(['keys', 'revoke', name, '--database-url', databaseUrl]).exited;
  }
}

/** `requests` first pages (the default limit, 50), the filters in turn, one at a time. */
export async function measureTaskList(base: string, target: { databaseUrl: string; apiKey: string }, filters: Filter[], requests: number): Promise<TaskListMeasure> {
  return withOperatorKey(target.databaseUrl, async (operatorKey) => {
    const pool = new Pool(base, { connections: 1 });
    const get = async (filter: Filter): Promise<number> => {
      const response = await pool.request({
        path: `/tasks${filter.query ? `?${filter.query}` : ''}`, method: 'GET',
        headers: { authorization: `Bearer ${filter.who === 'user' ? target.apiKey : operatorKey}` },
      });
      const text = await response.body.text();
      if (response.statusCode !== 200) throw new Error(`GET /tasks?${filter.query} answered ${response.statusCode}: ${text.slice(0, 300)}`);
      return (JSON.parse(text) as { tasks: unknown[] }).tasks.length;
    };
    try {
      const found = new Map<string, number>();
      for (const filter of filters) found.set(filter.name, await get(filter)); // warm-up, not measured
      const samples = new Map<string, number[]>(filters.map((f) => [f.name, []]));
      for (let i = 0; i < requests; i++) {
        const filter = filters[i % filters.length]!;
        const start = performance.now();
        await get(filter);
        samples.get(filter.name)!.push(performance.now() - start);
      }
      const all = [...samples.values()].flat();
      const byFilter = Object.fromEntries([...samples].filter(([, s]) => s.length > 0).map(([name, s]) => [name, { ...percentiles(s), tasks: found.get(name)! }]));
      return { ...percentiles(all), requests: all.length, byFilter };
    } finally {
      await pool.close();
    }
  });
}

/** One run's line: the p95 over all requests, and each filter's. */
export function taskListLine(round: number, runs: number, m: TaskListMeasure): string {
  const filters = Object.entries(m.byFilter).map(([name, l]) => `${name} ${l.p95.toFixed(1)}`).join(', ');
  return `  [${round}/${runs}] errand-history task list: ${m.requests} first pages, p50 ${m.p50.toFixed(2)} ms, p95 ${m.p95.toFixed(2)} ms, p99 ${m.p99.toFixed(2)} ms; p95 by filter (ms): ${filters}`;
}
