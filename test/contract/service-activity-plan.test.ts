/**
 * The stats query never reads a service's history, nor another service's backlog: on a table of
 * 301,104 tasks (200,000 ended over the past month across ten services, one service's last 15
 * minutes, its queue, and another service's backlog of 100,000 queued tasks), PostgreSQL's plan
 * reaches the task table only through indexes bounded by a window or by unfinished tasks, and
 * reads only the rows of the windows and the service's own unfinished tasks.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend, realBackend } from '../support/backends.ts';
import { serviceActivityQuery } from '../../src/store/sql-service-activity.ts';

const HISTORY = 200_000;
const RECENT = 1000; // svc0's tasks ended within the last 15 minutes
const QUEUED = 100; // svc0's queue
const RUNNING = 4;
const BACKLOG = 100_000; // svc1's queue: another service's, never read for svc0

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

function* nodes(node: PlanNode): Generator<PlanNode> {
  yield node;
  for (const child of node.Plans ?? []) yield* nodes(child);
}

await describeEachBackend('the stats query plan', () => {
  let backend: Backend;
  before(async () => {
    backend = await realBackend.create();
    const insert = (select: string) => backend.db.query(
      `INSERT INTO task (id, service, status, input, created_at, started_at, completed_at, attempts) ${select}`,
    );
    // A month of history, one task every 12 s, spread over ten services; the newest ended over two days ago.
    await insert(`SELECT ((extract(epoch FROM x.t) * 1000)::bigint << 22) | (g % 4096), 'svc' || (g % 10), 'done', '{}',
        x.t, x.t + interval '1 second', x.t + interval '3 seconds', 1
      FROM generate_series(1, ${HISTORY}) g, LATERAL (SELECT now() - interval '30 days' + g * interval '12 seconds') x(t)`);
    // svc0's last 15 minutes: a task ended every 0.8 s, from 14 minutes ago.
    await insert(`SELECT ((extract(epoch FROM x.t) * 1000)::bigint << 22) | (1 << 12) | g, 'svc0', 'done', '{}',
        x.t, x.t + interval '0.1 second', x.t + interval '0.6 second', 1
      FROM generate_series(1, ${RECENT}) g, LATERAL (SELECT now() - interval '14 minutes' + g * interval '0.8 second') x(t)`);
    // svc0's queued and running tasks, and svc1's backlog of old queued tasks.
    await insert(`SELECT ((extract(epoch FROM x.t) * 1000)::bigint << 22) | (2 << 12) | g, 'svc0', CASE WHEN g <= ${RUNNING} THEN 'running' ELSE 'queued' END, '{}',
        x.t, CASE WHEN g <= ${RUNNING} THEN now() END, NULL, CASE WHEN g <= ${RUNNING} THEN 1 ELSE 0 END
      FROM generate_series(1, ${QUEUED + RUNNING}) g, LATERAL (SELECT now() - g * interval '1 second') x(t)`);
    await insert(`SELECT ((extract(epoch FROM x.t) * 1000)::bigint << 22) | (3 << 12) | (g % 4096), 'svc1', 'queued', '{}', x.t, NULL, NULL, 0
      FROM generate_series(1, ${BACKLOG}) g, LATERAL (SELECT now() - interval '10 days' + g * interval '1 second') x(t)`);
    await backend.db.query('ANALYZE task');
  });
  after(() => backend.close());

  test('every read of task goes through an index bounded by a window or by unfinished tasks, and reads only the windows', async (t) => {
    const { text, params } = serviceActivityQuery('svc0', { windows: [60, 300, 900], sampleSize: 1000, sampleSeconds: 86_400 });
    const explained = await backend.db.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, params);
    const plan = explained.rows[0]!['QUERY PLAN'][0]!.Plan;
    const reads = [...nodes(plan)].filter((n) => n['Relation Name'] === 'task');
    assert.ok(reads.length >= 6, `${reads.length} reads of task`);
    for (const read of reads) {
      assert.match(read['Node Type'], /^(Index Scan|Index Only Scan|Bitmap Heap Scan)$/, JSON.stringify(read));
    }
    // Migration 012's two, the unfinished tasks' own (ranged by id, which begins with the creation
    // time), and the task list's (011) by service and creation time, which bound arrivals by window.
    const indexes = new Set([...nodes(plan)].flatMap((n) => (n['Index Name'] ? [n['Index Name']] : [])));
    const bounded = ['task_service_ended', 'task_service_unfinished', 'task_unfinished', 'task_running', 'task_service_created', 'task_service_status_created'];
    for (const index of indexes) assert.ok(bounded.includes(index), index);
    assert.ok(indexes.has('task_service_ended') && indexes.has('task_service_unfinished'), [...indexes].join());
    const rowsRead = reads.reduce((sum, n) => sum + (n['Actual Rows']! + (n['Rows Removed by Filter'] ?? 0)) * (n['Actual Loops'] ?? 1), 0);
    t.diagnostic(`rows read from task: ${rowsRead} of ${HISTORY + RECENT + QUEUED + RUNNING + BACKLOG}`);
    // The windows (1000 ended, read up to four ways: arrivals by creation, completions and the
    // sample by completion) and svc0's 104 unfinished tasks (read four ways), and nothing else:
    // not the month of history (200,000 rows) nor svc1's backlog (100,000).
    assert.ok(rowsRead <= 4 * RECENT + 4 * (QUEUED + RUNNING), `${rowsRead} rows read`);

    // And the figures are those of the rows made above.
    const figures = await backend.store.serviceActivity('svc0', { windows: [60, 300, 900], sampleSize: 1000, sampleSeconds: 86_400 });
    assert.equal(figures.queued, QUEUED);
    assert.equal(figures.running, RUNNING);
    assert.equal(figures.sample.tasks, RECENT);
    assert.equal(figures.completions[2], RECENT);
  });
}, [realBackend]);
