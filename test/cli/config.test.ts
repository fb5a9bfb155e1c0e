import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readConfig } from '../../src/cli/config.ts';
import { ErrandError } from '../../src/core/index.ts';

test('defaults point at the local engines', () => {
  const { command, config } = readConfig(['serve'], {}, '/srv');
  assert.equal(command, 'serve');
  assert.equal(config.amqpUrl, 'amqp://guest:guest@127.0.0.1:5672');
  assert.equal(config.databaseUrl, 'postgres://127.0.0.1:5432/errand');
  assert.equal(config.port, 3000);
  assert.equal(config.bodyLimit, 5 * 1024 * 1024);
  assert.equal(config.recorder, true);
  assert.equal(config.allowUnknownServices, false);
  assert.equal(config.trustProxy, false);
  assert.equal(config.lostCheckIntervalMs, 5000);
  assert.equal(config.lostWorkerGraceMs, 20_000);
  assert.equal(config.slotWaitMs, 10_000);
  assert.equal(config.stopGraceMs, 30_000);
  assert.equal(config.dataDir, '/srv/.errand/dev');
  assert.equal(config.nodeId, undefined);
});

test('flags win over ERRAND_* variables, which win over defaults', () => {
  const env = { ERRAND_PORT: '4000', ERRAND_AMQP_URL: 'amqp://env', ERRAND_NO_RECORDER: 'true', ERRAND_BODY_LIMIT: '512kb', ERRAND_NODE_ID: '7' };
  const { config } = readConfig(['serve', '--port', '5000', '--public-url', 'https://errand.example.org/'], env);
  assert.equal(config.port, 5000);
  assert.equal(config.amqpUrl, 'amqp://env');
  assert.equal(config.recorder, false);
  assert.equal(config.bodyLimit, 512 * 1024);
  assert.equal(config.nodeId, 7);
  assert.equal(config.publicUrl, 'https://errand.example.org');
  assert.equal(readConfig(['serve', '--trust-proxy'], {}).config.trustProxy, true);
  assert.equal(readConfig(['worker'], { ERRAND_STOP_GRACE: '500' }).config.stopGraceMs, 500);
});

test('PGUSER fills in a database URL without a user name, as libpq does', () => {
  assert.equal(readConfig([], { PGUSER: 'errand' }).config.databaseUrl, 'postgres://errand@127.0.0.1:5432/errand');
  assert.equal(readConfig(['--database-url', 'postgres://me@db/x'], { PGUSER: 'errand' }).config.databaseUrl, 'postgres://me@db/x');
});

test('bad values are refused with the option named', () => {
  const refused = (argv: string[], env: Record<string, string>, field: string) =>
    assert.throws(() => readConfig(argv, env), (err: unknown) => err instanceof ErrandError && err.field === field && err.message.includes(field));
  refused(['--port', 'http'], {}, 'port');
  refused([], { ERRAND_PORT: '70000' }, 'port');
  refused(['--node-id', '1024'], {}, 'node-id');
  refused(['--stop-grace=-1'], {}, 'stop-grace');
  refused([], { ERRAND_SLOT_WAIT: 'soon' }, 'slot-wait');
  refused(['--lost-check-interval', '0'], {}, 'lost-check-interval');
  refused([], { ERRAND_LOST_WORKER_GRACE: '1.5' }, 'lost-worker-grace');
  refused([], { ERRAND_TRUST_PROXY: 'maybe' }, 'trust-proxy');
  refused(['--body-limit', 'lots'], {}, 'body-limit');
  refused(['--default-ttl', '7 days'], {}, 'default-ttl');
  refused(['--public-url', 'errand.example.org'], {}, 'public-url');
  refused([], { ERRAND_MIGRATE: 'maybe' }, 'migrate');
  assert.throws(() => readConfig(['--no-such-flag'], {}), /no-such-flag.*errand --help/);
});

// HTTP edge (issue 11)
test('the HTTP timeouts and size limits have defaults and flags, and refuse values that contradict each other', () => {
  const { config } = readConfig(['serve'], {});
  assert.deepEqual(
    [config.requestTimeoutMs, config.headersTimeoutMs, config.keepAliveTimeoutMs, config.idleTimeoutMs, config.maxHeaderSize, config.maxParamLength, config.maxStatusIds],
    [60_000, 10_000, 72_000, 120_000, 16 * 1024, 255, 500],
  );
  const set = readConfig(['serve', '--request-timeout', '0', '--headers-timeout', '5000', '--max-header-size', '32kb', '--max-status-ids', '20'], { ERRAND_IDLE_TIMEOUT: '0', ERRAND_MAX_PARAM_LENGTH: '100' }).config;
  assert.deepEqual([set.requestTimeoutMs, set.headersTimeoutMs, set.idleTimeoutMs, set.maxHeaderSize, set.maxParamLength, set.maxStatusIds], [0, 5000, 0, 32 * 1024, 100, 20]);
  assert.throws(() => readConfig(['serve', '--request-timeout', '5000', '--headers-timeout', '6000'], {}), (err: ErrandError) => err.field === 'headers-timeout');
  assert.throws(() => readConfig(['serve', '--idle-timeout', '1000'], {}), (err: ErrandError) => err.field === 'idle-timeout');
  assert.throws(() => readConfig(['serve', '--max-status-ids', '0'], {}), (err: ErrandError) => err.field === 'max-status-ids');
});
