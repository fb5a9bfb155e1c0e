/** Loading a services folder: every broken service reported with file and field, the rest served. */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadServiceDir } from '../../src/worker/index.ts';
import type { LoadedServices } from '../../src/worker/index.ts';
import { testLogger } from '../support/backends.ts';
import { rUnavailable } from '../support/r.ts';

let dir: string;
let loaded: LoadedServices;

async function folder(name: string, files: Record<string, string>, executable: string[] = []): Promise<void> {
  await mkdir(join(dir, name));
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, name, file), text);
  for (const file of executable) await chmod(join(dir, name, file), 0o755);
}

const haveR = (await rUnavailable()) === undefined;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'errand-services-'));
  await folder('good-node', { 'service.json': '{"version": "1.2.3"}', 'index.ts': 'export const run = (x: unknown) => x;', 'README.md': '# good' });
  await folder('good-command', { 'service.json': '{"entry": "go.sh"}', 'go.sh': '#!/bin/sh\ncat\n' }, ['go.sh']);
  await folder('typo', { 'service.json': '{"timout": "PT1M"}', 'index.ts': 'export const run = () => 1;' });
  await folder('not-executable', { 'service.json': '{"entry": "go.sh"}', 'go.sh': '#!/bin/sh\n' });
  await folder('no-program', { 'service.json': '{"entry": "main.py", "command": ["./bin/start"]}', 'main.py': 'print(1)\n' });
  await folder('good-python', { 'service.json': '{"entry": "main.py", "command": ["python3", "main.py"]}', 'main.py': 'import sys; sys.stdout.write(sys.stdin.read())\n' });
  await folder('no-entry', { 'service.json': '{"runtime": "r", "entry": "missing.R"}' });
  await folder('no-docs', { 'service.json': '{"docs": "GUIDE.md"}', 'index.ts': 'export const run = () => 1;' });
  await folder('z-duplicate', { 'service.json': '{"name": "good-node"}', 'index.ts': 'export const run = () => 1;' });
  await folder('not-a-service', { 'notes.txt': 'no manifest here' });
  if (haveR) {
    await folder('r-broken', { 'service.json': '{"entry": "s.R"}', 's.R': 'r-broken <- function(params {' });
    await folder('r-nofn', { 'service.json': '{"entry": "s.R", "function": "fit"}', 's.R': 'other <- function(params) params' });
  }
  loaded = await loadServiceDir(dir, { defaultConcurrency: 3, logger: testLogger });
});

after(async () => {
  await Promise.all(loaded.services.map((s) => s.executor.close()));
  await rm(dir, { recursive: true, force: true });
});

test('good services load with their defaults and docs', () => {
  assert.deepEqual(loaded.services.map((s) => s.name).sort(), ['good-command', 'good-node', 'good-python']);
  const node = loaded.services.find((s) => s.name === 'good-node')!;
  assert.equal(node.manifest.version, '1.2.3');
  assert.equal(node.concurrency, 3);
  assert.equal(node.docs, '# good');
});

test('each broken service is reported with its file and the field at fault', () => {
  const byFolder = Object.fromEntries(loaded.problems.map((p) => [p.file.split('/').at(-2)!, p]));
  const expected: Record<string, [string, RegExp]> = {
    typo: ['timout', /not a manifest field/],
    'not-executable': ['command', /not executable/],
    'no-program': ['command', /\.\/bin\/start does not exist/],
    'no-entry': ['entry', /missing\.R does not exist/],
    'no-docs': ['docs', /GUIDE\.md does not exist/],
    'z-duplicate': ['name', /already named "good-node"/],
    ...(haveR ? { 'r-broken': ['entry', /unexpected/], 'r-nofn': ['function', /no function named fit/] } : {}),
  };
  assert.deepEqual(Object.keys(byFolder).sort(), Object.keys(expected).sort());
  for (const [name, [field, message]] of Object.entries(expected)) {
    assert.equal(byFolder[name]!.field, field, name);
    assert.match(byFolder[name]!.message, message, name);
    assert.equal(byFolder[name]!.file, join(dir, name, 'service.json'));
  }
});

test('a command service run through an interpreter needs no executable bit, and works', async () => {
  const python = loaded.services.find((s) => s.name === 'good-python')!;
  assert.equal(python.manifest.runtime, 'command');
  const outcome = await python.executor.run({ taskId: '00000000000000d1', service: 'good-python', input: { n: 1 }, signal: new AbortController().signal, progress: () => undefined });
  assert.deepEqual(outcome, { status: 'done', index: { n: 1 }, files: [] });
});
