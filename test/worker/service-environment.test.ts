/**
 * What a service's processes can see of the worker's environment, in each runtime that starts
 * processes (R, command, the Node pool): the allowlist and what its manifest declares, never
 * Errand's API key, database URL, PG* variables or any other variable of the worker's. And the
 * loader's warnings: a declared variable holding a secret, an input pattern that backtracks.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { secretValues } from '../../src/core/index.ts';
import { loadServiceDir } from '../../src/worker/index.ts';
import type { LoadedServices, Outcome } from '../../src/worker/index.ts';
import { rUnavailable } from '../support/r.ts';

const haveR = (await rUnavailable()) === undefined;

const API_KEY = `key-${randomBytes(8).toString('hex')}`;
const DB_PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
const DATABASE_URL = `postgres://errand:${DB_PASSWORD}@127.0.0.1:5432/errand`;
const RANDOM_NAME = `SOME_TOKEN_${randomBytes(4).toString('hex').toUpperCase()}`;
const RANDOM_VALUE = randomBytes(12).toString('hex');
/** Set in the worker's environment for the test, restored after. */
const WORKER_ENV: Record<string, string> = {
  ERRAND_API_KEY: API_KEY,
  ERRAND_DATABASE_URL: DATABASE_URL,
  PGPASSWORD: DB_PASSWORD,
  [RANDOM_NAME]: RANDOM_VALUE,
  SERVICE_PASSED: 'passed-through',
  // Declared by the services, but its value holds the database password: withheld, with a warning.
  SERVICE_LEAKY: `host=db password=${DB_PASSWORD}`,
};
const DECLARED = { SERVICE_PASSED: true, SERVICE_FIXED: 'fixed-value', SERVICE_LEAKY: true };
const SECRET_VALUES = [API_KEY, DB_PASSWORD, RANDOM_VALUE];

let dir: string;
let loaded: LoadedServices;
const warnings: { msg: string; variable?: string; field?: string }[] = [];
const saved: Record<string, string | undefined> = {};

async function folder(name: string, files: Record<string, string>, executable: string[] = []): Promise<void> {
  await mkdir(join(dir, name));
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, name, file), text);
  for (const file of executable) await chmod(join(dir, name, file), 0o755);
}

before(async () => {
  for (const [name, value] of Object.entries(WORKER_ENV)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
  dir = await mkdtemp(join(tmpdir(), 'errand-service-env-'));
  const manifest = (extra: Record<string, unknown>) => JSON.stringify({ ...extra, env: DECLARED });
  await folder('envnode', { 'service.json': manifest({ entry: 'index.ts' }), 'index.ts': 'export const run = () => ({ ...process.env });\n' });
  await folder('envcommand', {
    'service.json': manifest({ entry: 'dump.py', command: ['./dump.py'] }),
    'dump.py': '#!/usr/bin/env python3\nimport json, os\nprint(json.dumps(dict(os.environ)))\n',
  }, ['dump.py']);
  if (haveR) {
    await folder('envr', { 'service.json': manifest({ runtime: 'r', entry: 'dump.R', function: 'dump' }), 'dump.R': 'dump <- function(params) as.list(Sys.getenv())\n' });
  }
  // Catastrophic for a backtracking engine; loads (Errand's engine is linear), with a warning.
  await folder('risky', {
    'service.json': JSON.stringify({ entry: 'index.ts', inputSchema: { type: 'object', properties: { word: { type: 'string', pattern: '^(a+)+$' } } } }),
    'index.ts': 'export const run = (x: unknown) => x;\n',
  });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { level: number; msg: string; variable?: string; field?: string };
        if (entry.level === 40) warnings.push(entry);
      }
      done();
    },
  });
  const logger = pino({ level: 'warn' }, sink);
  loaded = await loadServiceDir(dir, { defaultConcurrency: 1, logger, secrets: secretValues([API_KEY, DATABASE_URL, 'amqp://guest:guest@127.0.0.1:5672']) });
});

after(async () => {
  await Promise.all(loaded.services.map((s) => s.executor.close()));
  await rm(dir, { recursive: true, force: true });
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

async function environmentOf(service: string): Promise<Record<string, unknown>> {
  const definition = loaded.services.find((s) => s.name === service);
  assert.ok(definition, `${service} did not load: ${JSON.stringify(loaded.problems)}`);
  const outcome: Outcome = await definition.executor.run({ taskId: '00000000000000e1', service, input: {}, signal: new AbortController().signal, progress: () => undefined });
  assert.equal(outcome.status, 'done', JSON.stringify(outcome));
  const index = (outcome as { index: Record<string, unknown> }).index;
  // R's JSON gives each string as a one-element array.
  return Object.fromEntries(Object.entries(index).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
}

for (const [runtime, service] of [['Node pool', 'envnode'], ['command', 'envcommand'], ['R', 'envr']] as const) {
  test(`${runtime}: no ERRAND_API_KEY, database URL, PGPASSWORD or other worker variable; the declared ones are there`, { skip: service === 'envr' && !haveR ? 'R is not installed' : false }, async () => {
    const env = await environmentOf(service);
    for (const name of ['ERRAND_API_KEY', 'ERRAND_DATABASE_URL', 'PGPASSWORD', RANDOM_NAME, 'SERVICE_LEAKY']) assert.ok(!(name in env), `${service} sees ${name}`);
    for (const [name, value] of Object.entries(env)) {
      for (const secret of SECRET_VALUES) assert.ok(!String(value).includes(secret), `${service}'s ${name} holds a secret`);
    }
    assert.equal(env.SERVICE_PASSED, 'passed-through');
    assert.equal(env.SERVICE_FIXED, 'fixed-value');
    assert.ok(String(env.PATH).includes('/usr/bin'), 'PATH is passed'); // (a python3 shim may add to it)
    // Errand's own variables: only those the command runtime sets for the task.
    assert.deepEqual(Object.keys(env).filter((k) => k.startsWith('ERRAND_')).sort(), service === 'envcommand' ? ['ERRAND_NO_CACHE_FILE', 'ERRAND_OUTPUT_DIR', 'ERRAND_PROGRESS_FD', 'ERRAND_SERVICE', 'ERRAND_TASK_ID'] : []);
  });
}

test('the loader warns about a declared variable withheld for holding a secret, and about a backtracking pattern', () => {
  const withheld = warnings.filter((w) => w.variable === 'SERVICE_LEAKY');
  assert.equal(withheld.length, haveR ? 3 : 2);
  assert.match(withheld[0]!.msg, /env\.SERVICE_LEAKY is not passed to .*one of Errand's own secrets/);
  const risky = warnings.filter((w) => w.field === 'inputSchema.properties.word.pattern');
  assert.equal(risky.length, 1);
  assert.match(risky[0]!.msg, /superlinear time in a backtracking regular expression engine \(ReDoS\)/);
  assert.ok(loaded.services.some((s) => s.name === 'risky'), 'a flagged pattern is a warning, not a refusal');
});
