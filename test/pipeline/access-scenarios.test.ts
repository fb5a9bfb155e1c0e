/**
 * Access (issue 12) as an attacker and an operator would try it on a whole stack: the global event
 * streams carry only events of tasks the caller may read (also after a resume); guessing ids next
 * to another owner's task finds nothing and answers as for ids that do not exist; canceled and
 * deleted events name who did it; x-client-name is only a label; --patavi-open-reads lets anyone
 * read but nobody change without a credential; a JWT is a principal of its own.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { composeTaskId, decomposeTaskId, DEFAULT_JWT_ALGORITHMS, taskIdToDecimal } from '../../src/core/index.ts';
import type { EventJson } from '../../src/core/index.ts';
import type { Backend } from '../support/backends.ts';
import { countTasks, describeEachBackend } from '../support/backends.ts';
import { bearer, createKeys, hold, httpAnswer, markedService, markersOf, missingTwinOf, tokenOfLink, wsUrl } from '../support/access.ts';
import { readEventSocket, readEventSource } from '../support/event-clients.ts';
import type { EventCollector } from '../support/event-clients.ts';
import type { Stack } from '../support/stack.ts';
import { startStack, TEST_CAPABILITIES } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

const ISSUER = 'https://login.example.org/';
const AUDIENCE = 'errand';

/** A JWKS endpoint over HTTP, as an identity provider serves one. */
async function serveJwks(keys: JWK[]): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const doneFor = (ids: string[]) => (events: EventJson[]): boolean => ids.every((id) => events.some((e) => e.taskId === id && e.type === 'done'));

