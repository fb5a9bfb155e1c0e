/**
 * Who may do what to a task (issue 12), as one table: every kind of caller against every task
 * route and event stream of a server that asks for credentials. Each cell checks the status and
 * error code, that a refusal carries none of the task's data (its input, result, file, console
 * and script are all marked), and that a refusal as 404 is, byte for byte, the answer for an id
 * that names no task. Refused changes change nothing; refused submissions add no task.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { issueCapability } from '../../src/core/index.ts';
import type { Backend } from '../support/backends.ts';
import { countTasks, describeEachBackend } from '../support/backends.ts';
import type { Answer } from '../support/access.ts';
import { bearer, createKeys, hold, httpAnswer, markedService, markersOf, missingTwinOf, retargetedToken, SCRIPT_MARKER, sseAnswer, tokenOfLink, upgradeAnswer, wsUrl } from '../support/access.ts';
import type { Stack } from '../support/stack.ts';
import { startStack, TEST_CAPABILITIES } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

/** ok: the route's success; a number: that refusal; unlisted: /status answers [] (the task left out). */
type Outcome = 'ok' | 401 | 403 | 404 | 'unlisted';
type Group = 'read' | 'status' | 'cancel' | 'delete' | 'submit' | 'events';

const CALLERS = [
  'no credential', 'wrong key', 'revoked key', 'expired key', 'other principal', 'owner', 'read:all', 'admin',
  'submit-only key', 'token for this task', 'token for another task', 'expired token', 'tampered token',
] as const;
type CallerName = (typeof CALLERS)[number];

const NONE = { read: 401, status: 401, cancel: 401, delete: 401, submit: 401, events: 401 } as const;

/** The expectations: one row per caller, one column per kind of route (ROUTES says which is which). */
const TABLE: Record<CallerName, Record<Group, Outcome>> = {
  'no credential': NONE,
  'wrong key': NONE,
  'revoked key': NONE,
  'expired key': NONE,
  'other principal':        { read: 404, status: 'unlisted', cancel: 404, delete: 404, submit: 'ok', events: 'ok' },
  'owner':                  { read: 'ok', status: 'ok', cancel: 'ok', delete: 'ok', submit: 'ok', events: 'ok' },
  'read:all':               { read: 'ok', status: 'ok', cancel: 403, delete: 403, submit: 403, events: 'ok' },
  'admin':                  { read: 'ok', status: 'ok', cancel: 'ok', delete: 'ok', submit: 'ok', events: 'ok' },
  'submit-only key':        { read: 403, status: 403, cancel: 404, delete: 404, submit: 'ok', events: 403 },
  'token for this task':    { read: 'ok', status: 'ok', cancel: 403, delete: 403, submit: 401, events: 'ok' },
  'token for another task': { read: 404, status: 'unlisted', cancel: 404, delete: 404, submit: 401, events: 'ok' },
  'expired token':          { read: 404, status: 'unlisted', cancel: 404, delete: 404, submit: 401, events: 401 },
  'tampered token':         { read: 404, status: 'unlisted', cancel: 404, delete: 404, submit: 401, events: 401 },
};

const CODES: Record<number, string> = { 401: 'unauthorized', 403: 'forbidden', 404: 'not_found' };

/** How a caller presents itself for a request about task `target`: headers, and a path prefix for a token. */
interface Credentials { headers: Record<string, string>; prefix: string }

interface Route {
  name: string;
  group: Group;
  /** The task the route is asked about: the finished marked task, or a running one of its own (changes). */
  target: 'finished' | 'held' | 'none';
  success: number;
  send(base: string, who: Credentials, id: string): Promise<Answer>;
  /** What a successful answer must hold, for the finished task with input marker `marker`. */
  holds?: (body: string, id: string, marker: string) => void;
}

const get = (path: (id: string) => string): Route['send'] => (base, who, id) => httpAnswer(`${base}${who.prefix}${path(id)}`, { headers: who.headers });
const includes = (text: (marker: string) => string) => (body: string, _id: string, marker: string) => assert.ok(body.includes(text(marker)), `expected the task's data in: ${body.slice(0, 300)}`);

