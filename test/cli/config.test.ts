import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readConfig, resultLimits, USAGE } from '../../src/cli/config.ts';
import { devServerSettings } from '../../src/cli/dev.ts';
import { serverSettings } from '../../src/cli/serve.ts';
import { ErrandError } from '../../src/core/index.ts';

test('defaults point at the local engines', () => {
  const { command, config } = readConfig(['serve', '--public-url', 'https://errand.example.org'], {}, '/srv');
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
  assert.equal(config.maxWebSocketsPerClient, 64);
  assert.equal(config.maxEventStreamsPerClient, 64);
  assert.equal(config.maxSubscriptionsPerSocket, 100);
  assert.equal(config.maxStreams, 2000);
  assert.equal(config.maxStreamBufferBytes, 4 * 1024 * 1024);
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
  assert.equal(readConfig(['worker', '--trust-proxy'], {}).config.trustProxy, true);
  assert.equal(readConfig(['worker', '--trust-proxy', '--port', '1'], {}).config.trustProxy, true);
  assert.equal(readConfig(['worker'], { ERRAND_MAX_SSE_PER_CLIENT: '3' }).config.maxEventStreamsPerClient, 3);
  assert.equal(readConfig(['worker', '--max-websockets-per-client', '5', '--max-subscriptions-per-socket', '2', '--max-streams', '9'], {}).config.maxStreams, 9);
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
  refused(['--trust-proxy', '10.0.0.0/33'], {}, 'trust-proxy');
  refused(['--trust-proxy', '10.0.0.1,proxy.example.org'], {}, 'trust-proxy');
  refused(['--trust-proxy=-1'], {}, 'trust-proxy');
  refused(['--max-websockets-per-client', '0'], {}, 'max-websockets-per-client');
  refused([], { ERRAND_MAX_STREAMS: 'many' }, 'max-streams');
  refused([], { ERRAND_MAX_STREAM_BUFFER: 'lots' }, 'max-stream-buffer');
  refused(['--body-limit', 'lots'], {}, 'body-limit');
  refused(['--default-ttl', '7 days'], {}, 'default-ttl');
  refused(['--public-url', 'errand.example.org'], {}, 'public-url');
  refused([], { ERRAND_MIGRATE: 'maybe' }, 'migrate');
  assert.throws(() => readConfig(['--no-such-flag'], {}), /no-such-flag.*errand --help/);
});

test('finished tasks are kept P30D by default; none keeps them until deleted', () => {
  assert.equal(readConfig(['dev'], {}).config.defaultTtl, 'P30D');
  assert.equal(readConfig(['dev', '--default-ttl', 'P7D'], {}).config.defaultTtl, 'P7D');
  assert.equal(readConfig(['dev', '--default-ttl', 'none'], {}).config.defaultTtl, undefined);
  assert.equal(readConfig(['dev'], { ERRAND_DEFAULT_TTL: 'NONE' }).config.defaultTtl, undefined);
});

test('result bounds: 100 files, 32 MiB a file, 64 MiB a result by default; flags and ERRAND_* set them', () => {
  const { config } = readConfig(['worker'], {});
  assert.deepEqual([config.maxResultFiles, config.maxResultFileBytes, config.maxResultBytes], [100, 32 * 1024 * 1024, 64 * 1024 * 1024]);
  const set = readConfig(['worker', '--max-result-files', '5', '--max-result-file-size', '1mb'], { ERRAND_MAX_RESULT_SIZE: '2mb' }).config;
  assert.deepEqual(resultLimits(set), { maxFiles: 5, maxFileBytes: 1024 * 1024, maxResultBytes: 2 * 1024 * 1024 });
  assert.throws(() => readConfig(['--max-result-files', 'many'], {}), /max-result-files/);
  assert.throws(() => readConfig([], { ERRAND_MAX_RESULT_SIZE: 'huge' }), /max-result-size/);
  assert.throws(() => readConfig(['--max-result-file-size', '-1'], {}), /max-result-file-size/);
});

