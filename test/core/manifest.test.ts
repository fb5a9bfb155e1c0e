/** Service manifests and input schemas: defaults, and problems that name their field. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createInputValidator, readManifest } from '../../src/core/index.ts';
import type { Manifest, ManifestProblem } from '../../src/core/index.ts';

const FILE = 'services/x/service.json';
const read = (raw: unknown, folder = 'x') => readManifest(raw, folder, FILE);

function problem(raw: unknown): ManifestProblem {
  const result = read(raw);
  assert.ok('message' in result, `expected a problem, got ${JSON.stringify(result)}`);
  assert.equal(result.file, FILE);
  return result;
}

test('defaults: name from the folder, runtime from the entry, function from the name, no cache', () => {
  const r = read({ entry: 'model.R' }, 'fit') as Manifest;
  assert.equal(r.name, 'fit');
  assert.equal(r.runtime, 'r');
  assert.equal(r.function, 'fit');
  assert.equal(r.version, '0.0.0');
  assert.deepEqual(r.cache, { enabled: false, lifetime: 'PT24H', shared: false });
  assert.equal(r.timeoutMs, null);
  assert.equal((read({ entry: 'main.ts' }) as Manifest).runtime, 'node');
  const command = read({ entry: 'run.sh' }) as Manifest;
  assert.equal(command.runtime, 'command');
  assert.deepEqual(command.command, ['./run.sh']);
  assert.equal((read({}) as Manifest).entry, 'index.ts');
});

test('timeout, ttl and cache are read', () => {
  const r = read({ runtime: 'r', entry: 'a.R', timeout: 'PT1M30S', ttl: 'P7D', cache: { lifetime: 'PT1H' }, function: 'fit_model', concurrency: 4 }) as Manifest;
  assert.equal(r.timeoutMs, 90_000);
  assert.equal(r.timeout, 'PT1M30S');
  assert.equal(r.ttl, 'P7D');
  assert.deepEqual(r.cache, { enabled: true, lifetime: 'PT1H', shared: false });
  assert.equal(r.function, 'fit_model');
  assert.equal(r.concurrency, 4);
  assert.deepEqual((read({ cache: true }) as Manifest).cache, { enabled: true, lifetime: 'PT24H', shared: false });
  assert.deepEqual((read({ cache: { shared: true } }) as Manifest).cache, { enabled: true, lifetime: 'PT24H', shared: true });
});

test('every problem names its field', () => {
  const cases: Array<[unknown, string | undefined, RegExp]> = [
    [[], undefined, /must be object/],
    [{ timout: 'PT1M' }, 'timout', /not a manifest field/],
    [{ runtime: 'python' }, 'runtime', /must be equal to one of the allowed values/],
    [{ timeout: '10 minutes' }, 'timeout', /must match pattern/],
    [{ timeout: 'P1X' }, 'timeout', /not an ISO 8601 duration/],
    [{ timeout: 'PT0S' }, 'timeout', /longer than zero/],
    [{ timeout: 'P25D' }, 'timeout', /at most P24D/],
    [{ concurrency: 0 }, 'concurrency', /must be >= 1/],
    [{ concurrency: 1.5 }, 'concurrency', /must be integer/],
    [{ name: 'amq.x' }, 'name', /reserved/],
    [{ name: 'has space' }, 'name', /1-128 characters/],
    [{ entry: '../outside.R' }, 'entry', /inside the service folder/],
    [{ command: [] }, 'command', /fewer than 1 items/],
    [{ inputSchema: { type: 'nonsense' } }, 'inputSchema', /not a valid JSON Schema/],
    [{ inputSchema: { type: 'object', properties: { n: { type: 'integer' } } }, example: { n: 'one' } }, 'example', /does not match inputSchema: n must be integer/],
    [{ cache: { lifetime: 'soon' } }, 'cache.lifetime', /must match pattern/],
    [{ cache: { enabled: 'yes' } }, 'cache.enabled', /must be boolean/],
  ];
  for (const [raw, field, message] of cases) {
    const p = problem(raw);
    assert.equal(p.field, field, JSON.stringify(raw));
    assert.match(p.message, message, JSON.stringify(raw));
  }
});

test('input validation reports the failing field as a dot path', () => {
  const validator = createInputValidator({
    type: 'object', required: ['data'], additionalProperties: false,
    properties: { data: { type: 'array', items: { type: 'object', properties: { x: { type: 'number' } } } }, when: { type: 'string', format: 'date' } },
  });
  assert.ok('validate' in validator);
  assert.equal(validator.validate({ data: [] }), undefined);
  assert.deepEqual(validator.validate({ data: [{ x: 1 }, { x: 2 }, { x: 'z' }] }), { field: 'data.2.x', message: 'data.2.x must be number' });
  assert.deepEqual(validator.validate({}), { field: 'data', message: 'data is required' });
  assert.deepEqual(validator.validate({ data: [], other: 1 }), { field: 'other', message: 'other is not allowed' });
  assert.deepEqual(validator.validate('text'), { field: 'input', message: 'input must be object' });
  assert.equal(validator.validate({ data: [], when: 'not a date' })?.field, 'when');
});

test('more defaults: runtime from any Node or R extension, schemas given as true or false, an example without a schema', () => {
  for (const entry of ['main.js', 'main.mjs', 'main.ts']) assert.equal((read({ entry }) as Manifest).runtime, 'node', entry);
  assert.equal((read({ entry: 'fit.r' }) as Manifest).runtime, 'r');
  assert.equal((read({ entry: 'run.py' }) as Manifest).runtime, 'command');
  const r = read({ runtime: 'r' }) as Manifest;
  assert.equal(r.entry, 'service.R');
  assert.equal(r.docs, null);
  const command = read({ runtime: 'command' }) as Manifest;
  assert.deepEqual([command.entry, command.command], ['run', ['./run']]);
  assert.deepEqual((read({ entry: 'wc.py', command: ['python3', 'wc.py'] }) as Manifest).command, ['python3', 'wc.py']);
  assert.deepEqual((read({ inputSchema: true, example: 1 }) as Manifest).inputSchema, {});
  assert.equal(problem({ inputSchema: false, example: 1 }).field, 'example');
  assert.deepEqual((read({ example: { any: 'thing' } }) as Manifest).example, { value: { any: 'thing' } });
  assert.deepEqual((read({ example: null }) as Manifest).example, { value: null });
  assert.deepEqual((read({ cache: false }) as Manifest).cache, { enabled: false, lifetime: 'PT24H', shared: false });
  assert.deepEqual((read({ cache: { enabled: false, lifetime: 'PT5M' } }) as Manifest).cache, { enabled: false, lifetime: 'PT5M', shared: false });
});

test('more problems that name their field', () => {
  const cases: Array<[unknown, string, RegExp]> = [
    [{ entry: '/etc/passwd' }, 'entry', /inside the service folder/],
    [{ docs: '../README.md' }, 'docs', /inside the service folder/],
    [{ ttl: 'P1Q' }, 'ttl', /not an ISO 8601 duration/],
    [{ timeout: 10 }, 'timeout', /must be string/],
    [{ function: 'fit model' }, 'function', /must match pattern/],
    [{ command: ['python3', ''] }, 'command.1', /fewer than 1 characters/],
    [{ version: '' }, 'version', /fewer than 1 characters/],
    [{ cache: { lifetime: 'PT1H', forever: true } }, 'cache.forever', /not a manifest field/],
    [{ inputSchema: { type: 'object', required: ['text'] }, example: {} }, 'example', /does not match inputSchema: text is required/],
    [{ inputSchema: { type: 'object', properties: { top: { type: 'integer', maximum: 100 } } }, example: { top: 500 } }, 'example', /top must be <= 100/],
  ];
  for (const [raw, field, message] of cases) {
    const p = problem(raw);
    assert.equal(p.field, field, JSON.stringify(raw));
    assert.match(p.message, message, JSON.stringify(raw));
  }
});

test('input problems: required fields deep inside arrays, names holding "/" or "~", and a schema that does not compile', () => {
  const validator = createInputValidator({
    type: 'object',
    properties: { rows: { type: 'array', items: { type: 'object', required: ['id'] } }, 'a/b': { type: 'number' }, 'c~d': { type: 'number' } },
  });
  assert.ok('validate' in validator);
  assert.deepEqual(validator.validate({ rows: [{ id: 1 }, {}] }), { field: 'rows.1.id', message: 'rows.1.id is required' });
  assert.equal(validator.validate({ 'a/b': 'x' })?.field, 'a/b');
  assert.equal(validator.validate({ 'c~d': 'x' })?.field, 'c~d');
  const broken = createInputValidator({ type: 'object', properties: { n: { minimum: 'one' } } });
  assert.ok('problem' in broken);
  assert.match(broken.problem, /^not a valid JSON Schema/);
});

test('env: fixed values and pass-through names are read; Errand\'s own names are refused', () => {
  assert.deepEqual((read({}) as Manifest).env, {});
  const r = read({ env: { OMP_NUM_THREADS: '1', HTTPS_PROXY: true, PGHOST: 'stats-db.internal' } }) as Manifest;
  assert.deepEqual(r.env, { OMP_NUM_THREADS: '1', HTTPS_PROXY: true, PGHOST: 'stats-db.internal' });
  const reserved = problem({ env: { ERRAND_API_KEY: true } });
  assert.equal(reserved.field, 'env.ERRAND_API_KEY');
  assert.match(reserved.message, /ERRAND_\* variables are Errand's own/);
  assert.equal(problem({ env: { errand_task_id: 'x' } }).field, 'env.errand_task_id');
  for (const name of ['PGPASSWORD', 'DATABASE_URL', 'AMQP_URL', 'RABBITMQ_URL']) {
    const p = problem({ env: { [name]: true } });
    assert.equal(p.field, `env.${name}`);
    assert.match(p.message, /never passed to a service/);
  }
  assert.equal(problem({ env: { 'BAD-NAME': '1' } }).field, 'env');
  assert.equal(problem({ env: { X: 1 } }).field, 'env.X');
  assert.equal(problem({ env: { X: false } }).field, 'env.X');
  assert.equal(problem({ env: ['X'] }).field, 'env');
});
