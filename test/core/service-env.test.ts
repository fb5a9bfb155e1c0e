/** The environment services get: an allowlist, what the manifest declares, never Errand's secrets. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { secretValues, serviceEnvironment } from '../../src/core/index.ts';

const HOST = {
  PATH: '/usr/bin:/bin',
  HOME: '/home/errand',
  LANG: 'C.UTF-8',
  LC_NUMERIC: 'C',
  TZ: 'UTC',
  TMPDIR: '/tmp',
  R_LIBS_USER: '/opt/r',
  ERRAND_API_KEY: 'k3y-k3y-k3y',
  ERRAND_DATABASE_URL: 'postgres://errand:s3cret-pw@db/errand',
  PGPASSWORD: 's3cret-pw',
  AWS_SECRET_ACCESS_KEY: 'aws-secret',
  GDAL_DATA: '/usr/share/gdal',
  COPY_OF_URL: 'postgres://errand:s3cret-pw@db/errand',
  HOLDS_PASSWORD: 'user=errand password=s3cret-pw',
  UNSET: undefined,
};

test('the allowlist and nothing else, unless declared; R also gets its library paths', () => {
  assert.deepEqual(serviceEnvironment(HOST, {}, 'command').env, { PATH: '/usr/bin:/bin', HOME: '/home/errand', LANG: 'C.UTF-8', LC_NUMERIC: 'C', TZ: 'UTC', TMPDIR: '/tmp' });
  assert.equal(serviceEnvironment(HOST, {}, 'r').env.R_LIBS_USER, '/opt/r');
  assert.equal(serviceEnvironment(HOST, {}, 'node').env.R_LIBS_USER, undefined);
});

test('declared: fixed values set, pass-through names copied when the worker has them', () => {
  const { env, withheld } = serviceEnvironment(HOST, { GDAL_DATA: true, OMP_NUM_THREADS: '2', UNSET: true, MISSING: true, PATH: '/opt/bin' }, 'command');
  assert.equal(env.GDAL_DATA, '/usr/share/gdal');
  assert.equal(env.OMP_NUM_THREADS, '2');
  assert.equal(env.PATH, '/opt/bin');
  assert.ok(!('UNSET' in env) && !('MISSING' in env));
  assert.deepEqual(withheld, []);
});

test('never Errand\'s own: ERRAND_*, connection variables, or a value holding one of its secrets', () => {
  const secrets = secretValues(['k3y-k3y-k3y', 'postgres://errand:s3cret-pw@db/errand', undefined, 'amqp://guest:guest@127.0.0.1:5672']);
  assert.ok(secrets.includes('s3cret-pw') && secrets.includes('guest'));
  const { env, withheld } = serviceEnvironment(HOST, { ERRAND_API_KEY: true, PGPASSWORD: true, COPY_OF_URL: true, HOLDS_PASSWORD: true, AWS_SECRET_ACCESS_KEY: true }, 'command', secrets);
  assert.deepEqual(Object.keys(env).filter((k) => !['PATH', 'HOME', 'LANG', 'LC_NUMERIC', 'TZ', 'TMPDIR'].includes(k)), ['AWS_SECRET_ACCESS_KEY']);
  assert.deepEqual(withheld, ['COPY_OF_URL', 'HOLDS_PASSWORD']);
  // A manifest that states its own value for a connection variable gets it; ERRAND_* never.
  assert.deepEqual(serviceEnvironment({}, { PGHOST: 'other-db', ERRAND_SERVICE: 'x' }, 'r').env, { PGHOST: 'other-db' });
});