test('--max-ttl and --max-deadline bound durations (default P10Y, never over P1000Y), and defaults must fit them', () => {
  const { config } = readConfig(['dev'], {});
  assert.equal(config.maxTtl, 'P10Y');
  assert.equal(config.maxDeadline, 'P10Y');
  assert.equal(readConfig(['dev', '--max-ttl', 'P30D'], {}).config.maxTtl, 'P30D');
  assert.equal(readConfig(['dev'], { ERRAND_MAX_DEADLINE: 'PT1H' }).config.maxDeadline, 'PT1H');
  const refused = (argv: string[], field: string): void => {
    assert.throws(() => readConfig(argv, {}), (err: unknown) => err instanceof ErrandError && err.field === field, argv.join(' '));
  };
  refused(['dev', '--max-ttl', 'P300000Y'], 'max-ttl');
  refused(['dev', '--max-ttl', 'PT0S'], 'max-ttl');
  refused(['dev', '--max-deadline', 'later'], 'max-deadline');
  refused(['dev', '--default-ttl', 'P2Y', '--max-ttl', 'P1Y'], 'default-ttl');
  refused(['dev', '--default-queue-timeout', 'P2D', '--max-deadline', 'P1D'], 'default-queue-timeout');
});

test('--trust-proxy takes true/false, a hop count, or proxy addresses and CIDRs', () => {
  const trust = (value: string) => readConfig(['worker', '--trust-proxy', value], {}).config.trustProxy;
  assert.equal(trust('true'), true);
  assert.equal(readConfig(['--trust-proxy', 'worker'], {}).config.trustProxy, true);
  assert.equal(readConfig(['--trust-proxy', 'worker'], {}).command, 'worker');
  assert.equal(trust('false'), false);
  assert.equal(trust('0'), false);
  assert.equal(trust('2'), 2);
  assert.equal(readConfig([], { ERRAND_TRUST_PROXY: '1' }).config.trustProxy, 1);
  assert.deepEqual(trust('10.0.0.1'), ['10.0.0.1']);
  assert.deepEqual(trust('10.0.0.0/8, 192.168.1.1,fd00::/8,::1'), ['10.0.0.0/8', '192.168.1.1', 'fd00::/8', '::1']);
  assert.deepEqual(trust('loopback,10.0.0.0/255.0.0.0'), ['loopback', '10.0.0.0/255.0.0.0']);
});

test('serve and recorder require --public-url, in one line naming the flag and its variable', () => {
  assert.throws(() => readConfig(['serve'], {}), (err: unknown) => err instanceof ErrandError && err.field === 'public-url'
    && /--public-url \(or ERRAND_PUBLIC_URL\)/.test(err.message) && !err.message.includes('\n'));
  assert.equal(readConfig(['serve'], { ERRAND_PUBLIC_URL: 'http://errand.test:8080' }).config.publicUrl, 'http://errand.test:8080');
  assert.equal(readConfig(['serve', '--help'], {}).help, true);
  assert.throws(() => readConfig(['recorder'], {}), (err: unknown) => err instanceof ErrandError && err.field === 'public-url' && /^recorder needs --public-url/.test(err.message));
  assert.equal(readConfig(['recorder', '--public-url', 'https://errand.example.org'], {}).config.publicUrl, 'https://errand.example.org');
  // Workers put no links anywhere; dev uses its own listening address.
  assert.equal(readConfig(['dev'], {}).config.publicUrl, undefined);
});

