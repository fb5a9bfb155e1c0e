/**
 * The fuzz suite of issue 11 ("Hostile input and hostile results"), declared once and run by
 * http-fuzz.test.ts (`errand dev`) and http-fuzz-serve.test.ts (`errand serve` + `errand worker`
 * on PostgreSQL and RabbitMQ): one file per backend, so that each has the runner's per-file
 * timeout to itself. Hand-written cases reproduce each item a client can reach over HTTP or
 * WebSocket; generated ones (seeded: ERRAND_FUZZ_SEED replays a run, ERRAND_FUZZ_CASES sets how
 * many) throw random methods, paths, queries, headers, framing and bodies at every route. Every
 * answer must be a 4xx in Errand's error shape or a documented 2xx, never a 5xx or a dropped
 * connection; the server must answer a good request after every 100 cases, end every task it
 * accepted, and exit on SIGTERM afterwards.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import type { BackendKind } from '../support/backends.ts';
import { describeEachBackend, realBackend } from '../support/backends.ts';
import { durationCases, edgeCases, hostSpoofCases, idRangeCases, redosCase, resultFileCases, socketLeakCases, trickleCases } from './cases.ts';
import { generateCase } from './generate.ts';
import { errorShapeProblem } from './oracle.ts';
import { createRng, fuzzSeed } from './prng.ts';
import type { CaseContext } from './requests.ts';
import { describeFailures, Runner, submit, TERMINAL, waitTerminal } from './runner.ts';
import type { TaskView } from './runner.ts';
import { closeOf, holdStream, openSocket, subscribeMany } from './streams.ts';
import type { HeldStream } from './streams.ts';
import { MAX_RESULT_FILE_BYTES, MAX_RESULT_FILES, startDevTarget, startServeTarget, STREAM_CAP } from './target.ts';
import type { FuzzTarget } from './target.ts';

const SEED = fuzzSeed();
const GENERATED = Number(process.env.ERRAND_FUZZ_CASES ?? 1000);
/** How long the server gets to exit after SIGTERM: the test's own timeout, so that cleanup still runs if it never does. */
const EXIT_PATIENCE_MS = 30_000;

function assertNone(runner: Runner, ...items: string[]): void {
  const failures = runner.failures.filter((f) => items.includes(f.item));
  assert.equal(failures.length, 0, `${failures.length} failing case(s) (seed ${SEED}):\n${describeFailures(failures)}`);
}

