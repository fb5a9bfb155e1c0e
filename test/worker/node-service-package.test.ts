/**
 * A Node service written outside this repository, as its author would: the `errand` package
 * installed in its node_modules, its types imported from 'errand' (package.json's exports, the
 * built dist/index.d.ts), and the service run by the built worker (dist/), as in production.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type * as NodeExecutors from '../../src/worker/executors/node.ts';
import { testLogger } from '../support/backends.ts';
import { ensureBuilt, REPO_ROOT } from '../support/build.ts';
import { makePackageUser } from '../support/package-user.ts';

const TSC = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');

const GOOD = `import type { ServiceContext, ServiceRun } from 'errand';

export async function run(input: { n: number }, ctx: ServiceContext) {
  ctx.progress({ progress: 50 });
  ctx.saveFile('square.txt', String(input.n ** 2), 'text/plain');
  ctx.saveFile('bytes.bin', new Uint8Array([1, 2]), 'application/octet-stream');
  ctx.noCache();
  if (ctx.signal.aborted) throw new Error('stopped');
  return { square: input.n ** 2, taskId: ctx.taskId, service: ctx.service };
}

export const echo: ServiceRun = (input) => input;
`;

// A misspelt method: an error only if the context really is typed (not any, not unresolved).
const MISSPELT = `import type { ServiceContext } from 'errand';

export function run(input: unknown, ctx: ServiceContext) {
  ctx.progres(50);
  return input;
}
`;

// The sources are not the package's interface.
const DEEP = `import type { NodeServiceContext } from 'errand/src/worker/index.ts';

export function run(input: unknown, ctx: NodeServiceContext) {
  return input;
}
`;

let author: string;

before(async () => {
  ensureBuilt();
  author = await makePackageUser('stats-services', {
    'square.ts': GOOD, 'misspelt.ts': MISSPELT, 'deep.ts': DEEP,
    'plain.mjs': 'export function run(input) { return { input, execArgv: process.execArgv }; }\n',
  });
});

after(async () => {
  await rm(author, { recursive: true, force: true });
});

test('a service imports its types from errand: they check, a misuse is caught, and the sources are not importable', async () => {
  const result = await promisify(execFile)(process.execPath, [TSC, '-p', author, '--pretty', 'false'], { cwd: author }).then(
    () => ({ output: '' }),
    (err: { stdout: string; stderr: string }) => ({ output: err.stdout + err.stderr }),
  );
  const errors = result.output.split('\n').filter((line) => / error TS\d+/.test(line));
  const byFile = (file: string): string[] => errors.filter((line) => line.startsWith(file));
  assert.deepEqual(byFile('square.ts'), [], result.output);
  assert.equal(byFile('misspelt.ts').length, 1, result.output);
  assert.match(byFile('misspelt.ts')[0]!, /error TS2551: Property 'progres' does not exist on type 'ServiceContext'/);
  assert.equal(byFile('deep.ts').length, 1, result.output);
  assert.match(byFile('deep.ts')[0]!, /error TS2307: Cannot find module 'errand\/src\/worker\/index\.ts'/);
  assert.equal(errors.length, 2, result.output);
});

test('the built worker runs a TypeScript service typed from errand, and a JavaScript one on plain Node', async () => {
  const built = (await import(pathToFileURL(join(REPO_ROOT, 'dist/worker/executors/node.js')).href)) as typeof NodeExecutors;
  const run = async (entry: string, input: unknown) => {
    const pool = await built.startNodePool({ entryPath: join(author, entry), service: 'square', maxProcesses: 1, logger: testLogger });
    try {
      const progress: unknown[] = [];
      const outcome = await pool.run({ taskId: '0000000000000abc', service: 'square', input, signal: new AbortController().signal, progress: (data) => progress.push(data) });
      return { outcome, progress };
    } finally {
      await pool.close();
    }
  };

  const typed = await run('square.ts', { n: 3 });
  assert.deepEqual(typed.progress, [{ progress: 50 }]);
  assert.equal(typed.outcome.status, 'done');
  const done = typed.outcome as Extract<typeof typed.outcome, { status: 'done' }>;
  assert.deepEqual(done.index, { square: 9, taskId: '0000000000000abc', service: 'square' });
  assert.deepEqual(done.files.map((f) => [f.name, f.content.toString('hex')]), [['square.txt', '39'], ['bytes.bin', '0102']]);
  assert.equal(done.cacheable, false);

  // No TypeScript loader where nothing is TypeScript: the child is dist's child.js, the service .mjs.
  const plain = await run('plain.mjs', { a: 1 });
  assert.deepEqual(plain.outcome, { status: 'done', index: { input: { a: 1 }, execArgv: [] }, files: [] });
});