// HTTP edge (issue 11)
test('the HTTP timeouts and size limits have defaults and flags, and refuse values that contradict each other', () => {
  const { config } = readConfig(['serve', '--public-url', 'http://errand.test'], {});
  assert.deepEqual(
    [config.requestTimeoutMs, config.headersTimeoutMs, config.keepAliveTimeoutMs, config.idleTimeoutMs, config.maxHeaderSize, config.maxParamLength, config.maxStatusIds],
    [60_000, 10_000, 72_000, 120_000, 16 * 1024, 255, 500],
  );
  const set = readConfig(['serve', '--public-url', 'http://errand.test', '--request-timeout', '0', '--headers-timeout', '5000', '--max-header-size', '32kb', '--max-status-ids', '20'], { ERRAND_IDLE_TIMEOUT: '0', ERRAND_MAX_PARAM_LENGTH: '100' }).config;
  assert.deepEqual([set.requestTimeoutMs, set.headersTimeoutMs, set.idleTimeoutMs, set.maxHeaderSize, set.maxParamLength, set.maxStatusIds], [0, 5000, 0, 32 * 1024, 100, 20]);
  assert.throws(() => readConfig(['serve', '--public-url', 'http://errand.test', '--request-timeout', '5000', '--headers-timeout', '6000'], {}), (err: ErrandError) => err.field === 'headers-timeout');
  assert.throws(() => readConfig(['serve', '--public-url', 'http://errand.test', '--idle-timeout', '1000'], {}), (err: ErrandError) => err.field === 'idle-timeout');
  assert.throws(() => readConfig(['serve', '--public-url', 'http://errand.test', '--max-status-ids', '0'], {}), (err: ErrandError) => err.field === 'max-status-ids');
});

// The task list (issue 14)
test('--max-tasks-per-page bounds GET /tasks\' limit: 500 by default, from the flag or ERRAND_MAX_TASKS_PER_PAGE, 1 to 10000', () => {
  const serve = ['serve', '--public-url', 'http://errand.test'];
  assert.equal(readConfig(serve, {}).config.maxTasksPerPage, 500);
  assert.equal(readConfig([...serve, '--max-tasks-per-page', '100'], {}).config.maxTasksPerPage, 100);
  assert.equal(readConfig(serve, { ERRAND_MAX_TASKS_PER_PAGE: '2000' }).config.maxTasksPerPage, 2000);
  for (const bad of ['0', '10001', 'many']) {
    assert.throws(() => readConfig([...serve, '--max-tasks-per-page', bad], {}), (err: ErrandError) => err.field === 'max-tasks-per-page');
  }
});

// Capability links (issue 12)
test('capability links: no secret and P7D by default; the secret, previous ones and the lifetime from flags or ERRAND_*', () => {
  const current = 'q3cKb1oG0X9vJ3nq5mRzT7wYp2dLhF8sAeUiOkBcNtM';
  const old = ['Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jh0GfEdCbA9z8y7x6wQ', '0123456789abcdef'.repeat(4)];
  const defaults = readConfig(['worker'], {}).config;
  assert.equal(defaults.capabilitySecret, undefined);
  assert.deepEqual(defaults.capabilitySecretsPrevious, []);
  assert.equal(defaults.capabilityLifetime, 'P7D');
  assert.equal(defaults.capabilityLifetimeMs, 7 * 86_400_000);
  const fromEnv = readConfig(['worker'], { ERRAND_CAPABILITY_SECRET: `${current}\n`, ERRAND_CAPABILITY_SECRET_PREVIOUS: ` ${old[0]} ,${old[1]},`, ERRAND_CAPABILITY_LIFETIME: 'PT12H' }).config;
  assert.equal(fromEnv.capabilitySecret, current);
  assert.deepEqual(fromEnv.capabilitySecretsPrevious, old);
  assert.equal(fromEnv.capabilityLifetimeMs, 12 * 3_600_000);
  const fromFlags = readConfig(['worker', '--capability-secret', current, '--capability-secret-previous', `${old[0]},${current}`, '--capability-lifetime', 'P1Y'], { ERRAND_CAPABILITY_SECRET: old[1]! }).config;
  assert.equal(fromFlags.capabilitySecret, current);
  assert.deepEqual(fromFlags.capabilitySecretsPrevious, [old[0]], 'the current secret is not also a previous one');
  assert.equal(fromFlags.capabilityLifetime, 'P1Y');
});

