/**
 * GET /tasks (issue 14): filters, who sees what, paging that neither skips nor repeats a task while
 * tasks are stored between pages, and Errand's 400 naming the field for every bad parameter. The
 * tasks are stored through the store with known owners, services and ends, then given known
 * created and completed times, so that every expected page is computed here from the fixture. On
 * both backends (PGlite is what `errand dev` runs).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ErrandError, FlakeIdGenerator, isTerminal, taskIdToDecimal } from '../../src/core/index.ts';
import type { TaskListQuery, TaskStatus } from '../../src/core/index.ts';
import { taskListStatement } from '../../src/store/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';
import { bearer, createKeys, tokenOfLink } from '../support/access.ts';
import type { Stack } from '../support/stack.ts';
import { startStack, TEST_CAPABILITIES } from '../support/stack.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const minute = (n: number): Date => new Date(T0 + n * 60_000);
/** A small maximum (--max-tasks-per-page), so that the limit's bound is tested at both ends. */
const MAX_PAGE = 20;

interface Made { id: string; owner: string; service: string; status: TaskStatus; code?: string; created: Date; completed?: Date }

/**
 * Task i: bob's when i % 3 == 0, else alice's; service `report` when i % 4 == 0, else `echo`;
 * failed when i % 5 == 1 (code `timeout` when i % 10 == 1, else `script_error`), canceled when
 * i % 7 == 3, running when i % 8 == 2, queued when i % 6 == 5, else done. Created at minute i,
 * except tasks 10 to 14, all at minute 10 (one group commit: ties broken by id); ended 30 s later.
 */
function plan(i: number): Omit<Made, 'id'> {
  const owner = i % 3 === 0 ? 'key:bob' : 'key:alice';
  const service = i % 4 === 0 ? 'report' : 'echo';
  const created = minute(i >= 10 && i <= 14 ? 10 : i);
  const ended = (status: TaskStatus, code?: string): Omit<Made, 'id'> => ({ owner, service, status, created, completed: new Date(created.getTime() + 30_000), ...(code ? { code } : {}) });
  if (i % 5 === 1) return ended('failed', i % 10 === 1 ? 'timeout' : 'script_error');
  if (i % 7 === 3) return ended('canceled', 'canceled');
  if (i % 8 === 2) return { owner, service, status: 'running', created };
  if (i % 6 === 5) return { owner, service, status: 'queued', created };
  return ended('done');
}

const TASKS = 30;

/** Newest first by (created, id); ids of one node grow, and 16 hex digits compare as numbers. */
const newestFirst = (a: Made, b: Made): number => b.created.getTime() - a.created.getTime() || (a.id < b.id ? 1 : -1);

type Page = { tasks: Array<Record<string, any> & { id: string }>; _links: { self: { href: string }; next?: { href: string } } };