const ROUTES: Route[] = [
  { name: 'GET /task/:id', group: 'read', target: 'finished', success: 200, send: get((id) => `/task/${id}`), holds: (body, id) => assert.equal(JSON.parse(body).id, id) },
  { name: 'GET /task/:id/task', group: 'read', target: 'finished', success: 200, send: get((id) => `/task/${id}/task`), holds: includes((m) => m) },
  { name: 'GET /task/:id/script', group: 'read', target: 'finished', success: 200, send: get((id) => `/task/${id}/script`), holds: includes(() => SCRIPT_MARKER) },
  { name: 'GET /task/:id/console', group: 'read', target: 'finished', success: 200, send: get((id) => `/task/${id}/console`), holds: includes((m) => `working on ${m}`) },
  { name: 'GET /task/:id/results', group: 'read', target: 'finished', success: 200, send: get((id) => `/task/${id}/results`), holds: includes((m) => markersOf(m)[1]!) },
  { name: 'GET /task/:id/results/plot.svg', group: 'read', target: 'finished', success: 200, send: get((id) => `/task/${id}/results/plot.svg`), holds: includes((m) => markersOf(m)[2]!) },
  { name: 'GET /task/:id/events (SSE)', group: 'read', target: 'finished', success: 200, send: (base, who, id) => sseAnswer(`${base}${who.prefix}/task/${id}/events`, who.headers) },
  { name: 'WS /task/:id/updates', group: 'read', target: 'finished', success: 101, send: (base, who, id) => upgradeAnswer(`${wsUrl(base)}${who.prefix}/task/${id}/updates`, who.headers) },
  { name: 'GET /status?task=', group: 'status', target: 'finished', success: 200, send: get((id) => `/status?task=${id}`), holds: (body, id) => assert.deepEqual((JSON.parse(body) as Array<{ id: string }>).map((t) => t.id), [id]) },
  { name: 'POST /task/:id/cancel', group: 'cancel', target: 'held', success: 200, send: (base, who, id) => httpAnswer(`${base}${who.prefix}/task/${id}/cancel`, { method: 'POST', headers: who.headers }) },
  { name: 'DELETE /task/:id', group: 'delete', target: 'held', success: 200, send: (base, who, id) => httpAnswer(`${base}${who.prefix}/task/${id}`, { method: 'DELETE', headers: who.headers }) },
  { name: 'POST /task?service=', group: 'submit', target: 'none', success: 201, send: (base, who) => httpAnswer(`${base}${who.prefix}/task?service=marked`, { method: 'POST', headers: who.headers, body: JSON.stringify({ marker: 'submitted-in-the-matrix' }) }) },
  { name: 'GET /events (SSE)', group: 'events', target: 'none', success: 200, send: (base, who) => sseAnswer(`${base}${who.prefix}/events?since=0`, who.headers) },
  { name: 'WS /events', group: 'events', target: 'none', success: 101, send: (base, who) => upgradeAnswer(`${wsUrl(base)}${who.prefix}/events`, who.headers) },
];

/** The principal a key caller is, for checking who owns what it submits. */
const PRINCIPALS: Partial<Record<CallerName, string>> = {
  'other principal': 'key:other', owner: 'key:owner', 'read:all': 'key:reader', admin: 'key:admin', 'submit-only key': 'key:submitter',
};