test('capability secrets too weak, previous without current, or lifetimes out of bounds are refused in one line', () => {
  const refused = (argv: string[], env: Record<string, string>, field: string, pattern: RegExp) =>
    assert.throws(() => readConfig(argv, env), (err: unknown) => err instanceof ErrandError && err.field === field && pattern.test(err.message) && !err.message.includes('\n'));
  const strong = 'q3cKb1oG0X9vJ3nq5mRzT7wYp2dLhF8sAeUiOkBcNtM';
  refused(['--capability-secret', 'hunter2'], {}, 'capability-secret', /^--capability-secret is too short: 7 characters carry at most \d+ bits, at least 256 are needed; use 32 random bytes, for example from `openssl rand -base64 32`$/);
  refused([], { ERRAND_CAPABILITY_SECRET: 'a'.repeat(100) }, 'capability-secret', /repeats itself/);
  refused(['--capability-secret', ''], {}, 'capability-secret', /too short: 0 characters/);
  refused(['--capability-secret', strong, '--capability-secret-previous', 'short'], {}, 'capability-secret-previous', /^--capability-secret-previous is too short/);
  refused(['--capability-secret-previous', strong], {}, 'capability-secret-previous', /needs --capability-secret/);
  refused(['--capability-lifetime', 'PT30S'], {}, 'capability-lifetime', /from PT1M to P1Y/);
  refused([], { ERRAND_CAPABILITY_LIFETIME: 'P2Y' }, 'capability-lifetime', /from PT1M to P1Y/);
  refused(['--capability-lifetime', '7 days'], {}, 'capability-lifetime', /ISO 8601/);
  // The secret itself never appears in a refusal.
  assert.throws(() => readConfig(['--capability-secret', 'hunter2secret'], {}), (err: unknown) => err instanceof Error && !err.message.includes('hunter2secret'));
  assert.match(USAGE, /--capability-secret S +ERRAND_CAPABILITY_SECRET/);
  assert.match(USAGE, /--capability-secret-previous S\[,S\] ERRAND_CAPABILITY_SECRET_PREVIOUS/);
  assert.match(USAGE, /--capability-lifetime DUR ERRAND_CAPABILITY_LIFETIME P7D/);
});

test('client certificates (issue 12): TLS files go together, a CA needs them, certificate scopes parse', () => {
  const serve = ['serve', '--public-url', 'https://errand.example.org'];
  const none = readConfig(serve, {}, '/srv').config;
  assert.equal(none.tlsCertFile, undefined);
  assert.deepEqual(none.clientCertGrant, { scopes: ['submit', 'read', 'cancel'], services: [] });
  const on = readConfig([...serve, '--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--client-ca', 'ca.pem', '--client-cert-scope', 'submit:echo', '--client-cert-scope', 'read'], {}, '/srv').config;
  assert.deepEqual([on.tlsCertFile, on.tlsKeyFile, on.clientCaFile], ['/srv/c.pem', '/srv/k.pem', '/srv/ca.pem']);
  assert.deepEqual(on.clientCertGrant, { scopes: ['submit', 'read'], services: ['echo'] });
  const env = readConfig(serve, { ERRAND_TLS_CERT: '/c', ERRAND_TLS_KEY: '/k', ERRAND_CLIENT_CA: '/ca', ERRAND_CLIENT_CERT_SCOPE: 'read:all cancel' }).config;
  assert.deepEqual(env.clientCertGrant, { scopes: ['read:all', 'cancel'], services: [] });
  const refused = (args: string[], field: string, message: RegExp, envVars: Record<string, string> = {}): void => {
    assert.throws(() => readConfig(args, envVars), (err: unknown) => err instanceof ErrandError && err.field === field && message.test(err.message) && !err.message.includes('\n'));
  };
  refused([...serve, '--tls-cert', 'c.pem'], 'tls-key', /--tls-cert and --tls-key go together.*--tls-key is missing/);
  refused([...serve, '--tls-key', 'k.pem'], 'tls-cert', /--tls-cert is missing/);
  refused([...serve, '--client-ca', 'ca.pem'], 'client-ca', /--client-ca needs --tls-cert and --tls-key/);
  refused([...serve, '--tls-cert', 'c', '--tls-key', 'k', '--client-cert-scope', 'read'], 'client-cert-scope', /needs --client-ca/);
  refused([...serve, '--tls-cert', 'c', '--tls-key', 'k', '--client-ca', 'ca', '--client-cert-scope', 'write'], 'client-cert-scope', /--client-cert-scope: unknown scope "write"/);
  refused(['serve', '--public-url', 'http://errand.example.org', '--tls-cert', 'c', '--tls-key', 'k'], 'public-url', /--public-url must be https:\/\/ when Errand serves HTTPS/);
  refused(['dev', '--public-url', 'http://localhost:3000'], 'public-url', /must be https/, { ERRAND_TLS_CERT: 'c', ERRAND_TLS_KEY: 'k' });
});