await describeEachBackend('access: streams, enumeration, labels, open reads, JWT', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let jwks: Awaited<ReturnType<typeof serveJwks>>;
  let signingKey: CryptoKey;
  let keys: Record<string, string>;
  /** Every task this suite submitted, with the principal that owns it. */
  const owners = new Map<string, string>();
  const tokens = new Map<string, string>();
  let counter = 0;

  async function submit(headers: Record<string, string>, owner: string, service = 'marked', marker = `marker-${++counter}-${Date.now()}`): Promise<string> {
    const answer = await httpAnswer(`${stack.baseUrl}/task?service=${service}`, { method: 'POST', headers, body: JSON.stringify({ marker }) });
    assert.equal(answer.status, 201, answer.body);
    const { id, _links } = JSON.parse(answer.body) as { id: string; _links: { self: { href: string } } };
    owners.set(id, owner);
    tokens.set(id, tokenOfLink(_links.self.href));
    return id;
  }
  const allDone = (ids: string[]) => eventually(async () => (await backend.store.getTasks(ids)).every((t) => t.status === 'done'), `tasks ${ids.join(', ')} done`);

  const jwt = (sub: string, scope = 'read submit cancel') =>
    new SignJWT({ scope }).setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT' })
      .setIssuer(ISSUER).setAudience(AUDIENCE).setSubject(sub).setIssuedAt().setExpirationTime('10m').sign(signingKey);

  before(async () => {
    backend = await kind.create();
    const pair = await generateKeyPair('RS256', { extractable: true });
    signingKey = pair.privateKey;
    jwks = await serveJwks([{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }]);
    stack = await startStack(backend, {
      services: [markedService(), hold()],
      settings: {
        auth: {
          required: true,
          jwt: {
            keys: { jwksUrl: jwks.url }, algorithms: [...DEFAULT_JWT_ALGORITHMS], issuer: ISSUER, audience: [AUDIENCE],
            // The key server answers: a generous bound, so that a busy machine is not an outage.
            scopesClaim: 'scope', clockToleranceSeconds: 30, jwksTimeoutMs: 10_000, maxTokenBytes: 8192,
          },
        },
        capabilities: TEST_CAPABILITIES,
      },
    });
    keys = await createKeys(backend.store, [
      ['owner', 'owner', { scopes: ['submit', 'read', 'cancel'] }],
      ['other', 'other', { scopes: ['submit', 'read', 'cancel'] }],
      ['reader', 'reader', { scopes: ['read:all'] }],
      ['admin', 'admin', { scopes: ['admin'] }],
    ]);
  });
  after(async () => {
    await stack.close();
    await jwks.close();
    await backend.close();
  });

  describe('global streams carry only events of tasks the caller may read', () => {
    const open: EventCollector[] = [];
    after(() => open.forEach((c) => c.close()));
    const track = <T extends EventCollector>(c: T): T => { open.push(c); return c; };
    const ws = (path: string, subscribe: Record<string, unknown>, headers: Record<string, string> = {}) => track(readEventSocket(`${wsUrl(stack.baseUrl)}${path}`, subscribe, headers));
    const sse = (path: string, headers: Record<string, string> = {}) => track(readEventSource(`${stack.baseUrl}${path}`, headers));
    /** Every event is of a task `principal` owns, and none carries its owner to the client. */
    const onlyOf = (events: EventJson[], principal: string): void => {
      const foreign = events.filter((e) => owners.get(e.taskId) !== principal);
      assert.deepEqual(foreign.map((e) => `${e.type} of ${e.taskId} (${owners.get(e.taskId) ?? 'unknown'})`), []);
      assert.ok(events.every((e) => !('owner' in e)), 'events sent to clients do not name owners');
    };

    let mine: string[];
    let theirs: string[];
    before(async () => {
      mine = [await submit(bearer(keys.owner!), 'key:owner'), await submit(bearer(keys.owner!), 'key:owner')];
      theirs = [await submit(bearer(keys.other!), 'key:other'), await submit(bearer(keys.other!), 'key:other')];
      await allDone([...mine, ...theirs]);
    });

    test("WS and SSE /events for owner A replay and carry only A's tasks", async () => {
      const socket = ws('/events', { since: 0 }, bearer(keys.owner!));
      const stream = sse('/events?since=0', bearer(keys.owner!));
      await socket.until(doneFor(mine), "A's tasks done on WS /events");
      await stream.until(doneFor(mine), "A's tasks done on GET /events");
      onlyOf(socket.events, 'key:owner');
      onlyOf(stream.events, 'key:owner');
      // Filters cannot widen what a caller may see: asking for B's tasks by id gives nothing of them.
      const asking = ws('/events', { since: 0, filter: { tasks: [...theirs, mine[0]] } }, bearer(keys.owner!));
      await asking.until(doneFor([mine[0]!]), "A's task asked for with B's");
      onlyOf(asking.events, 'key:owner');
    });

    test("read:all sees every owner's tasks", async () => {
      const socket = ws('/events', { since: 0 }, bearer(keys.reader!));
      const stream = sse('/events?since=0', bearer(keys.reader!));
      await socket.until(doneFor([...mine, ...theirs]), "both owners' tasks on WS /events");
      await stream.until(doneFor([...mine, ...theirs]), "both owners' tasks on GET /events");
    });

    test("a task link's token on /access/<token>/events carries that one task only", async () => {
      const token = tokens.get(mine[0]!)!;
      const socket = ws(`/access/${token}/events`, { since: 0 });
      const stream = sse(`/access/${token}/events?since=0`);
      await socket.until(doneFor([mine[0]!]), 'the linked task on WS');
      await stream.until(doneFor([mine[0]!]), 'the linked task on SSE');
      for (const events of [socket.events, stream.events]) {
        assert.deepEqual([...new Set(events.map((e) => e.taskId))], [mine[0]]);
      }
    });

    test("a resume (since=<id>, Last-Event-ID) still carries only A's tasks, and only newer events", async () => {
      const first = ws('/events', { since: 0 }, bearer(keys.owner!));
      await first.until(doneFor(mine), "A's tasks");
      const lastSeen = Math.max(...first.events.map((e) => e.id));
      first.close();
      // While A is away, both owners submit again.
      const later = await submit(bearer(keys.owner!), 'key:owner');
      const theirsLater = await submit(bearer(keys.other!), 'key:other');
      await allDone([later, theirsLater]);
      const socket = ws('/events', { since: lastSeen }, bearer(keys.owner!));
      const stream = sse('/events', { ...bearer(keys.owner!), 'last-event-id': String(lastSeen) });
      await socket.until(doneFor([later]), "A's new task after the resume (WS)");
      await stream.until(doneFor([later]), "A's new task after the resume (SSE)");
      for (const events of [socket.events, stream.events]) {
        onlyOf(events, 'key:owner');
        assert.ok(events.every((e) => e.id > lastSeen), 'only events after the resume point');
      }
      // The reader's view shows that B's task did produce events in that window.
      const reader = ws('/events', { since: lastSeen }, bearer(keys.reader!));
      await reader.until(doneFor([later, theirsLater]), 'both new tasks for read:all');
    });
  });

  test("enumerating ids around A's tasks with B's key finds none of them, and answers as for ids that do not exist", async () => {
    const mine = await Promise.all(Array.from({ length: 20 }, () => submit(bearer(keys.owner!), 'key:owner')));
    await allDone(mine);
    // Candidates: every sequence of the milliseconds A's ids were issued in, and two either side.
    const millis = new Set(mine.map((id) => decomposeTaskId(id).millis));
    const spread = [...millis].flatMap((m) => [m - 2, m - 1, m, m + 1, m + 2]);
    const perMillisecond = Math.min(4096, Math.ceil(2500 / new Set(spread).size));
    const candidates = new Set(mine);
    for (const m of new Set(spread)) for (let sequence = 0; sequence < perMillisecond; sequence++) candidates.add(composeTaskId(m, 1, sequence));
    // B's own tasks would be found, rightly: none of them is a candidate (B submitted nothing in these milliseconds).
    const guesses = [...candidates].filter((id) => owners.get(id) !== 'key:other');
    assert.equal(guesses.length, candidates.size, "B's own tasks are not among the candidates");
    assert.ok(guesses.length >= 2000, `a few thousand candidates (${guesses.length})`);
    for (const id of mine) assert.ok(candidates.has(id));
    const b = bearer(keys.other!);

    // /status, 500 ids at a time: nothing, as for 500 ids that name no task.
    const absentBatch = await httpAnswer(`${stack.baseUrl}/status?${guesses.slice(0, 500).map((id) => `task=${missingTwinOf(id)}`).join('&')}`, { headers: b });
    assert.equal(absentBatch.status, 200, absentBatch.body);
    for (let i = 0; i < guesses.length; i += 500) {
      const batch = guesses.slice(i, i + 500);
      const answer = await httpAnswer(`${stack.baseUrl}/status?${batch.map((id) => `task=${id}`).join('&')}`, { headers: b });
      assert.equal(answer.status, 200, answer.body);
      assert.equal(answer.body, absentBatch.body, `batch ${i / 500}`);
    }

    // GET /task/:id and its input: each the 404 of an id that names no task, byte for byte.
    const unknown = missingTwinOf(mine[0]!);
    const reference = {
      task: await httpAnswer(`${stack.baseUrl}/task/${unknown}`, { headers: b }),
      input: await httpAnswer(`${stack.baseUrl}/task/${unknown}/task`, { headers: b }),
    };
    assert.equal(reference.task.status, 404);
    const differing: string[] = [];
    const queue = [...guesses];
    await Promise.all(Array.from({ length: 16 }, async () => {
      for (let id = queue.pop(); id !== undefined; id = queue.pop()) {
        for (const [part, path] of [['task', `/task/${id}`], ['input', `/task/${id}/task`]] as const) {
          const answer = await httpAnswer(`${stack.baseUrl}${path}`, { headers: b });
          const expected = reference[part];
          if (answer.status !== expected.status || answer.body !== expected.body.replaceAll(unknown, id) || answer.contentType !== expected.contentType) {
            differing.push(`${path}: ${answer.status} ${answer.body.slice(0, 120)}`);
          }
        }
      }
    }));
    assert.deepEqual(differing, [], `${differing.length} of ${guesses.length * 2} answers differ from an unknown id's`);
    // What the owner sees of the same tasks: they are there.
    const own = await httpAnswer(`${stack.baseUrl}/status?${mine.map((id) => `task=${id}`).join('&')}`, { headers: bearer(keys.owner!) });
    assert.equal((JSON.parse(own.body) as unknown[]).length, mine.length);
  });

  test('canceled and deleted events say who did it (data.by)', async () => {
    const owner = bearer(keys.owner!);
    const admin = bearer(keys.admin!);
    const canceledByOwner = await submit(owner, 'key:owner', 'hold');
    const deletedByAdmin = await submit(owner, 'key:owner', 'hold');
    const canceledByAdmin = await submit(owner, 'key:owner', 'hold');
    const deletedByOwner = await submit(owner, 'key:owner');
    await allDone([deletedByOwner]);
    const call = async (method: string, path: string, headers: Record<string, string>) => {
      const answer = await httpAnswer(`${stack.baseUrl}${path}`, { method, headers });
      assert.equal(answer.status, 200, `${method} ${path}: ${answer.body}`);
    };
    await call('POST', `/task/${canceledByOwner}/cancel`, owner);
    await call('DELETE', `/task/${deletedByAdmin}`, admin);
    await call('POST', `/task/${canceledByAdmin}/cancel`, admin);
    await call('DELETE', `/task/${deletedByOwner}`, owner);
    const ids = [canceledByOwner, deletedByAdmin, canceledByAdmin, deletedByOwner];
    // The owner's own stream shows them, deletions included.
    const stream = readEventSource(`${stack.baseUrl}/events?since=0&type=canceled&type=deleted&${ids.map((id) => `task=${id}`).join('&')}`, owner);
    try {
      await stream.until((events) => events.length >= 5, 'the canceled and deleted events');
      const seen = stream.events.map((e) => `${e.type} ${e.taskId} by ${(e.data as { by?: string } | null)?.by}`).sort();
      assert.deepEqual(seen, [
        `canceled ${canceledByAdmin} by key:admin`,
        `canceled ${canceledByOwner} by key:owner`,
        // A running task is canceled before it is deleted: both by the one deleting it.
        `canceled ${deletedByAdmin} by key:admin`,
        `deleted ${deletedByAdmin} by key:admin`,
        `deleted ${deletedByOwner} by key:owner`,
      ].sort());
    } finally {
      stream.close();
    }
  });

  test('x-client-name is a label: "key:owner" sent with another key reads nothing of the owner, and owns nothing', async () => {
    const target = await submit(bearer(keys.owner!), 'key:owner');
    await allDone([target]);
    const pretending = { ...bearer(keys.other!), 'x-client-name': 'key:owner' };
    const missing = missingTwinOf(target);
    for (const path of ['', '/task', '/results', '/console']) {
      const answer = await httpAnswer(`${stack.baseUrl}/task/${target}${path}`, { headers: pretending });
      const absent = await httpAnswer(`${stack.baseUrl}/task/${missing}${path}`, { headers: pretending });
      assert.equal(answer.status, 404, `/task/:id${path}: ${answer.body}`);
      assert.equal(answer.body, absent.body.replaceAll(missing, target));
    }
    const status = await httpAnswer(`${stack.baseUrl}/status?task=${target}`, { headers: pretending });
    assert.equal(status.body, '[]');
    const cancel = await httpAnswer(`${stack.baseUrl}/task/${target}/cancel`, { method: 'POST', headers: pretending });
    assert.equal(cancel.status, 404, cancel.body);
    // Alone, the label is no credential at all.
    const alone = await httpAnswer(`${stack.baseUrl}/task/${target}`, { headers: { 'x-client-name': 'key:owner' } });
    assert.equal(alone.status, 401, alone.body);
    // What it submits is its own (the label kept as a label); the owner it names cannot read it.
    const labelled = await submit(pretending, 'key:other');
    const row = await backend.store.getTask(labelled);
    assert.equal(row?.owner, 'key:other');
    const label = await backend.db.query<{ client_name: string | null }>('SELECT client_name FROM task WHERE id = $1', [taskIdToDecimal(labelled)]);
    assert.equal(label.rows[0]?.client_name, 'key:owner');
    const byOwner = await httpAnswer(`${stack.baseUrl}/task/${labelled}`, { headers: bearer(keys.owner!) });
    assert.equal(byOwner.status, 404, byOwner.body);
  });

  test('--patavi-open-reads: no credential reads any task and its results, but cannot submit, cancel or delete (401)', async () => {
    const marker = `open-reads-${Date.now()}`;
    const done = await submit(bearer(keys.owner!), 'key:owner', 'marked', marker);
    const running = await submit(bearer(keys.owner!), 'key:owner', 'hold');
    await allDone([done]);
    const [, resultMarker, fileMarker] = markersOf(marker);
    // A second server on the same database and broker, started as `--patavi-open-reads`.
    const open = await startStack(backend, { settings: { auth: { required: true, pataviOpenReads: true }, capabilities: TEST_CAPABILITIES }, recorder: false });
    try {
      const read = (path: string) => httpAnswer(`${open.baseUrl}${path}`);
      const described = await read(`/task/${done}`);
      assert.equal(described.status, 200, described.body);
      assert.equal((JSON.parse(described.body) as { id: string }).id, done);
      for (const [path, expected] of [[`/task/${done}/task`, marker], [`/task/${done}/results`, resultMarker!], [`/task/${done}/results/plot.svg`, fileMarker!]] as const) {
        const answer = await read(path);
        assert.equal(answer.status, 200, `${path}: ${answer.body}`);
        assert.ok(answer.body.includes(expected), `${path} holds the task's data`);
      }
      const status = await read(`/status?task=${done}`);
      assert.deepEqual((JSON.parse(status.body) as Array<{ id: string }>).map((t) => t.id), [done]);

      const before = await countTasks(backend);
      for (const [method, path] of [['POST', '/task?service=marked'], ['POST', `/task/${running}/cancel`], ['DELETE', `/task/${running}`], ['DELETE', `/task/${done}`]] as const) {
        const answer = await httpAnswer(`${open.baseUrl}${path}`, { method, ...(method === 'POST' && path.startsWith('/task?') ? { body: '{}' } : {}) });
        assert.equal(answer.status, 401, `${method} ${path}: ${answer.body}`);
        assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, 'unauthorized');
      }
      assert.equal(await countTasks(backend), before);
      assert.equal((await backend.store.getTask(running))?.status === 'canceled', false, 'the running task was not canceled');
      assert.equal((await backend.store.getTask(done))?.status, 'done', 'the finished task was not deleted');
      // Signing in never shows less than staying anonymous: B reads A's task too, and still may not change it.
      const asOther = await httpAnswer(`${open.baseUrl}/task/${done}`, { headers: bearer(keys.other!) });
      assert.equal(asOther.status, 200, asOther.body);
      const deleteAsOther = await httpAnswer(`${open.baseUrl}/task/${done}`, { method: 'DELETE', headers: bearer(keys.other!) });
      assert.equal(deleteAsOther.status, 403, deleteAsOther.body);
      // Anonymous readers are handed no tokens: the links are plain.
      assert.doesNotMatch(described.body, /\/access\//);
    } finally {
      await open.close();
      await httpAnswer(`${stack.baseUrl}/task/${running}/cancel`, { method: 'POST', headers: bearer(keys.owner!) });
    }
  });

  test('a JWT submits as jwt:<iss>|<sub>; another sub cannot read the task (404), nor can an API key', async () => {
    const alice = { authorization: `Bearer ${await jwt('alice')}` };
    const bob = { authorization: `Bearer ${await jwt('bob')}` };
    const id = await submit(alice, `jwt:${ISSUER}|alice`);
    assert.equal((await backend.store.getTask(id))?.owner, `jwt:${ISSUER}|alice`);
    await allDone([id]);
    const own = await httpAnswer(`${stack.baseUrl}/task/${id}/results`, { headers: alice });
    assert.equal(own.status, 200, own.body);
    const missing = missingTwinOf(id);
    for (const [who, headers] of [['bob', bob], ['key:other', bearer(keys.other!)]] as const) {
      for (const path of ['', '/task', '/results']) {
        const answer = await httpAnswer(`${stack.baseUrl}/task/${id}${path}`, { headers });
        const absent = await httpAnswer(`${stack.baseUrl}/task/${missing}${path}`, { headers });
        assert.equal(answer.status, 404, `${who} /task/:id${path}: ${answer.body}`);
        assert.equal(answer.body, absent.body.replaceAll(missing, id), `${who} /task/:id${path}`);
      }
    }
    const status = await httpAnswer(`${stack.baseUrl}/status?task=${id}`, { headers: bob });
    assert.equal(status.body, '[]');
    // A JWT that does not verify is refused, not taken as no credential.
    const forged = await httpAnswer(`${stack.baseUrl}/task/${id}`, { headers: { authorization: `${alice.authorization.slice(0, -4)}AAAA` } });
    assert.equal(forged.status, 401, forged.body);
  });

  test('with auth on, the registry needs a credential, and only read:all and admin see which workers run where', async () => {
    assert.equal((await httpAnswer(`${stack.baseUrl}/services`)).status, 401);
    const viaLink = await httpAnswer(`${stack.baseUrl}/access/${'A'.repeat(47)}/services/marked`);
    assert.equal(viaLink.status, 401, 'a task link is not a credential for the registry');
    const workersAs = async (key: string): Promise<Array<Record<string, unknown>>> => {
      const answer = await httpAnswer(`${stack.baseUrl}/services/marked`, { headers: bearer(key) });
      assert.equal(answer.status, 200, answer.body);
      return (JSON.parse(answer.body) as { workers: Array<Record<string, unknown>> }).workers;
    };
    for (const worker of await workersAs(keys.owner!)) assert.deepEqual(['id' in worker, 'host' in worker], [false, false]);
    for (const key of [keys.reader!, keys.admin!]) {
      const workers = await workersAs(key);
      assert.ok(workers.length > 0 && workers.every((w) => typeof w.id === 'string' && typeof w.host === 'string'));
    }
  });

  test('a JWKS URL that cannot be reached is 503 auth_unavailable with Retry-After, not a 401', async () => {
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const port = (gone.address() as AddressInfo).port;
    await new Promise((resolve) => gone.close(resolve));
    const unreachable = await startStack(backend, {
      recorder: false,
      settings: {
        auth: {
          required: true,
          jwt: {
            keys: { jwksUrl: `http://127.0.0.1:${port}/jwks.json` }, algorithms: [...DEFAULT_JWT_ALGORITHMS], issuer: ISSUER, audience: [AUDIENCE],
            scopesClaim: 'scope', clockToleranceSeconds: 30, jwksTimeoutMs: 2000, maxTokenBytes: 8192,
          },
        },
      },
    });
    try {
      const before = await countTasks(backend);
      const answer = await fetch(`${unreachable.baseUrl}/task?service=marked`, { method: 'POST', body: '{}', headers: { authorization: `Bearer ${await jwt('alice')}`, 'content-type': 'application/json' } });
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get('retry-after'), '5');
      assert.equal(((await answer.json()) as { error: { code: string } }).error.code, 'auth_unavailable');
      assert.equal(await countTasks(backend), before, 'nothing was submitted');
    } finally {
      await unreachable.close();
    }
  });
});