await describeEachBackend('access matrix: callers × task routes', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let keys: Record<string, string>;
  /** Each task's capability token, from its submission's links. */
  const tokens = new Map<string, string>();
  let finished: { id: string; marker: string };
  /** Running tasks of the owner, one per cancel or delete cell. */
  const holding: string[] = [];
  /** A task whose token the 'token for another task' caller holds. */
  let sibling: string;
  const allMarkers: string[] = [SCRIPT_MARKER];

  async function submit(service: string, marker: string, headers = bearer(keys.owner!)): Promise<string> {
    const answer = await httpAnswer(`${stack.baseUrl}/task?service=${service}`, { method: 'POST', headers, body: JSON.stringify({ marker }) });
    assert.equal(answer.status, 201, answer.body);
    const description = JSON.parse(answer.body) as { id: string; _links: { self: { href: string } } };
    tokens.set(description.id, tokenOfLink(description._links.self.href));
    allMarkers.push(...markersOf(marker));
    return description.id;
  }

  const finishedTask = async (marker: string): Promise<string> => {
    const id = await submit('marked', marker);
    await eventually(async () => (await backend.store.getTask(id))?.status === 'done', `task ${id} done`);
    return id;
  };

  function credentials(caller: CallerName, target: string): Credentials {
    const plain = (headers: Record<string, string>): Credentials => ({ headers, prefix: '' });
    const token = (value: string): Credentials => ({ headers: {}, prefix: `/access/${value}` });
    switch (caller) {
      case 'no credential': return plain({});
      case 'wrong key': return plain(bearer(keys.wrong!));
      case 'revoked key': return plain({ 'x-api-key': keys.revoked! });
      case 'expired key': return plain(bearer(keys.expired!));
      case 'other principal': return plain(bearer(keys.other!));
      case 'owner': return plain(bearer(keys.owner!));
      case 'read:all': return plain(bearer(keys.reader!));
      case 'admin': return plain(bearer(keys.admin!));
      case 'submit-only key': return plain(bearer(keys.submitter!));
      case 'token for this task': return token(tokens.get(target) ?? tokens.get(finished.id)!);
      case 'token for another task': return token(tokens.get(sibling)!);
      case 'expired token': {
        const { secret, keyId } = TEST_CAPABILITIES.keyring.signing;
        return token(issueCapability(target === '' ? finished.id : target, { secret, keyId, lifetimeMs: 60_000, now: Date.now() - 3_600_000 }));
      }
      // The sibling's genuine token, its task id rewritten to the target's.
      case 'tampered token': return token(retargetedToken(tokens.get(sibling)!, target === '' ? finished.id : target));
    }
  }

  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, {
      services: [markedService(), hold()],
      settings: { auth: { required: true }, capabilities: TEST_CAPABILITIES },
    });
    keys = await createKeys(backend.store, [
      // Revoked before the live key of the same name exists: the same name is no way back in.
      ['revoked', 'owner', { scopes: ['submit', 'read', 'cancel'], state: 'revoked' }],
      ['owner', 'owner', { scopes: ['submit', 'read', 'cancel'] }],
      ['other', 'other', { scopes: ['submit', 'read', 'cancel'] }],
      ['reader', 'reader', { scopes: ['read:all'] }],
      ['admin', 'admin', { scopes: ['admin'] }],
      // Expired, though it would be an admin.
      ['expired', 'stale', { scopes: ['admin'], state: 'expired' }],
      ['submitter', 'submitter', { scopes: ['submit:marked'] }],
    ]);
    keys.wrong = `errand_${'A'.repeat(43)}`;
    finished = { id: '', marker: `input-marker-${kind.name.length}-${Date.now()}` };
    finished.id = await finishedTask(finished.marker);
    sibling = await finishedTask(`sibling-marker-${Date.now()}`);
  });
  after(async () => {
    // Held tasks would hold the worker's close for its whole grace period.
    for (const id of holding) await httpAnswer(`${stack.baseUrl}/task/${id}/cancel`, { method: 'POST', headers: bearer(keys.admin!) });
    await stack.close();
    await backend.close();
  });

  /** Refused: the right status and code, none of the task's data, and (404) the answer for a task that is not there. */
  async function assertRefused(answer: Answer, outcome: 401 | 403 | 404, caller: CallerName, route: Route, target: string): Promise<void> {
    assert.equal(answer.status, outcome, answer.body);
    assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, CODES[outcome], answer.body);
    if (outcome === 401) assert.equal(answer.wwwAuthenticate, 'Bearer realm="errand"');
    for (const marker of [...allMarkers, 'key:owner']) assert.ok(!answer.body.includes(marker), `the refusal leaks ${marker}: ${answer.body}`);
    if (outcome === 404) {
      const missing = missingTwinOf(target);
      const absent = await route.send(stack.baseUrl, credentials(caller, target), missing);
      assert.equal(answer.body, absent.body.replaceAll(missing, target), 'a hidden task answers as a missing one');
      assert.equal(answer.contentType, absent.contentType);
    }
  }

  for (const caller of CALLERS) {
    describe(caller, () => {
      for (const route of ROUTES) {
        const outcome = TABLE[caller][route.group];
        test(`${caller} × ${route.name} → ${outcome}`, async () => {
          const base = stack.baseUrl;
          if (route.group === 'cancel' || route.group === 'delete') {
            // Each cell has a running task of its own: a refusal that changed it anyway cannot spill into other cells.
            const target = await submit('hold', `held-${caller}-${route.group}-${Date.now()}`);
            holding.push(target);
            const answer = await route.send(base, credentials(caller, target), target);
            const after = await backend.store.getTask(target);
            if (outcome === 'ok') {
              assert.equal(answer.status, 200, answer.body);
              if (route.group === 'cancel') assert.equal(after?.status, 'canceled');
              else assert.equal(after, undefined, 'deleted');
              return;
            }
            await assertRefused(answer, outcome as 401 | 403 | 404, caller, route, target);
            assert.ok(after && (after.status === 'queued' || after.status === 'running'), `a refused ${route.group} changed nothing (status ${after?.status})`);
            return;
          }
          if (route.group === 'submit') {
            const before = await countTasks(backend);
            const answer = await route.send(base, credentials(caller, ''), '');
            if (outcome === 'ok') {
              assert.equal(answer.status, 201, answer.body);
              const id = (JSON.parse(answer.body) as { id: string }).id;
              assert.equal((await backend.store.getTask(id))?.owner, PRINCIPALS[caller]);
              return;
            }
            await assertRefused(answer, outcome as 401 | 403 | 404, caller, route, finished.id);
            assert.equal(await countTasks(backend), before, 'a refused submission adds no task');
            return;
          }
          const target = route.target === 'none' ? '' : finished.id;
          const answer = await route.send(base, credentials(caller, target), finished.id);
          if (outcome === 'ok') {
            assert.equal(answer.status, route.success, answer.body);
            route.holds?.(answer.body, finished.id, finished.marker);
          } else if (outcome === 'unlisted') {
            assert.equal(answer.status, 200, answer.body);
            assert.equal(answer.body, '[]');
            const absent = await route.send(base, credentials(caller, target), missingTwinOf(finished.id));
            assert.equal(absent.body, answer.body, 'a hidden task is left out as a missing one is');
          } else {
            await assertRefused(answer, outcome, caller, route, finished.id);
          }
        });
      }
    });
  }
});