test('--cors-origin: repeatable, or comma-separated in ERRAND_CORS_ORIGIN; normalised; none by default (issue 12)', () => {
  const serve = ['serve', '--public-url', 'https://errand.example.org'];
  assert.deepEqual(readConfig(serve, {}).config.corsOrigins, { origins: [], any: false });
  assert.deepEqual(readConfig([...serve, '--cors-origin', 'https://App.example', '--cors-origin', 'http://localhost:5173/'], {}).config.corsOrigins, { origins: ['https://app.example', 'http://localhost:5173'], any: false });
  assert.deepEqual(readConfig(serve, { ERRAND_CORS_ORIGIN: 'https://a.example, https://b.example:8443' }).config.corsOrigins, { origins: ['https://a.example', 'https://b.example:8443'], any: false });
  // The flag wins over the variable.
  assert.deepEqual(readConfig([...serve, '--cors-origin=*'], { ERRAND_CORS_ORIGIN: 'https://a.example' }).config.corsOrigins, { origins: [], any: true });
  for (const bad of ['null', 'https://app.example/path', 'app.example']) {
    assert.throws(() => readConfig([...serve, '--cors-origin', bad], {}), (err: unknown) => err instanceof ErrandError && err.field === 'cors-origin' && err.message.includes(JSON.stringify(bad)), bad);
  }
  assert.throws(() => readConfig(serve, { ERRAND_CORS_ORIGIN: 'https://a.example,null' }), (err: unknown) => err instanceof ErrandError && err.field === 'cors-origin');
});