/** Every href in the value points at the target, whatever Host the request gave. */
async function taskJson(target: FuzzTarget, path: string): Promise<{ status: number; body: any; contentType: string }> {
  const response = await fetch(`${target.baseUrl}${path}`, { headers: { 'x-api-key': target.apiKey }, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: response.status, body, contentType: response.headers.get('content-type') ?? '' };
}

export async function fuzzSuite(kind: BackendKind): Promise<void> {
  console.log(`[fuzz] seed ${SEED}: replay with ERRAND_FUZZ_SEED=${SEED}`);
  await describeEachBackend('http fuzz', () => suite(kind), [kind]);
}

function suite(kind: BackendKind): void {
  let target: FuzzTarget;
  let runner: Runner;
  let ctx: CaseContext;
  const rng = createRng(SEED);

  before(async () => {
    target = kind === realBackend ? await startServeTarget() : await startDevTarget();
    runner = new Runner(target);
    const doneTask = await submit(target, 'echo', { seed: SEED });
    const filesTask = await submit(target, 'files', {});
    for (const id of [doneTask, filesTask]) {
      const task = await waitTerminal(target, id);
      assert.equal(task.status, 'done', `seed task ${id}: ${JSON.stringify(task)}`);
    }
    ctx = { host: target.host, port: target.port, apiKey: target.apiKey, doneTask, filesTask, linkBases: target.linkBases };
  });

  after(async () => {
    if (!runner) return;
    const byItem: Record<string, number> = {};
    for (const f of runner.failures) byItem[f.item] = (byItem[f.item] ?? 0) + 1;
    console.log(`[fuzz] ${target.kind}: seed ${SEED}, ${runner.cases} cases, ${runner.failures.length} failures by item ${JSON.stringify(byItem)}`);
    if (process.env.ERRAND_FUZZ_REPORT) {
      await writeFile(`${process.env.ERRAND_FUZZ_REPORT}.${target.kind}.json`, JSON.stringify({ seed: SEED, cases: runner.cases, failures: runner.failures }, null, 2));
    }
    await target.cleanup();
  });

  test('item 3: ids from 8000000000000000 up are unknown tasks (404) on every id route; a NUL in a file name is no 500', async () => {
    await runner.runAll(idRangeCases(ctx));
    assertNone(runner, '3');
  });

  test('item 2: a ttl or deadline out of range is refused at the edge (invalid_ttl, invalid_deadline)', async () => {
    await runner.runAll(durationCases(ctx));
    assertNone(runner, '2');
  });

  test('item 5: result files are served nosniff, sandboxed, as attachments unless inert; bad file names fail their task', async () => {
    await runner.runAll(resultFileCases(ctx));
    for (const name of ['..', '.', 'a/b', 'a\\b', 'x\u0001y', '', 'x'.repeat(300)]) {
      runner.cases++;
      try {
        const task = await waitTerminal(target, await submit(target, 'files', { name }));
        if (task.status !== 'failed') runner.fail('5', `a result file named ${JSON.stringify(name)}`, `the task ended ${task.status}; a file name with ., .., /, \\, control characters or over the bound must fail it`);
        else if (!task.error?.code) runner.fail('5', `a result file named ${JSON.stringify(name)}`, `failed without an error code: ${JSON.stringify(task)}`);
      } catch (err) {
        runner.fail('5', `a result file named ${JSON.stringify(name)}`, (err as Error).message);
      }
    }
    assertNone(runner, '5');
  });

  test('item 6: a script does not see the server\'s secrets', async () => {
    runner.cases++;
    const id = await submit(target, 'env', {});
    const task = await waitTerminal(target, id);
    assert.equal(task.status, 'done', JSON.stringify(task));
    const { body } = await taskJson(target, `/task/${id}/results`);
    const env = (body as { env?: Record<string, string> }).env ?? {};
    const text = JSON.stringify(body);
    for (const name of ['ERRAND_API_KEY', 'ERRAND_DATABASE_URL', 'ERRAND_AMQP_URL', 'ERRAND_PUBLIC_URL', 'FUZZ_SECRET_TOKEN']) {
      if (name in env) runner.fail('6', 'the environment a script sees', `it holds ${name}`);
    }
    if (text.includes(target.secret)) runner.fail('6', 'the environment a script sees', 'it holds the value of a variable of the server\'s environment');
    if (text.includes(target.apiKey)) runner.fail('6', 'the environment a script sees', 'it holds the API key');
    assertNone(runner, '6');
  });

  test('item 7: what the parser, router, WebSocket handshake and CORS refuse is a 4xx in Errand\'s shape', async () => {
    await runner.runAll(edgeCases(ctx));
    assertNone(runner, '7');
  });

  test('item 11: a spoofed Host or X-Forwarded-Host changes no link', async () => {
    await runner.runAll(hostSpoofCases(ctx));
    assertNone(runner, '11');
  });

  test('item 1: WebSocket upgrades the router refuses are answered and their sockets released', async () => {
    await runner.runAll(socketLeakCases(ctx));
    assertNone(runner, '1');
  });

  test(`item 9: a client gets at most ${STREAM_CAP} event streams, sockets and subscriptions at once, then a 429 or a close code`, async () => {
    const base = target.baseUrl.replace(/^http/, 'ws');
    const held: HeldStream[] = [];
    const sockets: import('ws').WebSocket[] = [];
    const refusal = (status: number, contentType: string, body: string): string | undefined => {
      if (status !== 429) return `refused with ${status}, not 429`;
      return errorShapeProblem({ version: '1.1', status, reason: '', headers: { 'content-type': contentType }, body: Buffer.from(body) }, 'GET');
    };
    try {
      // SSE streams.
      for (let i = 0; i <= STREAM_CAP; i++) {
        runner.cases++;
        const stream = await holdStream(target.host, target.port, '/events', target.apiKey);
        held.push(stream);
        const over = i === STREAM_CAP;
        if (stream.problem) runner.fail('9', `event stream ${i + 1}`, stream.problem);
        else if (!over && stream.response!.status !== 200) runner.fail('9', `event stream ${i + 1} of ${STREAM_CAP}`, `answered ${stream.response!.status}`);
        else if (over) {
          const problem = stream.response!.status === 200 ? `stream ${i + 1} was opened: no cap` : refusal(stream.response!.status, stream.response!.headers['content-type'] ?? '', stream.response!.body.toString());
          if (problem) runner.fail('9', `event stream ${i + 1}, over the cap`, problem);
        }
      }
      held.forEach((s) => s.socket.destroy());
      // Closed streams free their places (the server hears of the close a moment later).
      const giveUp = Date.now() + 10_000;
      for (;;) {
        const probe = await holdStream(target.host, target.port, '/events', target.apiKey);
        probe.socket.destroy();
        if (probe.response?.status === 200) break;
        if (Date.now() > giveUp) {
          runner.fail('9', 'an event stream after the others closed', `answered ${probe.response?.status ?? probe.problem}: closed streams do not free their places`);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      // WebSockets.
      for (let i = 0; i <= STREAM_CAP; i++) {
        runner.cases++;
        const over = i === STREAM_CAP;
        const outcome = await openSocket(`${base}/events`, target.apiKey);
        if (outcome.kind === 'open') sockets.push(outcome.ws);
        if (!over) {
          if (outcome.kind !== 'open') runner.fail('9', `socket ${i + 1} of ${STREAM_CAP}`, JSON.stringify(outcome));
          continue;
        }
        if (outcome.kind === 'refused') {
          const problem = refusal(outcome.status, outcome.contentType, outcome.body);
          if (problem) runner.fail('9', `socket ${i + 1}, over the cap`, problem);
        } else if (outcome.kind === 'open') {
          const closed = await closeOf(outcome.ws);
          if (!closed) runner.fail('9', `socket ${i + 1}, over the cap`, 'it was opened and kept open: no cap');
          else if (closed.code === 1000 || closed.code === 1006) runner.fail('9', `socket ${i + 1}, over the cap`, `closed with ${closed.code}, not a code saying why`);
        } else if (outcome.kind === 'error') runner.fail('9', `socket ${i + 1}, over the cap`, outcome.message);
      }
      sockets.splice(1).forEach((ws) => ws.terminate());
      // Subscriptions on one socket.
      runner.cases++;
      const first = sockets[0];
      if (first) {
        const { answers, closed } = await subscribeMany(first, STREAM_CAP + 1);
        const ok = answers.filter((a) => a.type === 'subscribed').length;
        if (ok > STREAM_CAP) runner.fail('9', `${STREAM_CAP + 1} subscriptions on one socket`, `all ${ok} were accepted: no cap`);
        const refused = answers.find((a) => a.type === 'error');
        if (refused && (typeof refused.error?.code !== 'string' || typeof refused.error?.message !== 'string')) runner.fail('9', 'the subscription over the cap', `refused without a code and message: ${JSON.stringify(refused)}`);
        if (!refused && !closed && ok <= STREAM_CAP) runner.fail('9', 'the subscription over the cap', `no answer: ${JSON.stringify(answers)}`);
      }
    } finally {
      held.forEach((s) => s.socket.destroy());
      sockets.forEach((ws) => ws.terminate());
    }
    assertNone(runner, '9');
  });

  test('item 10: results over the bounds fail result_too_large naming the bound; finished tasks get a default retention', async () => {
    const check = async (name: string, input: unknown, bound: RegExp): Promise<void> => {
      runner.cases++;
      try {
        const task = await waitTerminal(target, await submit(target, 'files', input));
        if (task.status !== 'failed' || task.error?.code !== 'result_too_large') runner.fail('10', name, `ended ${task.status} ${JSON.stringify(task.error ?? null)}, expected failed result_too_large`);
        else if (!bound.test(task.error.message)) runner.fail('10', name, `the message does not name the bound: ${JSON.stringify(task.error.message)}`);
      } catch (err) {
        runner.fail('10', name, (err as Error).message);
      }
    };
    await check(`${MAX_RESULT_FILES + 5} files`, { count: MAX_RESULT_FILES + 5 }, new RegExp(`\\b${MAX_RESULT_FILES}\\b`));
    await check('a file twice the size bound', { bytes: 2 * MAX_RESULT_FILE_BYTES }, /\b1048576\b|\b1 ?Mi?B\b|\b1024 ?Ki?B\b/i);
    runner.cases++;
    const plain = await waitTerminal(target, await submit(target, 'echo', { retention: true }));
    if (typeof plain.expiresAt !== 'string') runner.fail('10', 'a task submitted without ttl', `has no expiresAt once done: ${JSON.stringify(plain)}`);
    assertNone(runner, '10');
  });

  test('item 8: a request that trickles in is cut by the short timeouts', async () => {
    // Concurrently: each takes as long as the server lets it.
    await Promise.all(trickleCases(ctx).map((c) => runner.run(c)));
    await runner.settle();
    assertNone(runner, '8');
  });

  test(`generated cases (${GENERATED}, seed ${SEED}): a 4xx in Errand's shape or a documented 2xx, and a good request served after every 100`, async () => {
    const known = [ctx.doneTask, ctx.filesTask];
    const cases = Array.from({ length: GENERATED }, (_, i) => generateCase(rng, ctx, i, known));
    await runner.runAll(cases);
    await runner.goodRequests('after the generated cases');
    assertNone(runner, 'gen', 'health');
  });

  test('every task the server accepted reaches a terminal state', async () => {
    const ids = [...runner.accepted.keys()].filter((id) => !runner.deleted.has(id));
    const open = new Set(ids);
    const last = new Map<string, string>();
    const giveUp = Date.now() + 30_000;
    const look = async (id: string): Promise<void> => {
      const response = await fetch(`${target.baseUrl}/task/${id}`, { headers: { 'x-api-key': target.apiKey }, signal: AbortSignal.timeout(10_000) }).catch((err: Error) => err);
      if (response instanceof Error) return void last.set(id, response.message);
      const text = await response.text();
      if (response.status === 200) {
        const task = JSON.parse(text) as TaskView;
        last.set(id, task.status);
        if (TERMINAL.has(task.status)) open.delete(id);
      } else if (response.status === 404 && /^PT\d+(\.\d+)?S$/.test(runner.accepted.get(id) ?? '')) {
        open.delete(id); // removed by its own short ttl, which only happens after it ended
      } else {
        last.set(id, `GET /task/${id} answered ${response.status} ${text.slice(0, 200)}`);
      }
    };
    while (open.size > 0 && Date.now() < giveUp) {
      for (const id of [...open]) await look(id);
      if (open.size > 0) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const stuck = [...open].map((id) => `${id} (${last.get(id) ?? 'never seen'}, ttl ${runner.accepted.get(id) ?? 'none'})`);
    console.log(`[fuzz] ${target.kind}: ${ids.length} accepted tasks, ${stuck.length} not ended`);
    assert.deepEqual(stuck, [], `accepted tasks that never ended (seed ${SEED}); a task with ttl=P300000Y and the like is item 2`);
  });

  test('item 4: a formula a backtracking regular expression would take minutes over is refused at once', async () => {
    await runner.run(redosCase(ctx));
    await runner.settle();
    await runner.goodRequests('after the ReDoS case');
    assertNone(runner, '4', 'health');
  });

  test('at least 1,000 cases ran, and the server exits on SIGTERM', { timeout: EXIT_PATIENCE_MS }, async () => {
    assert.ok(runner.cases >= 1000 || GENERATED < 1000, `only ${runner.cases} cases ran`);
    target.server.child.kill('SIGTERM');
    // The test's timeout is the only bound: a server that never exits fails it (and cleanup kills it).
    const { code, signal } = await target.server.exited;
    console.log(`[fuzz] ${target.kind}: the server exited on SIGTERM with code ${code}${signal ? `, signal ${signal}` : ''}`);
    assert.equal(code, 0, target.server.output().split('\n').slice(-20).join('\n'));
  });
}
