/**
 * `errand/client` as a program outside this repository uses it: the package installed in its
 * node_modules, the client's types checked by tsc from the built dist/client/index.d.ts, and a
 * plain `node` script (no tsx) calling a running Errand through the built client.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { ensureBuilt, REPO_ROOT } from '../support/build.ts';
import { makePackageUser } from '../support/package-user.ts';
import { embeddedBackend } from '../support/backends.ts';
import type { Backend } from '../support/backends.ts';
import { steps } from '../support/services.ts';
import { startStack } from '../support/stack.ts';
import type { Stack } from '../support/stack.ts';

const run = promisify(execFile);
const TSC = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');

const TYPED = `import { createClient, ErrandApiError } from 'errand/client';
import type { TaskEvent } from 'errand/client';

export async function main(url: string): Promise<number> {
  const errand = createClient({ url, key: process.env.ERRAND_KEY });
  const task = await errand.submit('steps', { pauseMs: 1 });
  const events: TaskEvent[] = [];
  for await (const event of errand.watch(task.id)) events.push(event);
  try {
    await errand.get('0000000000000000');
  } catch (err) {
    if (err instanceof ErrandApiError) return err.status;
  }
  return events.length;
}
`;

// A misspelt method: an error only if the client really is typed.
const MISSPELT = `import { createClient } from 'errand/client';

export const task = createClient('http://localhost:3000').sumbit('echo', {});
`;

const SCRIPT = `import { createClient, ErrandApiError } from 'errand/client';

const errand = createClient(process.env.ERRAND_URL);
const task = await errand.submit('steps', { pauseMs: 1 });
const types = [];
for await (const event of errand.watch(task.id)) types.push(event.type);
const result = await errand.results(task.id);
let missing;
try { await errand.get('0000000000000000'); } catch (err) { missing = err instanceof ErrandApiError ? err.code : String(err); }
console.log(JSON.stringify({ types, result, missing }));
`;

let author: string;
let backend: Backend;
let stack: Stack;

before(async () => {
  ensureBuilt();
  author = await makePackageUser('web-app', { 'typed.ts': TYPED, 'misspelt.ts': MISSPELT, 'script.mjs': SCRIPT });
  backend = await embeddedBackend.create();
  stack = await startStack(backend, { services: [steps()] });
});

after(async () => {
  await stack?.close();
  await backend?.close();
  await rm(author, { recursive: true, force: true });
});

test('errand/client type-checks from the built declarations, and a misuse is caught', async () => {
  const output = await run(process.execPath, [TSC, '-p', author, '--pretty', 'false'], { cwd: author }).then(
    () => '',
    (err: { stdout: string; stderr: string }) => err.stdout + err.stderr,
  );
  const errors = output.split('\n').filter((line) => / error TS\d+/.test(line));
  assert.deepEqual(errors.filter((line) => line.startsWith('typed.ts')), [], output);
  const misspelt = errors.filter((line) => line.startsWith('misspelt.ts'));
  assert.equal(misspelt.length, 1, output);
  assert.match(misspelt[0]!, /sumbit/);
});

test('a plain node script submits, watches and reads a result through the built errand/client', async () => {
  const { stdout } = await run(process.execPath, [join(author, 'script.mjs')], { cwd: author, env: { ...process.env, ERRAND_URL: stack.baseUrl } });
  const answer = JSON.parse(stdout) as { types: string[]; result: unknown; missing: string };
  assert.equal(answer.types[0], 'queued');
  assert.equal(answer.types.at(-1), 'done');
  assert.deepEqual(answer.result, { ok: true, input: { pauseMs: 1 } });
  assert.equal(answer.missing, 'not_found');
});