test('serve passes the allowlist on; dev also allows its own addresses, and is open unless a credential mode is given', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'errand-dev-settings-'));
  try {
    const { config } = readConfig(['dev', '--cors-origin', 'https://app.example', '--data-dir', dataDir], {});
    assert.deepEqual(serverSettings(config).corsOrigins, { origins: ['https://app.example'], any: false });
    assert.equal((serverSettings(config) as { corsOwnAddresses?: boolean }).corsOwnAddresses, undefined);
    const open = await devServerSettings(config);
    assert.equal(open.corsOwnAddresses, true);
    assert.equal(open.auth?.required, false);
    assert.ok(open.capabilities, 'dev keeps a capability secret in its data dir');
    const keyed = await devServerSettings(readConfig(['dev', '--api-key', 'k', '--data-dir', dataDir], {}).config);
    assert.equal(keyed.auth?.required, true);
    assert.equal(keyed.auth?.single?.name, 'patavi');
    await assert.rejects(devServerSettings(readConfig(['dev', '--no-auth', '--api-key', 'k', '--data-dir', dataDir], {}).config), (err: unknown) => err instanceof ErrandError && err.field === 'no-auth');
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('API keys (issue 12): --scope repeats, --api-key-scope reads its variable split by spaces, and bad names or scopes stop at start', () => {
  const create = readConfig(['keys', 'create', 'web', '--scope', 'submit:echo', '--scope', 'read', '--expires', 'P90D'], {});
  assert.equal(create.command, 'keys');
  assert.deepEqual(create.rest, ['create', 'web']);
  assert.deepEqual(create.config.scopes, ['submit:echo', 'read']);
  assert.equal(create.config.expires, 'P90D');
  const defaults = readConfig(['serve', '--public-url', 'https://errand.example.org'], {}).config;
  assert.deepEqual(defaults.scopes, []);
  assert.equal(defaults.apiKeyName, 'patavi');
  assert.deepEqual(defaults.apiKeyScopes, ['submit', 'read', 'cancel']);
  assert.equal(defaults.apiKeyCacheMs, 10_000);
  assert.equal(defaults.apiKeyCacheSize, 10_000);
  const fromEnv = readConfig(['worker'], { ERRAND_API_KEY_SCOPES: ' submit:echo  read:all ', ERRAND_API_KEY_NAME: 'web-app', ERRAND_API_KEY_CACHE: '0' }).config;
  assert.deepEqual(fromEnv.apiKeyScopes, ['submit:echo', 'read:all']);
  assert.equal(fromEnv.apiKeyName, 'web-app');
  assert.equal(fromEnv.apiKeyCacheMs, 0);
  // Flags win over the variable, all of them together.
  assert.deepEqual(readConfig(['worker', '--api-key-scope', 'admin', '--api-key-scope', 'read'], { ERRAND_API_KEY_SCOPES: 'submit' }).config.apiKeyScopes, ['admin', 'read']);
  assert.throws(() => readConfig(['worker', '--api-key-scope', 'write'], {}), (err: unknown) => err instanceof ErrandError && err.field === 'api-key-scope' && /unknown scope "write"/.test(err.message));
  assert.throws(() => readConfig(['worker', '--api-key-name', 'no spaces'], {}), (err: unknown) => err instanceof ErrandError && err.field === 'api-key-name');
  assert.throws(() => readConfig(['worker', '--api-key-cache=-1'], {}), (err: unknown) => err instanceof ErrandError && err.field === 'api-key-cache');
  // A single-value flag given twice keeps its last value, as before.
  assert.equal(readConfig(['worker', '--port', '1', '--port', '2'], {}).config.port, 2);
});

test('--executor-idle-timeout: PT60S by default, an ISO 8601 duration from PT0.1S to P1D from the flag or ERRAND_*', () => {
  assert.equal(readConfig(['worker'], {}).config.executorIdleTimeoutMs, 60_000);
  assert.equal(readConfig(['worker'], { ERRAND_EXECUTOR_IDLE_TIMEOUT: 'PT5M' }).config.executorIdleTimeoutMs, 300_000);
  assert.equal(readConfig(['worker', '--executor-idle-timeout', 'PT0.5S'], { ERRAND_EXECUTOR_IDLE_TIMEOUT: 'PT5M' }).config.executorIdleTimeoutMs, 500);
  const refused = (argv: string[], env: Record<string, string>) =>
    assert.throws(() => readConfig(argv, env), (err: unknown) => err instanceof ErrandError && err.field === 'executor-idle-timeout' && /from PT0\.1S to P1D/.test(err.message));
  refused(['--executor-idle-timeout', '60'], {});
  refused(['--executor-idle-timeout', 'PT0S'], {});
  refused([], { ERRAND_EXECUTOR_IDLE_TIMEOUT: 'P2D' });
  assert.match(USAGE, /--executor-idle-timeout DUR ERRAND_EXECUTOR_IDLE_TIMEOUT PT60S/);
});