await describeEachBackend('GET /tasks', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let keys: Record<string, string>;
  const ids = new FlakeIdGenerator(7);
  const made: Made[] = [];

  /** Stores a task as a submission does, and ends it as its worker or a cancel would. */
  async function store(task: Omit<Made, 'id'>): Promise<Made> {
    const id = ids.next();
    await backend.store.insertTask({ id, service: task.service, input: '{"secret":"input-body"}', owner: task.owner, clientName: null, ttl: null });
    if (task.status !== 'queued' && task.status !== 'canceled') await backend.store.markStarted([{ id, worker: 'w1', runId: `run-${id}` }]);
    if (task.status === 'done' || task.status === 'failed') {
      const error = task.code ? { code: task.code, message: 'it stopped' } : null;
      await backend.store.completeTasks([{ id, status: task.status, index: { secret: 'result-body' }, files: [], error, runId: `run-${id}`, worker: 'w1' }]);
    }
    if (task.status === 'canceled') await backend.store.cancelTask(id, task.owner);
    // The fixture's times, in place of the clock's.
    await backend.db.query(`UPDATE task SET created_at = $2::timestamptz, completed_at = $3::timestamptz WHERE id = $1`,
      [taskIdToDecimal(id), task.created.toISOString(), task.completed?.toISOString() ?? null]);
    return { id, ...task };
  }

  async function list(query: string, key?: string): Promise<{ status: number; body: any; headers: Headers }> {
    const response = await fetch(`${stack.baseUrl}/tasks${query}`, { headers: key ? bearer(key) : {} });
    return { status: response.status, body: await response.json(), headers: response.headers };
  }

  async function page(query: string, key: string): Promise<Page> {
    const answer = await list(query, key);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body as Page;
  }

  /** Every page from `query` on, following `next` links. */
  async function walk(query: string, key: string, between?: (pages: Page[]) => Promise<void>): Promise<Page[]> {
    const pages = [await page(query, key)];
    while (pages.at(-1)!._links.next) {
      await between?.(pages);
      const next = new URL(pages.at(-1)!._links.next!.href);
      pages.push(await page(next.search, key));
    }
    return pages;
  }

  const idsOf = (tasks: Array<{ id: string }>): string[] => tasks.map((t) => t.id);
  const expected = (keep: (t: Made) => boolean): string[] => idsOf(made.filter(keep).sort(newestFirst));

  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { recorder: false, settings: { auth: { required: true }, capabilities: TEST_CAPABILITIES, maxTasksPerPage: MAX_PAGE } });
    keys = await createKeys(backend.store, [
      ['alice', 'alice', { scopes: ['submit', 'read', 'cancel'] }],
      ['bob', 'bob', { scopes: ['read'] }],
      ['ops', 'ops', { scopes: ['read:all'] }],
      ['admin', 'root', { scopes: ['admin'] }],
      ['submitter', 'submitter', { scopes: ['submit'] }],
    ]);
    for (let i = 0; i < TASKS; i++) made.push(await store(plan(i)));
  });
  after(async () => {
    await stack?.close();
    await backend?.close();
  });

  describe('what it lists', () => {
    test('read:all lists every task newest first by creation, ties by id, as task descriptions without results', async () => {
      const answer = await page(`?limit=${MAX_PAGE}`, keys.ops!);
      assert.deepEqual(idsOf(answer.tasks), expected(() => true).slice(0, MAX_PAGE));
      const [first] = answer.tasks;
      const task = made.find((t) => t.id === first!.id)!;
      // The description of GET /task/:id, Patavi's keys first, plus the owner for a caller who lists everyone's.
      assert.deepEqual(Object.keys(first!).slice(0, 4), ['id', 'service', 'status', '_links']);
      assert.equal(first!.owner, task.owner);
      assert.equal(first!.createdAt, task.created.toISOString());
      const single = await fetch(`${stack.baseUrl}/task/${task.id}`, { headers: bearer(keys.ops!) }).then((r) => r.json()) as Record<string, any>;
      for (const key of ['id', 'service', 'status', 'createdAt', 'startedAt', 'completedAt', 'attempts', 'error']) assert.deepEqual(first![key], single[key], key);
      assert.deepEqual(Object.keys(first!._links).sort(), Object.keys(single._links).sort());
      // Nothing heavy: no input, no result.
      const text = JSON.stringify(answer);
      assert.ok(!text.includes('input-body') && !text.includes('result-body'), 'no input or result in the list');
      for (const t of answer.tasks) assert.equal('queue' in t, false);
      // The tie: tasks 10 to 14 share a created_at, newest id first.
      const tied = answer.tasks.filter((t) => t.createdAt === minute(10).toISOString()).map((t) => t.id);
      assert.equal(tied.length, 5);
      assert.deepEqual(tied, [...tied].sort().reverse());
    });

    test('a task ended badly carries its error; links follow its state', async () => {
      const failed = made.find((t) => t.status === 'failed')!;
      const item = (await page(`?status=failed&limit=${MAX_PAGE}`, keys.ops!)).tasks.find((t) => t.id === failed.id)!;
      assert.deepEqual(item.error, { code: failed.code, message: 'it stopped' });
      assert.ok(item._links.results && !item._links.cancel);
      const queued = made.find((t) => t.status === 'queued')!;
      const queuedItem = (await page('?status=queued', keys.ops!)).tasks.find((t) => t.id === queued.id)!;
      assert.ok(queuedItem._links.cancel && !queuedItem._links.results);
    });

    test('filters: service, one status, several statuses, errorCode, and combined', async () => {
      const cases: Array<[string, (t: Made) => boolean]> = [
        ['?service=report', (t) => t.service === 'report'],
        ['?service=nothing-runs-this', () => false],
        ['?status=failed', (t) => t.status === 'failed'],
        ['?status=done', (t) => t.status === 'done'],
        ['?status=queued&status=running', (t) => t.status === 'queued' || t.status === 'running'],
        ['?status=failed&status=canceled&status=done', (t) => ['failed', 'canceled', 'done'].includes(t.status)],
        ['?errorCode=timeout', (t) => t.code === 'timeout'],
        ['?errorCode=canceled', (t) => t.status === 'canceled'],
        ['?service=echo&status=failed', (t) => t.service === 'echo' && t.status === 'failed'],
        ['?service=report&errorCode=script_error&owner=key%3Aalice', (t) => t.service === 'report' && t.code === 'script_error' && t.owner === 'key:alice'],
      ];
      for (const [query, keep] of cases) {
        assert.deepEqual(idsOf((await walk(`${query}&limit=7`, keys.ops!)).flatMap((p) => p.tasks)), expected(keep), query);
      }
    });

    test('created and completed since (inclusive) and until (exclusive)', async () => {
      const iso = (d: Date) => encodeURIComponent(d.toISOString());
      const completedAt = (t: Made) => t.completed?.getTime();
      const cases: Array<[string, (t: Made) => boolean]> = [
        [`?createdSince=${iso(minute(10))}&createdUntil=${iso(minute(16))}`, (t) => t.created >= minute(10) && t.created < minute(16)],
        [`?createdSince=${iso(minute(25))}`, (t) => t.created >= minute(25)],
        [`?createdUntil=${iso(minute(3))}`, (t) => t.created < minute(3)],
        // Times in another zone name the same instants: 01:20+01:00 is 00:20Z.
        ['?createdSince=2026-01-01T01:20:00%2B01:00', (t) => t.created >= minute(20)],
        [`?completedSince=${iso(new Date(minute(20).getTime() + 30_000))}`, (t) => completedAt(t) !== undefined && completedAt(t)! >= minute(20).getTime() + 30_000],
        [`?completedUntil=${iso(minute(9))}`, (t) => completedAt(t) !== undefined && completedAt(t)! < minute(9).getTime()],
        [`?status=failed&completedSince=${iso(minute(5))}&completedUntil=${iso(minute(22))}`,
          (t) => t.status === 'failed' && completedAt(t)! >= minute(5).getTime() && completedAt(t)! < minute(22).getTime()],
        // Before the epoch is the epoch: no task is older.
        ['?createdSince=1900-01-01T00:00:00Z', () => true],
      ];
      for (const [query, keep] of cases) {
        const want = expected(keep);
        assert.deepEqual(idsOf((await walk(`${query}&limit=7`, keys.ops!)).flatMap((p) => p.tasks)), want, query);
      }
    });

    test('an empty page has no next link; the last page neither', async () => {
      const empty = await page('?service=none', keys.ops!);
      assert.deepEqual(empty.tasks, []);
      assert.equal(empty._links.next, undefined);
      const all = await walk('?limit=7', keys.ops!);
      assert.equal(all.length, Math.ceil(TASKS / 7));
      assert.equal(all.at(-1)!._links.next, undefined);
    });

    test('the default page is 50 tasks, or --max-tasks-per-page when smaller; the answer is never kept by a shared cache', async () => {
      const answer = await list('', keys.ops!);
      assert.equal(answer.body.tasks.length, MAX_PAGE);
      assert.equal(answer.headers.get('cache-control'), 'private, no-cache');
      assert.match(answer.body._links.self.href, new RegExp(`^http://127\\.0\\.0\\.1:\\d+/tasks\\?limit=${MAX_PAGE}$`));
    });
  });

  describe('who sees what', () => {
    test('a caller with read lists only its own tasks, and without the owner field', async () => {
      const alice = (await walk('?limit=7', keys.alice!)).flatMap((p) => p.tasks);
      assert.deepEqual(idsOf(alice), expected((t) => t.owner === 'key:alice'));
      assert.ok(alice.every((t) => !('owner' in t)));
      assert.deepEqual(idsOf((await page(`?status=failed&limit=${MAX_PAGE}`, keys.bob!)).tasks), expected((t) => t.owner === 'key:bob' && t.status === 'failed'));
      // Naming itself is allowed and changes nothing.
      assert.deepEqual(idsOf((await page(`?owner=key:alice&limit=${MAX_PAGE}`, keys.alice!)).tasks), expected((t) => t.owner === 'key:alice').slice(0, MAX_PAGE));
    });

    test('a caller with read asking for another owner is refused: 403 naming owner', async () => {
      const answer = await list('?owner=key:bob', keys.alice!);
      assert.equal(answer.status, 403);
      assert.deepEqual(answer.body, { error: { code: 'forbidden', message: 'key:alice may list only its own tasks: owner=key:bob needs read:all', field: 'owner' } });
    });

    test('read:all and admin list anyone\'s by owner', async () => {
      for (const key of [keys.ops!, keys.admin!]) {
        assert.deepEqual(idsOf((await page(`?owner=key:bob&limit=${MAX_PAGE}`, key)).tasks), expected((t) => t.owner === 'key:bob'));
        assert.deepEqual((await page('?owner=key:nobody', key)).tasks, []);
      }
    });

    test('no credential is 401 (whatever the query), no read scope 403, and a task link lists nothing', async () => {
      for (const query of ['', '?limit=0', '?stauts=failed']) {
        const answer = await list(query);
        assert.equal(answer.status, 401, query);
        assert.equal(answer.body.error.code, 'unauthorized');
        assert.equal(answer.headers.get('www-authenticate'), 'Bearer realm="errand"');
      }
      const wrong = await list('', 'errand_' + 'A'.repeat(43));
      assert.equal(wrong.status, 401);
      const submitter = await list('', keys.submitter!);
      assert.deepEqual([submitter.status, submitter.body.error.code, submitter.body.error.message], [403, 'forbidden', 'key:submitter may not list tasks: it has no read scope']);
      // A task link reads its task, and lists nothing.
      const mine = made.find((t) => t.owner === 'key:alice')!;
      const single = await fetch(`${stack.baseUrl}/task/${mine.id}`, { headers: bearer(keys.alice!) }).then((r) => r.json()) as { _links: { self: { href: string } } };
      const token = tokenOfLink(single._links.self.href);
      const viaLink = await fetch(`${stack.baseUrl}/access/${token}/tasks`);
      assert.equal(viaLink.status, 401);
      assert.equal(((await viaLink.json()) as { error: { code: string } }).error.code, 'unauthorized');
    });
  });

  test('open reads (--patavi-open-reads) and an open server (errand dev) list every task, owners shown', async () => {
    for (const settings of [{ auth: { required: true, pataviOpenReads: true }, capabilities: TEST_CAPABILITIES }, {}]) {
      const open = await startStack(backend, { recorder: false, settings });
      try {
        const answer = await fetch(`${open.baseUrl}/tasks?limit=${TASKS}`).then((r) => r.json()) as Page;
        assert.deepEqual(idsOf(answer.tasks), expected(() => true));
        assert.ok(answer.tasks.every((t) => typeof t.owner === 'string'));
      } finally {
        await open.close();
      }
    }
  });

  test('the database away: 503 database_unavailable with Retry-After, in the usual shape', async () => {
    const { listTasks } = backend.store;
    backend.store.listTasks = async () => { throw new ErrandError('database_unavailable', 'PostgreSQL at test is unavailable: connection refused'); };
    try {
      const answer = await list('?status=failed', keys.ops!);
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get('retry-after'), '5');
      assert.deepEqual(answer.body, { error: { code: 'database_unavailable', message: 'PostgreSQL at test is unavailable: connection refused' } });
    } finally {
      backend.store.listTasks = listTasks;
    }
  });

  describe('paging', () => {
    test('every task once, in order, whatever the page size', async () => {
      for (const limit of [1, 4, 7, MAX_PAGE]) {
        const seen = idsOf((await walk(`?limit=${limit}`, keys.ops!)).flatMap((p) => p.tasks));
        assert.deepEqual(seen, expected(() => true), `limit ${limit}`);
      }
    });

    test('the next link keeps the filters and the limit, and a self link gives the same page again', async () => {
      const [first, second] = await walk('?status=done&status=failed&service=echo&limit=3', keys.ops!);
      const next = new URL(first!._links.next!.href);
      assert.deepEqual(next.searchParams.getAll('status'), ['done', 'failed']);
      assert.equal(next.searchParams.get('service'), 'echo');
      assert.equal(next.searchParams.get('limit'), '3');
      assert.ok(next.searchParams.get('cursor'));
      const again = await page(new URL(second!._links.self.href).search, keys.ops!);
      assert.deepEqual(idsOf(again.tasks), idsOf(second!.tasks));
    });

    test('tasks stored between pages: none skipped, none shown twice', async () => {
      const before = expected(() => true);
      const stored: Made[] = [];
      /** Stored tasks the walk has yet to reach: after the last task shown, in the list's order. */
      const ahead = new Set<string>();
      const pages = await walk('?limit=4', keys.ops!, async (sofar) => {
        const n = sofar.length;
        const last = sofar.at(-1)!.tasks.at(-1)!;
        const lastCreated = new Date(last.createdAt as string);
        const add = async (task: Omit<Made, 'id'>) => {
          const t = await store(task);
          stored.push(t);
          if (newestFirst(t, { ...t, id: last.id, created: lastCreated }) > 0) ahead.add(t.id);
        };
        // New tasks, newer than any (the usual case): the walk has passed their place.
        for (let k = 0; k < 3; k++) await add({ owner: 'key:alice', service: 'echo', status: 'queued', created: minute(100 + n * 3 + k) });
        // One at the very created_at of the last task shown (stored by the same group commit, with
        // a later id: already passed), and one older than every task (a transaction that began
        // long before it committed: still ahead).
        await add({ owner: 'key:bob', service: 'echo', status: 'queued', created: lastCreated });
        await add({ owner: 'key:bob', service: 'echo', status: 'queued', created: minute(-10 - n) });
      });
      const seen = idsOf(pages.flatMap((p) => p.tasks));
      assert.equal(new Set(seen).size, seen.length, 'no task shown twice');
      const original = seen.filter((id) => before.includes(id));
      assert.deepEqual(original, before, 'every task that existed when the walk began, once, in order');
      // What was stored meanwhile shows exactly when the walk had yet to reach its place.
      assert.ok(stored.length >= 5 * 7 && ahead.size >= 7 && ahead.size < stored.length);
      assert.deepEqual(stored.filter((t) => seen.includes(t.id)).map((t) => t.id), stored.filter((t) => ahead.has(t.id)).map((t) => t.id));
      // The whole list, walked again, holds them all in order.
      made.push(...stored);
      assert.deepEqual(idsOf((await walk(`?limit=${MAX_PAGE}`, keys.ops!)).flatMap((p) => p.tasks)), expected(() => true));
    });
  });

  describe('bad parameters: 400 naming the field', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['?limit=0', 'limit', /^limit must be >= 1, got 0$/],
      [`?limit=${MAX_PAGE + 1}`, 'limit', new RegExp(`^limit must be <= ${MAX_PAGE}, got ${MAX_PAGE + 1}$`)],
      ['?limit=ten', 'limit', /^limit must be integer, got "ten"$/],
      ['?limit=1.5', 'limit', /^limit must be integer, got "1.5"$/],
      ['?limit=5&limit=6', 'limit', /^limit must be given once$/],
      ['?cursor=not-a-cursor', 'cursor', /^cursor is not one this server gave/],
      [`?cursor=${Buffer.from('12:zzzzzzzzzzzzzzzz').toString('base64url')}`, 'cursor', /^cursor is not one this server gave/],
      [`?cursor=${Buffer.from('0012:0000000000000001').toString('base64url')}`, 'cursor', /^cursor is not one this server gave/],
      [`?cursor=${Buffer.from('12:8000000000000000').toString('base64url')}`, 'cursor', /^cursor is not one this server gave/],
      ['?cursor=a%2Bb', 'cursor', /^cursor is not one this server gave/],
      ['?createdSince=yesterday', 'createdSince', /^createdSince must be a date-time with a time zone/],
      ['?createdUntil=2026-12-01', 'createdUntil', /^createdUntil must be a date-time with a time zone/],
      ['?completedSince=2026-12-01T10:00:00', 'completedSince', /^completedSince must be a date-time with a time zone/],
      ['?completedUntil=2026-02-30T00:00:00Z', 'completedUntil', /^completedUntil must be a date-time/],
      ['?createdSince=2016-12-31T23:59:60Z', 'createdSince', /^createdSince must be a date-time such as/],
      ['?status=finished', 'status', /^status must be one of queued, running, done, failed, canceled, expired, got "finished"$/],
      ['?status=done&status=bogus', 'status', /^status must be one of .*, got "bogus"$/],
      ['?service=a&service=b', 'service', /^service must be given once$/],
      [`?errorCode=${'x'.repeat(129)}`, 'errorCode', /^errorCode must NOT have more than 128 characters, got "x+…$/],
      ['?stauts=failed', 'stauts', /^unknown query parameter "stauts"; this route takes service, status, owner, /],
    ];
    for (const [query, field, message] of cases) {
      test(`${query.slice(0, 60)} → ${field}`, async () => {
        const answer = await list(query, keys.ops!);
        assert.equal(answer.status, 400, JSON.stringify(answer.body));
        assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
        assert.deepEqual(Object.keys(answer.body.error).sort(), ['code', 'field', 'message']);
        assert.equal(answer.body.error.code, 'invalid_field');
        assert.equal(answer.body.error.field, field);
        assert.match(answer.body.error.message, message);
      });
    }
    test('?service= (empty) → 400 missing_field service', async () => {
      const answer = await list('?service=', keys.ops!);
      assert.equal(answer.status, 400, JSON.stringify(answer.body));
      assert.equal(answer.body.error.code, 'missing_field');
      assert.equal(answer.body.error.field, 'service');
    });
  });

  describe('the indexes each filter reads (migration 011)', () => {
    /** The plan of the store's own statement, with sequential scans and sorts of the table made dear, as on a table of millions. */
    async function plan(query: TaskListQuery): Promise<string> {
      const statement = taskListStatement(query);
      return backend.db.transaction(async (tx) => {
        await tx.query('SET LOCAL enable_seqscan = off');
        await tx.query('SET LOCAL enable_bitmapscan = off');
        const rows = await tx.query<Record<string, string>>(`EXPLAIN ${statement.text}`, statement.params);
        return rows.rows.map((r) => Object.values(r)[0]).join('\n');
      });
    }
    const after = { createdMicros: String(BigInt(minute(15).getTime()) * 1000n), id: '0000000000000001' };
    const cases: Array<[string, TaskListQuery, string]> = [
      ['no filter', { limit: 50 }, 'task_created'],
      ['owner', { owner: 'key:alice', limit: 50 }, 'task_principal_created'],
      ['service', { service: 'report', limit: 50 }, 'task_service_created'],
      ['status', { statuses: ['failed'], limit: 50 }, 'task_status_created'],
      ['errorCode', { errorCode: 'timeout', limit: 50 }, 'task_error_code_created'],
      ['owner and status', { owner: 'key:alice', statuses: ['failed'], limit: 50 }, 'task_principal_status_created'],
      ['service and status', { service: 'report', statuses: ['queued'], limit: 50 }, 'task_service_status_created'],
      ['created window, next page', { createdSince: minute(2), createdUntil: minute(20), after, limit: 50 }, 'task_created'],
      ['owner, next page', { owner: 'key:alice', after, limit: 50 }, 'task_principal_created'],
    ];
    for (const [name, query, index] of cases) {
      test(`${name}: ${index}, read in order (no sort)`, async () => {
        const text = await plan(query);
        assert.match(text, new RegExp(`Index Scan Backward using ${index} on task`), text);
        assert.doesNotMatch(text, /\bSort\b/, text);
        if (query.after) assert.match(text, /Index Cond: .*ROW\((task\.)?created_at, (task\.)?id\) < ROW\(/s, text);
      });
    }
    test('several statuses: one ordered index read per status, merged', async () => {
      const text = await plan({ statuses: ['failed', 'canceled'], limit: 50 });
      assert.equal(text.match(/Index Scan Backward using task_status_created on task/g)?.length, 2, text);
    });
    test('statuses are the only values put in the SQL, and only from the fixed set', () => {
      assert.throws(() => taskListStatement({ statuses: ["done' OR true --" as TaskStatus], limit: 1 }), TypeError);
      const statement = taskListStatement({ service: "x' OR true --", owner: 'o', errorCode: 'c', limit: 5 });
      assert.ok(!statement.text.includes("x' OR"), 'values travel as parameters');
      assert.deepEqual(statement.params, ["x' OR true --", 'o', 'c', 6]);
    });
  });

  test('every listed task is one GET /task/:id answers the same caller with the same status', async () => {
    for (const t of (await page(`?limit=${MAX_PAGE}`, keys.alice!)).tasks) {
      const single = await fetch(`${stack.baseUrl}/task/${t.id}`, { headers: bearer(keys.alice!) }).then((r) => r.json()) as { status: string };
      assert.equal(single.status, t.status);
      assert.equal(isTerminal(t.status as TaskStatus), Boolean(t._links.results));
    }
  });
});
