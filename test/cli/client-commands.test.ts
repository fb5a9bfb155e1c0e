/**
 * The client commands (issue 15) run as a user runs them, the built `errand` against a running
 * Errand, output to pipes (as from a script): what lands on stdout, on stderr, and the exit status.
 * The terminal's side (progress bar, Ctrl-C) is in client-terminal.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createClient } from '../../src/client/index.ts';
import type { ErrandClient, TaskDescription } from '../../src/client/index.ts';
import { embeddedBackend } from '../support/backends.ts';
import type { Backend } from '../support/backends.ts';
import { ensureBuilt } from '../support/build.ts';
import { createKeys, hold } from '../support/access.ts';
import { ERRAND_BIN, freePort } from '../support/processes.ts';
import { echo, service, steps } from '../support/services.ts';
import { startStack } from '../support/stack.ts';
import type { Stack } from '../support/stack.ts';

interface Ran { code: number | null; stdout: string; stderr: string }

let backend: Backend;
let stack: Stack;
let secured: Stack;
let client: ErrandClient;
let dir: string;
let keys: Record<string, string>;

function errand(args: string[], options: { env?: Record<string, string>; stdin?: string } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ERRAND_BIN, ...args], { env: { ...process.env, ERRAND_URL: stack.baseUrl, ERRAND_KEY: '', ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

before(async () => {
  ensureBuilt();
  dir = await mkdtemp(join(tmpdir(), 'errand-cli-'));
  backend = await embeddedBackend.create();
  // Links a file of its own named result.json, the name --out saves the result itself under.
  const selfNamed = service('self-named', (_input, ctx) => {
    ctx.saveFile('result.json', '{"not":"the result"}', 'application/json');
    return { file: { href: 'result.json' } };
  });
  stack = await startStack(backend, { services: [echo(), steps(), hold(), selfNamed] });
  secured = await startStack(backend, { services: [echo('echo-secured')], settings: { auth: { required: true } }, nodeId: 2 });
  keys = await createKeys(backend.store, [['alice', 'alice-cli', { scopes: ['submit', 'read', 'cancel'] }], ['bob', 'bob-cli', { scopes: ['submit', 'read'] }]]);
  client = createClient(stack.baseUrl);
});

after(async () => {
  await secured?.close();
  await stack?.close();
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

test('submit --follow from a file: events on stderr, the result alone on stdout as the service wrote it, exit 0', async () => {
  const input = join(dir, 'input.json');
  await writeFile(input, '{"pauseMs": 150}');
  const ran = await errand(['submit', 'steps', input, '--follow']);
  assert.equal(ran.code, 0, ran.stderr);
  assert.equal(ran.stdout, '{"ok":true,"input":{"pauseMs":150}}\n');
  const lines = ran.stderr.trim().split('\n');
  assert.match(lines[0]!, /^task [0-9a-f]{16} \(steps\) queued$/);
  assert.deepEqual(lines.slice(1).map((line) => line.split(' ')[0]), ['queued', 'started', 'progress', 'progress', 'progress', 'done']);
  assert.match(lines.find((line) => line.startsWith('progress 50%'))!, /^progress 50%/);
});

test('submit from stdin with --json --follow: one JSON event per line, ending with the terminal one', async () => {
  const ran = await errand(['submit', 'echo', '-', '--follow', '--json'], { stdin: '{"x": 1.50}' });
  assert.equal(ran.code, 0, ran.stderr);
  const events = ran.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; taskId: string });
  assert.equal(events[0]!.type, 'queued');
  assert.equal(events.at(-1)!.type, 'done');
  // The input was sent as written.
  assert.equal(await client.inputText(events[0]!.taskId), '{"x": 1.50}');
});

test('submit without --follow prints the id and link; task, tasks and results read it back', async () => {
  const ran = await errand(['submit', 'echo', '-'], { stdin: '{"hello": "cli"}' });
  assert.equal(ran.code, 0, ran.stderr);
  const [first, link] = ran.stdout.trim().split('\n');
  const id = first!.split(' ')[0]!;
  assert.match(id, /^[0-9a-f]{16}$/);
  assert.equal(link, `${stack.baseUrl}/task/${id}`);
  await client.wait(id);

  const task = await errand(['task', id]);
  assert.equal(task.code, 0);
  assert.match(task.stdout, new RegExp(`^id: +${id}$`, 'm'));
  assert.match(task.stdout, /^status: +done$/m);
  const asJson = JSON.parse((await errand(['task', id, '--json'])).stdout) as TaskDescription;
  assert.equal(asJson.status, 'done');

  const list = await errand(['tasks', '--service', 'echo', '--status', 'done', '--limit', '2']);
  assert.equal(list.code, 0, list.stderr);
  const rows = list.stdout.trim().split('\n');
  assert.match(rows[0]!, /^ID +SERVICE +STATUS +CREATED +TOOK +ERROR$/);
  assert.equal(rows.length, 3, list.stdout);
  assert.ok(rows[1]!.startsWith(id), 'newest first');
  const listed = JSON.parse((await errand(['tasks', '--json', '--limit', '1'])).stdout) as TaskDescription[];
  assert.equal(listed.length, 1);

  const results = await errand(['results', id]);
  assert.equal(results.stdout, '{"hello":"cli"}\n');
});

test('results --out saves the result and its linked files; watch of an ended task prints its result', async () => {
  const task = await client.submit('steps', { file: true, pauseMs: 1 });
  await client.wait(task.id);
  const out = join(dir, 'out');
  const ran = await errand(['results', task.id, '--out', out]);
  assert.equal(ran.code, 0, ran.stderr);
  assert.deepEqual((await readdir(out)).sort(), ['plot.svg', 'result.json']);
  assert.equal(await readFile(join(out, 'plot.svg'), 'utf8'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  assert.match(ran.stderr, /saved .*plot\.svg/);
  // A file the script named result.json is not written over the result.
  const selfNamed = await client.submit('self-named', {});
  await client.wait(selfNamed.id);
  const second = join(dir, 'out-self-named');
  const kept = await errand(['results', selfNamed.id, '--out', second]);
  assert.equal(kept.code, 0, kept.stderr);
  assert.equal(await readFile(join(second, 'result.json'), 'utf8'), '{"file":{"href":"result.json"}}');
  assert.match(kept.stderr, /not saved: the result links a file named result\.json/);
  const watched = await errand(['watch', task.id]);
  assert.equal(watched.code, 0);
  assert.equal(JSON.parse(watched.stdout).plot.href, 'plot.svg');
});

test('a failed task: its error on stderr and exit 1; cancel; a task not ended has no results yet', async () => {
  const failed = await errand(['submit', 'steps', '-', '--follow'], { stdin: '{"fail": true, "pauseMs": 1}' });
  assert.equal(failed.code, 1);
  assert.equal(failed.stdout, '');
  assert.match(failed.stderr, /task [0-9a-f]{16} failed: \w+: .*asked to fail/);

  const held = await client.submit('hold', {});
  const early = await errand(['results', held.id]);
  assert.equal(early.code, 1);
  assert.match(early.stderr, /has not ended/);
  const canceled = await errand(['cancel', held.id]);
  assert.equal(canceled.code, 0, canceled.stderr);
  assert.equal(canceled.stdout, `${held.id} canceled\n`);
  const again = await errand(['cancel', held.id]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^errand: task_ended: /);
});

test('refusals print Errand\'s code and field; bad command lines exit 2 with the usage; no server is one clear line', async () => {
  const unknown = await errand(['submit', 'nosuch']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^errand: unknown_service: .*\(field service\)\n$/);
  const badStatus = await errand(['tasks', '--status', 'finished']);
  assert.equal(badStatus.code, 1);
  assert.match(badStatus.stderr, /invalid_field: .*\(field status\)/);
  const notJson = await errand(['submit', 'echo', '-'], { stdin: '{nope' });
  assert.equal(notJson.code, 2);
  assert.match(notJson.stderr, /the input on stdin is not JSON/);
  const missing = await errand(['submit', 'echo', join(dir, 'no-such-file.json')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read the input .*ENOENT/);
  const flag = await errand(['services', '--colour']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /Unknown option '--colour'/);
  const down = await errand(['services', '--url', `http://127.0.0.1:${await freePort()}`]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /^errand: GET http:\/\/127\.0\.0\.1:\d+\/services failed: /);
  assert.equal(down.stderr.trim().split('\n').length, 1, 'one line, no stack trace');
});

test('services lists what workers run, as a table or JSON', async () => {
  const ran = await errand(['services']);
  assert.equal(ran.code, 0);
  assert.match(ran.stdout, /^SERVICE +VERSION +RUNTIME +ONLINE +BUSY +DESCRIPTION$/m);
  assert.match(ran.stdout, /^steps +1\.0\.0 +\S+ +yes /m);
  const names = (JSON.parse((await errand(['services', '--json'])).stdout) as Array<{ name: string }>).map((s) => s.name).sort();
  assert.deepEqual(names, ['echo', 'echo-secured', 'hold', 'self-named', 'steps']);
});

test('--key and ERRAND_KEY sign in: each principal lists only its own tasks; none is 401', async () => {
  const env = { ERRAND_URL: secured.baseUrl };
  const mine = await errand(['submit', 'echo-secured', '-', '--follow'], { env: { ...env, ERRAND_KEY: keys.alice! }, stdin: '{"who": "alice"}' });
  assert.equal(mine.code, 0, mine.stderr);
  assert.equal(mine.stdout, '{"who":"alice"}\n');
  const alices = JSON.parse((await errand(['tasks', '--json', '--key', keys.alice!], { env })).stdout) as TaskDescription[];
  const bobs = JSON.parse((await errand(['tasks', '--json'], { env: { ...env, ERRAND_KEY: keys.bob! } })).stdout) as TaskDescription[];
  assert.equal(alices.length, 1);
  assert.deepEqual(bobs, []);
  const nobody = await errand(['tasks'], { env });
  assert.equal(nobody.code, 1);
  assert.match(nobody.stderr, /^errand: unauthorized: .*\(field authorization\)/);
});
