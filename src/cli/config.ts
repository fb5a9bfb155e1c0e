/**
 * The one place that reads flags and the environment: flags win, then ERRAND_* variables, then
 * defaults. Every other module gets what it needs passed in.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { apiKeyNameProblem, capabilityKeyring, parseCallbackHosts, checkDuration, DEFAULT_JWT_CLOCK_TOLERANCE_SECONDS, DEFAULT_JWT_JWKS_TIMEOUT_MS, DEFAULT_JWT_MAX_BYTES, DEFAULT_MAX_DEADLINE, DEFAULT_MAX_TASK_LIST_LIMIT, DEFAULT_MAX_TTL, DEFAULT_RESULT_LIMITS, DURATION_CEILING, durationToMillis, ErrandError, jwtSettings, MAX_JWT_CLOCK_TOLERANCE_SECONDS, MAX_NODE_ID, parseIsoDuration, parseOriginList, parseScopes, secretStrengthProblem } from '../core/index.ts';
import type { CallbackAllowlist, Grant, JwtFlags, JwtSettings, OriginList, ResultLimits } from '../core/index.ts';
import { DEFAULT_CLIENT_CERT_SCOPES } from '../server/index.ts';

/** How long a finished task is kept when neither its submission nor its service says. */
export const DEFAULT_TTL = 'P30D';

/** How long a pooled R or Node process beyond a service's first waits for a task before it leaves. */
export const DEFAULT_EXECUTOR_IDLE_TIMEOUT = 'PT60S';

export const BUNDLED_SERVICES = fileURLToPath(new URL('../../services/', import.meta.url));

export interface Config {
  amqpUrl: string;
  databaseUrl: string;
  host: string;
  port: number;
  publicUrl?: string;
  apiKey?: string;
  nodeId?: number;
  concurrency: number;
  servicesDir: string;
  dataDir: string;
  bodyLimit: number;
  maxJsonDepth: number;
  defaultTtl?: string;
  allowUnknownServices: boolean;
  /**
   * Which proxies' X-Forwarded-For gives the client address: false, true (any), a hop count, or
   * proxy addresses/CIDRs. Links never follow X-Forwarded-* (they come from --public-url).
   */
  trustProxy: boolean | number | string[];
  migrate: boolean;
  recorder: boolean;
  /** serve: no credentials asked for, every caller may do everything (issue 12: never by default). */
  noAuth: boolean;
  /** Callers without a credential read any task, as Patavi's clients did (issue 12). */
  pataviOpenReads: boolean;
  recorderPrefetch: number;
  janitorIntervalMs: number;
  logLevel: string;
  /** The R front end the R runtime starts. */
  rscript: string;
  /** How often a worker announces its services, and how long a server trusts an announcement (3×). */
  announceIntervalMs: number;
  /** Shortest time between two progress events of one task: floods are coalesced to the latest value. */
  progressIntervalMs: number;
  /** Starts a task gets when its worker is lost, before it fails with `worker_lost`. */
  maxAttempts: number;
  /** How often the janitor looks for running tasks whose worker is lost. */
  lostCheckIntervalMs: number;
  /** A running task's worker not heard from since the janitor started counts as lost after this. */
  lostWorkerGraceMs: number;
  /** How long a worker holds a delivery waiting for a free slot before handing it back. */
  slotWaitMs: number;
  startReportAfterMs: number;
  /** How long a stopping worker lets running tasks finish before it stops them. */
  stopGraceMs: number;
  /** A pooled R or Node process beyond a service's first leaves after this long without a task. */
  executorIdleTimeoutMs: number;
  /** How long events are kept, in seconds. */
  eventRetentionSeconds: number;
  /** Queue deadline for tasks whose request and service give none (ISO 8601 duration). */
  defaultQueueTimeout?: string;
  // Result bounds (issue 11): checked by workers before sending and by recorders on arrival.
  /** Files one result may carry. */
  maxResultFiles: number;
  /** Bytes one result file may have. */
  maxResultFileBytes: number;
  /** Bytes of one whole result message (JSON result, or index and files). */
  maxResultBytes: number;
  // Durations (issue 11, poison ttl): the longest ttl and deadline a submission may ask for.
  /** Longest ttl a task may have (ISO 8601); longer requests are refused with invalid_ttl. */
  maxTtl: string;
  /** Furthest a queue deadline may be from now (ISO 8601); further ones are refused with invalid_deadline. */
  maxDeadline: string;
  // Stream caps (issue 11): per client address (request.ip), per socket, server-wide.
  maxWebSocketsPerClient: number;
  maxEventStreamsPerClient: number;
  maxSubscriptionsPerSocket: number;
  maxStreams: number;
  /** Bytes of events one stream may have waiting for a client that does not read, before it is closed. */
  maxStreamBufferBytes: number;
  // HTTP edge (issue 11): how long a request may take to arrive, how big its head may be.
  /** Time for a whole request, headers and body, to arrive (0: no limit). */
  requestTimeoutMs: number;
  /** Time for a request's headers to arrive. */
  headersTimeoutMs: number;
  /** How long an idle keep-alive connection is kept between requests. */
  keepAliveTimeoutMs: number;
  /** A connection quiet both ways this long is closed (0: never); WebSockets are exempt. */
  idleTimeoutMs: number;
  /** Largest request line plus headers, in bytes. */
  maxHeaderSize: number;
  /** Longest path part (task id, result file name), in characters. */
  maxParamLength: number;
  /** Most task ids one GET /status may ask for. */
  maxStatusIds: number;
  // Capacity figures (issue 14): GET /services/:name/stats.
  /** Wait and run times over the latest sampleSize tasks ended within sampleAge; slots needed for targetWait unless asked. */
  stats: { sampleSize: number; sampleAge: string; sampleAgeSeconds: number; targetWait: string; targetWaitSeconds: number };
  /** Largest page (`limit`) of GET /tasks. */
  maxTasksPerPage: number;
  // Capability links (issue 12): the secret that signs them, older ones still accepted, how long one lasts.
  /** Signs new capability tokens; unset: serve issues none, dev keeps one in its data dir. */
  capabilitySecret?: string;
  /** Secrets of earlier rotations: tokens they signed stay valid until they are removed. */
  capabilitySecretsPrevious: string[];
  /** How long a capability token lasts from its issue (ISO 8601), and the same in milliseconds. */
  capabilityLifetime: string;
  capabilityLifetimeMs: number;
  // Client certificates (issue 12): HTTPS served by Errand itself, client certificates checked against a CA.
  /** Server certificate chain (PEM file); with tlsKeyFile, Errand serves HTTPS. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** CA bundle (PEM file) client certificates are verified against; a verified one is `cert:<subject>`. */
  clientCaFile?: string;
  /** What every certificate principal may do. */
  clientCertGrant: Grant;
  // CORS and browsers (issue 12)
  /** Origins (normalised) whose pages may use the API with credentials; `any`: `*` was listed (reads without credentials). */
  corsOrigins: OriginList;
  // API keys (issue 12): `errand keys create`'s scopes and expiry, and how servers check keys.
  /** `--scope`, repeatable: the scopes `errand keys create` gives the new key, as written. */
  scopes: string[];
  /** `--expires`: when the key `errand keys create` makes expires (ISO 8601 duration or time). */
  expires?: string;
  /** The name of Patavi's single `--api-key` as a principal (`key:<name>`). */
  apiKeyName: string;
  /** The scopes of Patavi's single `--api-key`, as written. */
  apiKeyScopes: string[];
  /** How long a server trusts what it looked up about a key; a revoked key is refused within this. */
  apiKeyCacheMs: number;
  /** Keys a server keeps looked up at once (and, apart, as many refused ones). */
  apiKeyCacheSize: number;
  // JWT bearer tokens (issue 12): set when --jwt-jwks-url or --jwt-key-file is given.
  jwt?: JwtSettings;
  // Completion callbacks (issue 14)
  /** The hosts a task's callback may name; none: callbacks are refused. */
  callbackHosts: CallbackAllowlist;
  /** Signs every delivery; required with --callback-hosts. Never logged. */
  callbackSecret?: string;
  callbackMaxAttempts: number;
  callbackBaseDelayMs: number;
  callbackMaxDelayMs: number;
  callbackTimeoutMs: number;
  callbackPollIntervalMs: number;
  callbackConcurrency: number;
  // Health, readiness and metrics (issue 14)
  /** A listener for /health, /ready and /metrics on this port (any role); unset: none (serve and dev answer them on --port). */
  metricsPort?: number;
  /** The address that listener binds. */
  metricsHost: string;
  /** serve and dev: how long /ready answers 503 after SIGTERM before the server stops listening. */
  drainDelayMs: number;
  /** Longest a readiness check waits for PostgreSQL before it counts it as unreachable. */
  readyTimeoutMs: number;
  /** Distinct service names a metric keeps as labels; later ones are counted under `_other`. */
  metricsMaxServices: number;
  /** serve and dev: services whose capacity figures a scrape reads at once. */
  metricsStatsConcurrency: number;
  /** serve and dev: how long one read of the capacity figures answers scrapes (ms). */
  metricsStatsMaxAgeMs: number;
}

/** Flag name, environment variable, and how to read it. */
const OPTIONS = {
  'amqp-url': { env: 'ERRAND_AMQP_URL', type: 'string' },
  'database-url': { env: 'ERRAND_DATABASE_URL', type: 'string' },
  host: { env: 'ERRAND_HOST', type: 'string' },
  port: { env: 'ERRAND_PORT', type: 'string' },
  'public-url': { env: 'ERRAND_PUBLIC_URL', type: 'string' },
  'api-key': { env: 'ERRAND_API_KEY', type: 'string' },
  'node-id': { env: 'ERRAND_NODE_ID', type: 'string' },
  concurrency: { env: 'ERRAND_CONCURRENCY', type: 'string' },
  services: { env: 'ERRAND_SERVICES', type: 'string' },
  'data-dir': { env: 'ERRAND_DATA_DIR', type: 'string' },
  'body-limit': { env: 'ERRAND_BODY_LIMIT', type: 'string' },
  'max-json-depth': { env: 'ERRAND_MAX_JSON_DEPTH', type: 'string' },
  'default-ttl': { env: 'ERRAND_DEFAULT_TTL', type: 'string' },
  'allow-unknown-services': { env: 'ERRAND_ALLOW_UNKNOWN_SERVICES', type: 'boolean' },
  'trust-proxy': { env: 'ERRAND_TRUST_PROXY', type: 'string' },
  migrate: { env: 'ERRAND_MIGRATE', type: 'boolean' },
  'no-recorder': { env: 'ERRAND_NO_RECORDER', type: 'boolean' },
  // Who may do what (issue 12)
  'no-auth': { env: 'ERRAND_NO_AUTH', type: 'boolean' },
  'patavi-open-reads': { env: 'ERRAND_PATAVI_OPEN_READS', type: 'boolean' },
  'recorder-prefetch': { env: 'ERRAND_RECORDER_PREFETCH', type: 'string' },
  'janitor-interval': { env: 'ERRAND_JANITOR_INTERVAL', type: 'string' },
  'log-level': { env: 'ERRAND_LOG_LEVEL', type: 'string' },
  rscript: { env: 'ERRAND_RSCRIPT', type: 'string' },
  'announce-interval': { env: 'ERRAND_ANNOUNCE_INTERVAL', type: 'string' },
  'progress-interval': { env: 'ERRAND_PROGRESS_INTERVAL', type: 'string' },
  'max-attempts': { env: 'ERRAND_MAX_ATTEMPTS', type: 'string' },
  'event-retention': { env: 'ERRAND_EVENT_RETENTION', type: 'string' },
  'lost-check-interval': { env: 'ERRAND_LOST_CHECK_INTERVAL', type: 'string' },
  'lost-worker-grace': { env: 'ERRAND_LOST_WORKER_GRACE', type: 'string' },
  'slot-wait': { env: 'ERRAND_SLOT_WAIT', type: 'string' },
  'start-report-after': { env: 'ERRAND_START_REPORT_AFTER', type: 'string' },
  'stop-grace': { env: 'ERRAND_STOP_GRACE', type: 'string' },
  'executor-idle-timeout': { env: 'ERRAND_EXECUTOR_IDLE_TIMEOUT', type: 'string' },
  'default-queue-timeout': { env: 'ERRAND_DEFAULT_QUEUE_TIMEOUT', type: 'string' },
  // Result bounds (issue 11).
  'max-result-files': { env: 'ERRAND_MAX_RESULT_FILES', type: 'string' },
  'max-result-file-size': { env: 'ERRAND_MAX_RESULT_FILE_SIZE', type: 'string' },
  'max-result-size': { env: 'ERRAND_MAX_RESULT_SIZE', type: 'string' },
  // Durations (issue 11, poison ttl)
  'max-ttl': { env: 'ERRAND_MAX_TTL', type: 'string' },
  'max-deadline': { env: 'ERRAND_MAX_DEADLINE', type: 'string' },
  // Stream caps (issue 11)
  'max-websockets-per-client': { env: 'ERRAND_MAX_WEBSOCKETS_PER_CLIENT', type: 'string' },
  'max-sse-per-client': { env: 'ERRAND_MAX_SSE_PER_CLIENT', type: 'string' },
  'max-subscriptions-per-socket': { env: 'ERRAND_MAX_SUBSCRIPTIONS_PER_SOCKET', type: 'string' },
  'max-streams': { env: 'ERRAND_MAX_STREAMS', type: 'string' },
  'max-stream-buffer': { env: 'ERRAND_MAX_STREAM_BUFFER', type: 'string' },
  // HTTP edge (issue 11)
  'request-timeout': { env: 'ERRAND_REQUEST_TIMEOUT', type: 'string' },
  'headers-timeout': { env: 'ERRAND_HEADERS_TIMEOUT', type: 'string' },
  'keep-alive-timeout': { env: 'ERRAND_KEEP_ALIVE_TIMEOUT', type: 'string' },
  'idle-timeout': { env: 'ERRAND_IDLE_TIMEOUT', type: 'string' },
  'max-header-size': { env: 'ERRAND_MAX_HEADER_SIZE', type: 'string' },
  'max-param-length': { env: 'ERRAND_MAX_PARAM_LENGTH', type: 'string' },
  'max-status-ids': { env: 'ERRAND_MAX_STATUS_IDS', type: 'string' },
  // Capacity figures (issue 14)
  'stats-sample': { env: 'ERRAND_STATS_SAMPLE', type: 'string' },
  'stats-sample-age': { env: 'ERRAND_STATS_SAMPLE_AGE', type: 'string' },
  'stats-target-wait': { env: 'ERRAND_STATS_TARGET_WAIT', type: 'string' },
  'max-tasks-per-page': { env: 'ERRAND_MAX_TASKS_PER_PAGE', type: 'string' },
  // Capability links (issue 12)
  'capability-secret': { env: 'ERRAND_CAPABILITY_SECRET', type: 'string' },
  'capability-secret-previous': { env: 'ERRAND_CAPABILITY_SECRET_PREVIOUS', type: 'string' },
  'capability-lifetime': { env: 'ERRAND_CAPABILITY_LIFETIME', type: 'string' },
  // Client certificates (issue 12)
  'tls-cert': { env: 'ERRAND_TLS_CERT', type: 'string' },
  'tls-key': { env: 'ERRAND_TLS_KEY', type: 'string' },
  'client-ca': { env: 'ERRAND_CLIENT_CA', type: 'string' },
  'client-cert-scope': { env: 'ERRAND_CLIENT_CERT_SCOPE', type: 'string', multiple: true },
  // CORS and browsers (issue 12): repeatable; the variable holds origins separated by commas (or spaces).
  'cors-origin': { env: 'ERRAND_CORS_ORIGIN', type: 'string', multiple: true },
  // API keys (issue 12). A repeatable flag's variable holds its values separated by spaces.
  scope: { env: '', type: 'string', multiple: true },
  expires: { env: '', type: 'string' },
  'api-key-name': { env: 'ERRAND_API_KEY_NAME', type: 'string' },
  'api-key-scope': { env: 'ERRAND_API_KEY_SCOPES', type: 'string', multiple: true },
  'api-key-cache': { env: 'ERRAND_API_KEY_CACHE', type: 'string' },
  'api-key-cache-size': { env: 'ERRAND_API_KEY_CACHE_SIZE', type: 'string' },
  // JWT bearer tokens (issue 12)
  'jwt-jwks-url': { env: 'ERRAND_JWT_JWKS_URL', type: 'string' },
  'jwt-key-file': { env: 'ERRAND_JWT_KEY_FILE', type: 'string' },
  'jwt-algorithms': { env: 'ERRAND_JWT_ALGORITHMS', type: 'string' },
  'jwt-issuer': { env: 'ERRAND_JWT_ISSUER', type: 'string' },
  'jwt-audience': { env: 'ERRAND_JWT_AUDIENCE', type: 'string' },
  'jwt-scopes-claim': { env: 'ERRAND_JWT_SCOPES_CLAIM', type: 'string' },
  'jwt-clock-tolerance': { env: 'ERRAND_JWT_CLOCK_TOLERANCE', type: 'string' },
  'jwt-jwks-timeout': { env: 'ERRAND_JWT_JWKS_TIMEOUT', type: 'string' },
  'jwt-max-size': { env: 'ERRAND_JWT_MAX_SIZE', type: 'string' },
  // Completion callbacks (issue 14): repeatable; a value (and the variable) may hold several hosts separated by commas or spaces.
  'callback-hosts': { env: 'ERRAND_CALLBACK_HOSTS', type: 'string', multiple: true },
  'callback-allow-private': { env: 'ERRAND_CALLBACK_ALLOW_PRIVATE', type: 'boolean' },
  'callback-secret': { env: 'ERRAND_CALLBACK_SECRET', type: 'string' },
  'callback-max-attempts': { env: 'ERRAND_CALLBACK_MAX_ATTEMPTS', type: 'string' },
  'callback-base-delay': { env: 'ERRAND_CALLBACK_BASE_DELAY', type: 'string' },
  'callback-max-delay': { env: 'ERRAND_CALLBACK_MAX_DELAY', type: 'string' },
  'callback-timeout': { env: 'ERRAND_CALLBACK_TIMEOUT', type: 'string' },
  'callback-poll-interval': { env: 'ERRAND_CALLBACK_POLL_INTERVAL', type: 'string' },
  'callback-concurrency': { env: 'ERRAND_CALLBACK_CONCURRENCY', type: 'string' },
  // Health, readiness and metrics (issue 14)
  'metrics-port': { env: 'ERRAND_METRICS_PORT', type: 'string' },
  'metrics-host': { env: 'ERRAND_METRICS_HOST', type: 'string' },
  'drain-delay': { env: 'ERRAND_DRAIN_DELAY', type: 'string' },
  'ready-timeout': { env: 'ERRAND_READY_TIMEOUT', type: 'string' },
  'metrics-max-services': { env: 'ERRAND_METRICS_MAX_SERVICES', type: 'string' },
  'metrics-stats-concurrency': { env: 'ERRAND_METRICS_STATS_CONCURRENCY', type: 'string' },
  'metrics-stats-max-age': { env: 'ERRAND_METRICS_STATS_MAX_AGE', type: 'string' },
  help: { env: '', type: 'boolean' },
} as const;

type OptionName = keyof typeof OPTIONS;
/** Options that may be given more than once (`multiple: true`): read them with getList. */
type ListOptionName = { [K in OptionName]: (typeof OPTIONS)[K] extends { multiple: true } ? K : never }[OptionName];
type SingleOptionName = Exclude<OptionName, ListOptionName>;
const isList = (name: string): boolean => 'multiple' in OPTIONS[name as OptionName];

/** The commands, so that a bare `--trust-proxy` before one does not take it for its value. */
const COMMANDS = new Set(['dev', 'serve', 'worker', 'recorder', 'migrate', 'keys']);

export interface Invocation { command: string | undefined; config: Config; help: boolean; rest: string[] }

function integer(value: string, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new ErrandError('invalid_field', `--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`, name);
  return n;
}

/** Sizes like 5mb, 512kb, 1048576. */
function bytes(value: string, name: string): number {
  const match = /^(\d+)\s*(b|kb|mb|gb)?$/i.exec(value.trim());
  if (!match) throw new ErrandError('invalid_field', `--${name} must be a size such as 5mb or 1048576, got ${JSON.stringify(value)}`, name);
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(match[2] ?? 'b').toLowerCase() as 'b'];
  return Number(match[1]) * unit;
}

function bool(value: string, name: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off|)$/i.test(value)) return false;
  throw new ErrandError('invalid_field', `${name} must be true or false, got ${JSON.stringify(value)}`, name);
}

/** Proxy address names proxy-addr (Fastify's) knows, besides addresses and CIDRs. */
const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * --trust-proxy: true/false, a hop count (the last N hops are proxies: only safe when nothing
 * reaches the server except through them), or a comma-separated list of proxy addresses, CIDRs
 * (10.0.0.0/8, fd00::/8) or the names loopback, linklocal, uniquelocal. A bare digit is a hop count.
 */
export function parseTrustProxy(value: string): boolean | number | string[] {
  const text = value.trim();
  if (/^(true|yes|on)$/i.test(text)) return true;
  if (/^(false|no|off|0|)$/i.test(text)) return false;
  if (/^\d+$/.test(text)) return integer(text, 'trust-proxy', 0, 1000);
  const entries = text.split(',').map((entry) => entry.trim());
  const bad = entries.find((entry) => !PROXY_NAMES.has(entry) && !isAddressOrCidr(entry));
  if (bad !== undefined) {
    throw new ErrandError('invalid_field', `--trust-proxy must be true, false, a hop count, or proxy addresses/CIDRs separated by commas, got ${JSON.stringify(bad)}`, 'trust-proxy');
  }
  return entries;
}

function isAddressOrCidr(entry: string): boolean {
  const [address = '', prefix, ...more] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || more.length > 0) return false;
  if (prefix === undefined) return true;
  if (/^\d{1,3}$/.test(prefix)) return Number(prefix) <= (family === 4 ? 32 : 128);
  return family === 4 && isIP(prefix) === 4; // a netmask: 10.0.0.0/255.0.0.0
}

export function readConfig(argv: string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): Invocation {
  let parsed;
  try {
    parsed = parseArgs({
      // A bare --trust-proxy still means "true", as it did when it took no value.
      args: argv.map((arg, i) => (arg === '--trust-proxy' && (i + 1 >= argv.length || argv[i + 1]!.startsWith('-') || COMMANDS.has(argv[i + 1]!)) ? '--trust-proxy=true' : arg)),
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(Object.entries(OPTIONS).map(([name, o]) => [name, { type: o.type, multiple: isList(name) }])) as Record<OptionName, { type: 'string' | 'boolean'; multiple: boolean }>,
    });
  } catch (err) {
    throw new ErrandError('invalid_field', `${(err as Error).message} (see errand --help)`);
  }
  const flags = parsed.values as Partial<Record<OptionName, string | boolean | string[]>>;
  const fromEnv = (name: OptionName): string | undefined => {
    const text = OPTIONS[name].env ? env[OPTIONS[name].env] : undefined;
    return text === undefined || text === '' ? undefined : text;
  };
  const get = (name: SingleOptionName): string | undefined => {
    const flag = flags[name];
    return flag !== undefined ? String(flag) : fromEnv(name);
  };
  /** Every value of a repeatable flag, in order; else its variable's values, separated by spaces. */
  const getList = (name: ListOptionName): string[] | undefined => {
    const flag = flags[name];
    if (Array.isArray(flag)) return flag;
    return fromEnv(name)?.split(/\s+/).filter(Boolean);
  };
  // Finished tasks are kept 30 days unless told otherwise; `none` keeps them until deleted (as Patavi).
  const defaultTtlText = get('default-ttl') ?? DEFAULT_TTL;
  const defaultTtl = /^none$/i.test(defaultTtlText) ? undefined : defaultTtlText;
  if (defaultTtl !== undefined && !parseIsoDuration(defaultTtl)) {
    throw new ErrandError('invalid_ttl', `--default-ttl must be an ISO 8601 duration such as P7D, or none, got ${JSON.stringify(defaultTtl)}`, 'default-ttl');
  }
  const durationSeconds = (name: OptionName, text: string): number => {
    const parsed = parseIsoDuration(text);
    const ms = parsed ? durationToMillis(parsed) : 0;
    if (ms <= 0) throw new ErrandError('invalid_field', `--${name} must be an ISO 8601 duration such as P7D, got ${JSON.stringify(text)}`, name);
    return ms / 1000;
  };
  const defaultQueueTimeout = get('default-queue-timeout');
  if (defaultQueueTimeout !== undefined) durationSeconds('default-queue-timeout', defaultQueueTimeout);
  // Durations (issue 11, poison ttl): each maximum within the ceiling, each default within its maximum.
  const maxDuration = (name: SingleOptionName, fallback: string): { text: string; ms: number } => {
    const text = get(name) ?? fallback;
    const checked = checkDuration(text);
    if (!checked.ok || checked.ms <= 0) {
      throw new ErrandError('invalid_field', `--${name} must be an ISO 8601 duration from PT1S to ${DURATION_CEILING}, got ${JSON.stringify(text)}`, name);
    }
    return { text, ms: checked.ms };
  };
  const maxTtl = maxDuration('max-ttl', DEFAULT_MAX_TTL);
  const maxDeadline = maxDuration('max-deadline', DEFAULT_MAX_DEADLINE);
  if (defaultTtl !== undefined && durationToMillis(parseIsoDuration(defaultTtl)!) > maxTtl.ms) {
    throw new ErrandError('invalid_ttl', `--default-ttl ${defaultTtl} is longer than --max-ttl ${maxTtl.text}`, 'default-ttl');
  }
  if (defaultQueueTimeout !== undefined && durationToMillis(parseIsoDuration(defaultQueueTimeout)!) > maxDeadline.ms) {
    throw new ErrandError('invalid_deadline', `--default-queue-timeout ${defaultQueueTimeout} is longer than --max-deadline ${maxDeadline.text}`, 'default-queue-timeout');
  }
  const publicUrl = get('public-url');
  if (publicUrl !== undefined && !/^https?:\/\/[^/]+/.test(publicUrl)) {
    throw new ErrandError('invalid_field', `--public-url must be an http(s) URL such as https://errand.example.org, got ${JSON.stringify(publicUrl)}`, 'public-url');
  }
  const http = httpEdge(get);
  const tls = tlsFlags(get, getList('client-cert-scope'), cwd);
  if (tls.tlsCertFile !== undefined && publicUrl !== undefined && !/^https:/i.test(publicUrl)) {
    throw new ErrandError('invalid_field', `--public-url must be https:// when Errand serves HTTPS itself (--tls-cert): links to ${JSON.stringify(publicUrl)} would send clients, and their credentials, to plain HTTP`, 'public-url');
  }
  const keys = apiKeySettings(get, getList);
  const jwt = jwtOptions(get, cwd);
  const command = parsed.positionals[0];
  const callbacks = callbackFlags(get, getList, command);
  const nodeId = get('node-id');
  const apiKey = get('api-key');
  const metricsPort = get('metrics-port');
  const config: Config = {
    amqpUrl: get('amqp-url') ?? 'amqp://guest:guest@127.0.0.1:5672',
    databaseUrl: withPgUser(get('database-url') ?? 'postgres://127.0.0.1:5432/errand', env.PGUSER),
    host: get('host') ?? '127.0.0.1',
    port: integer(get('port') ?? '3000', 'port', 0, 65535),
    concurrency: integer(get('concurrency') ?? '1', 'concurrency', 1, 10_000),
    servicesDir: resolve(cwd, get('services') ?? BUNDLED_SERVICES),
    dataDir: resolve(cwd, get('data-dir') ?? '.errand/dev'),
    bodyLimit: bytes(get('body-limit') ?? '5mb', 'body-limit'),
    maxJsonDepth: integer(get('max-json-depth') ?? '256', 'max-json-depth', 1, 10_000),
    allowUnknownServices: bool(get('allow-unknown-services') ?? 'false', 'allow-unknown-services'),
    trustProxy: parseTrustProxy(get('trust-proxy') ?? 'false'),
    migrate: bool(get('migrate') ?? 'false', 'migrate'),
    recorder: !bool(get('no-recorder') ?? 'false', 'no-recorder'),
    noAuth: bool(get('no-auth') ?? 'false', 'no-auth'),
    pataviOpenReads: bool(get('patavi-open-reads') ?? 'false', 'patavi-open-reads'),
    recorderPrefetch: integer(get('recorder-prefetch') ?? '256', 'recorder-prefetch', 1, 65_535),
    janitorIntervalMs: integer(get('janitor-interval') ?? '60000', 'janitor-interval', 10),
    logLevel: get('log-level') ?? 'info',
    rscript: get('rscript') ?? 'Rscript',
    announceIntervalMs: integer(get('announce-interval') ?? '5000', 'announce-interval', 50, 3_600_000),
    progressIntervalMs: integer(get('progress-interval') ?? '100', 'progress-interval', 0, 60_000),
    maxAttempts: integer(get('max-attempts') ?? '3', 'max-attempts', 1, 100),
    eventRetentionSeconds: durationSeconds('event-retention', get('event-retention') ?? 'P7D'),
    lostCheckIntervalMs: integer(get('lost-check-interval') ?? '5000', 'lost-check-interval', 10, 3_600_000),
    lostWorkerGraceMs: integer(get('lost-worker-grace') ?? '20000', 'lost-worker-grace', 0, 86_400_000),
    slotWaitMs: integer(get('slot-wait') ?? '10000', 'slot-wait', 10, 3_600_000),
    startReportAfterMs: integer(get('start-report-after') ?? '250', 'start-report-after', 0, 600_000),
    stopGraceMs: integer(get('stop-grace') ?? '30000', 'stop-grace', 0, 86_400_000),
    executorIdleTimeoutMs: executorIdleTimeout(get('executor-idle-timeout') ?? DEFAULT_EXECUTOR_IDLE_TIMEOUT),
    maxResultFiles: integer(get('max-result-files') ?? String(DEFAULT_RESULT_LIMITS.maxFiles), 'max-result-files', 0, 1_000_000),
    maxResultFileBytes: bytes(get('max-result-file-size') ?? String(DEFAULT_RESULT_LIMITS.maxFileBytes), 'max-result-file-size'),
    maxResultBytes: bytes(get('max-result-size') ?? String(DEFAULT_RESULT_LIMITS.maxResultBytes), 'max-result-size'),
    // Durations (issue 11, poison ttl)
    maxTtl: maxTtl.text,
    maxDeadline: maxDeadline.text,
    // Stream caps (issue 11)
    maxWebSocketsPerClient: integer(get('max-websockets-per-client') ?? '64', 'max-websockets-per-client', 1, 1_000_000),
    maxEventStreamsPerClient: integer(get('max-sse-per-client') ?? '64', 'max-sse-per-client', 1, 1_000_000),
    maxSubscriptionsPerSocket: integer(get('max-subscriptions-per-socket') ?? '100', 'max-subscriptions-per-socket', 1, 10_000),
    maxStreams: integer(get('max-streams') ?? '2000', 'max-streams', 1, 1_000_000),
    maxStreamBufferBytes: bytes(get('max-stream-buffer') ?? '4mb', 'max-stream-buffer'),
    ...http,
    stats: statsSettings(get),
    // Capability links (issue 12)
    ...capabilities(get),
    ...tls,
    // CORS and browsers (issue 12)
    corsOrigins: parseOriginList(getList('cors-origin') ?? []),
    // API keys (issue 12)
    ...keys,
    ...(defaultQueueTimeout !== undefined ? { defaultQueueTimeout } : {}),
    ...(publicUrl !== undefined ? { publicUrl: publicUrl.replace(/\/+$/, '') } : {}),
    ...(apiKey !== undefined ? { apiKey } : {}),
    ...(nodeId !== undefined ? { nodeId: integer(nodeId, 'node-id', 0, MAX_NODE_ID) } : {}),
    ...(defaultTtl !== undefined ? { defaultTtl } : {}),
    // JWT bearer tokens (issue 12)
    ...(jwt !== undefined ? { jwt } : {}),
    // Completion callbacks (issue 14)
    ...callbacks,
    // Health, readiness and metrics (issue 14): a server drains by default, a developer's Ctrl-C does not wait.
    ...(metricsPort !== undefined ? { metricsPort: integer(metricsPort, 'metrics-port', 0, 65535) } : {}),
    metricsHost: get('metrics-host') ?? '127.0.0.1',
    drainDelayMs: integer(get('drain-delay') ?? (parsed.positionals[0] === 'serve' ? '5000' : '0'), 'drain-delay', 0, 3_600_000),
    readyTimeoutMs: integer(get('ready-timeout') ?? '2000', 'ready-timeout', 100, 60_000),
    metricsMaxServices: integer(get('metrics-max-services') ?? '200', 'metrics-max-services', 1, 100_000),
    metricsStatsConcurrency: integer(get('metrics-stats-concurrency') ?? '4', 'metrics-stats-concurrency', 1, 64),
    metricsStatsMaxAgeMs: integer(get('metrics-stats-max-age') ?? '1000', 'metrics-stats-max-age', 0, 60_000),
  };
  const help = flags.help === true;
  // Links are built from it, never from a request's Host header, so serve cannot guess it.
  // The recorder puts the same links in Patavi's `<id>.end` messages.
  if ((command === 'serve' || command === 'recorder') && !help && config.publicUrl === undefined) {
    throw new ErrandError('missing_field', `${command} needs --public-url (or ERRAND_PUBLIC_URL): the URL clients reach Errand's servers at, such as https://errand.example.org; links are built from it`, 'public-url');
  }
  return { command, config, help, rest: parsed.positionals.slice(1) };
}

/**
 * Completion callbacks (issue 14): the allowlist, the signing secret (required with hosts by the
 * commands that accept or deliver callbacks), and the retry policy. Off by default: no host.
 */
function callbackFlags(get: (name: SingleOptionName) => string | undefined, getList: (name: ListOptionName) => string[] | undefined, command: string | undefined) {
  const callbackHosts = parseCallbackHosts(getList('callback-hosts') ?? [], bool(get('callback-allow-private') ?? 'false', 'callback-allow-private'));
  const secret = get('callback-secret')?.trim();
  if (secret !== undefined) {
    const problem = secretStrengthProblem(secret);
    if (problem !== undefined) throw new ErrandError('invalid_field', `--callback-secret ${problem}`, 'callback-secret');
  }
  if (callbackHosts.hosts.length > 0 && secret === undefined && (command === 'serve' || command === 'recorder' || command === 'dev')) {
    throw new ErrandError('missing_field', '--callback-hosts needs --callback-secret (or ERRAND_CALLBACK_SECRET): every callback is signed with it, so that receivers can tell Errand\'s from anyone\'s', 'callback-secret');
  }
  const callbackBaseDelayMs = integer(get('callback-base-delay') ?? '5000', 'callback-base-delay', 1, 86_400_000);
  const callbackMaxDelayMs = integer(get('callback-max-delay') ?? '3600000', 'callback-max-delay', 1, 86_400_000);
  if (callbackMaxDelayMs < callbackBaseDelayMs) {
    throw new ErrandError('invalid_field', `--callback-max-delay (${callbackMaxDelayMs}) must not be shorter than --callback-base-delay (${callbackBaseDelayMs})`, 'callback-max-delay');
  }
  return {
    callbackHosts,
    ...(secret !== undefined ? { callbackSecret: secret } : {}),
    callbackMaxAttempts: integer(get('callback-max-attempts') ?? '12', 'callback-max-attempts', 1, 100),
    callbackBaseDelayMs,
    callbackMaxDelayMs,
    callbackTimeoutMs: integer(get('callback-timeout') ?? '10000', 'callback-timeout', 1, 600_000),
    callbackPollIntervalMs: integer(get('callback-poll-interval') ?? '1000', 'callback-poll-interval', 10, 3_600_000),
    callbackConcurrency: integer(get('callback-concurrency') ?? '16', 'callback-concurrency', 1, 10_000),
  };
}

/** HTTP edge (issue 11): the server's request timeouts and size limits. */
function httpEdge(get: (name: SingleOptionName) => string | undefined) {
  const requestTimeoutMs = integer(get('request-timeout') ?? '60000', 'request-timeout', 0, 86_400_000);
  const headersTimeoutMs = integer(get('headers-timeout') ?? '10000', 'headers-timeout', 1, 86_400_000);
  if (requestTimeoutMs > 0 && headersTimeoutMs > requestTimeoutMs) {
    throw new ErrandError('invalid_field', `--headers-timeout (${headersTimeoutMs}) must not be longer than --request-timeout (${requestTimeoutMs}): the headers are part of the request`, 'headers-timeout');
  }
  const idleTimeoutMs = integer(get('idle-timeout') ?? '120000', 'idle-timeout', 0, 86_400_000);
  // Event streams send a keep-alive every 15 s: a shorter idle timeout would cut healthy ones.
  if (idleTimeoutMs > 0 && idleTimeoutMs < 30_000) {
    throw new ErrandError('invalid_field', `--idle-timeout must be 0 (never) or at least 30000 ms (event streams are quiet for up to 15 s), got ${idleTimeoutMs}`, 'idle-timeout');
  }
  return {
    requestTimeoutMs,
    headersTimeoutMs,
    keepAliveTimeoutMs: integer(get('keep-alive-timeout') ?? '72000', 'keep-alive-timeout', 1, 86_400_000),
    idleTimeoutMs,
    maxHeaderSize: bytes(get('max-header-size') ?? '16kb', 'max-header-size'),
    maxParamLength: integer(get('max-param-length') ?? '255', 'max-param-length', 16, 65_535),
    maxStatusIds: integer(get('max-status-ids') ?? '500', 'max-status-ids', 1, 100_000),
    maxTasksPerPage: integer(get('max-tasks-per-page') ?? String(DEFAULT_MAX_TASK_LIST_LIMIT), 'max-tasks-per-page', 1, 10_000),
  };
}

/** Capacity figures (issue 14): the sample wait and run times are taken over, and the default target wait. */
function statsSettings(get: (name: SingleOptionName) => string | undefined): Config['stats'] {
  const sampleAge = get('stats-sample-age') ?? 'P1D';
  const age = checkDuration(sampleAge, 30 * 86_400_000);
  if (!age.ok || age.ms < 60_000) {
    throw new ErrandError('invalid_field', `--stats-sample-age must be an ISO 8601 duration from PT1M to P30D, got ${JSON.stringify(sampleAge)}`, 'stats-sample-age');
  }
  const targetWait = get('stats-target-wait') ?? 'PT1M';
  const target = checkDuration(targetWait);
  if (!target.ok || target.ms <= 0) {
    throw new ErrandError('invalid_field', `--stats-target-wait must be an ISO 8601 duration above zero, such as PT1M, got ${JSON.stringify(targetWait)}`, 'stats-target-wait');
  }
  return {
    sampleSize: integer(get('stats-sample') ?? '1000', 'stats-sample', 1, 100_000),
    sampleAge, sampleAgeSeconds: age.ms / 1000, targetWait, targetWaitSeconds: target.ms / 1000,
  };
}

/** Capability links (issue 12): how long a token lasts unless --capability-lifetime says, and the bounds. */
export const DEFAULT_CAPABILITY_LIFETIME = 'P7D';
const MIN_CAPABILITY_LIFETIME_MS = 60_000;
const MAX_CAPABILITY_LIFETIME = 'P1Y';

/**
 * Capability links (issue 12): the signing secret, previous ones (comma-separated: a secret cannot
 * hold a comma), and the lifetime. Secrets must be strong, old ones too: they still verify tokens.
 */
function capabilities(get: (name: SingleOptionName) => string | undefined) {
  const current = get('capability-secret')?.trim();
  const previous = (get('capability-secret-previous') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (current === undefined && previous.length > 0) {
    throw new ErrandError('invalid_field', '--capability-secret-previous needs --capability-secret: the current secret signs new tokens, previous ones only verify', 'capability-secret-previous');
  }
  for (const [name, secret] of [['capability-secret', current], ...previous.map((p) => ['capability-secret-previous', p])] as const) {
    const problem = secret === undefined ? undefined : secretStrengthProblem(secret);
    if (problem !== undefined) throw new ErrandError('invalid_field', `--${name} ${problem}`, name);
  }
  // Refuses two secrets sharing a key id, once at start rather than on a request.
  if (current !== undefined) capabilityKeyring(current, previous);
  const lifetime = get('capability-lifetime') ?? DEFAULT_CAPABILITY_LIFETIME;
  const checked = checkDuration(lifetime, durationToMillis(parseIsoDuration(MAX_CAPABILITY_LIFETIME)!));
  if (!checked.ok || checked.ms < MIN_CAPABILITY_LIFETIME_MS) {
    throw new ErrandError('invalid_field', `--capability-lifetime must be an ISO 8601 duration from PT1M to ${MAX_CAPABILITY_LIFETIME}, got ${JSON.stringify(lifetime)}`, 'capability-lifetime');
  }
  return {
    ...(current !== undefined ? { capabilitySecret: current } : {}),
    capabilitySecretsPrevious: previous.filter((p) => p !== current),
    capabilityLifetime: lifetime,
    capabilityLifetimeMs: checked.ms,
  };
}

/**
 * Client certificates (issue 12): the PEM files' paths (read by the commands that serve, at start)
 * and the scopes of certificate principals. Certificate and key go together; a CA without them,
 * or scopes without a CA, would be silently ignored, so they are refused.
 */
function tlsFlags(get: (name: SingleOptionName) => string | undefined, scopes: string[] | undefined, cwd: string) {
  const cert = get('tls-cert');
  const key = get('tls-key');
  const ca = get('client-ca');
  if ((cert === undefined) !== (key === undefined)) {
    const missing = cert === undefined ? 'tls-cert' : 'tls-key';
    throw new ErrandError('missing_field', `--tls-cert and --tls-key go together (the server's certificate and its private key, PEM files): --${missing} is missing`, missing);
  }
  if (ca !== undefined && cert === undefined) {
    throw new ErrandError('invalid_field', '--client-ca needs --tls-cert and --tls-key: client certificates are verified only when Errand serves HTTPS itself', 'client-ca');
  }
  if (scopes !== undefined && ca === undefined) {
    throw new ErrandError('invalid_field', '--client-cert-scope needs --client-ca: it says what verified client certificates may do', 'client-cert-scope');
  }
  let clientCertGrant: Grant;
  try {
    clientCertGrant = parseScopes(scopes ?? [DEFAULT_CLIENT_CERT_SCOPES], 'client-cert-scope');
  } catch (err) {
    throw new ErrandError('invalid_field', `--client-cert-scope: ${(err as Error).message}`, 'client-cert-scope');
  }
  if (clientCertGrant.scopes.length === 0) {
    throw new ErrandError('invalid_field', '--client-cert-scope must name at least one scope (submit, read, read:all, cancel, admin, submit:<service>)', 'client-cert-scope');
  }
  return {
    ...(cert !== undefined ? { tlsCertFile: resolve(cwd, cert) } : {}),
    ...(key !== undefined ? { tlsKeyFile: resolve(cwd, key) } : {}),
    ...(ca !== undefined ? { clientCaFile: resolve(cwd, ca) } : {}),
    clientCertGrant,
  };
}

/**
 * API keys (issue 12): what `errand keys create` is given, and how servers check keys. The single
 * --api-key's name and scopes are checked here so that a server with bad ones stops at start.
 */
function apiKeySettings(get: (name: SingleOptionName) => string | undefined, getList: (name: ListOptionName) => string[] | undefined) {
  const apiKeyName = get('api-key-name') ?? 'patavi';
  const nameProblem = apiKeyNameProblem(apiKeyName);
  if (nameProblem) throw new ErrandError('invalid_field', `--api-key-name: ${nameProblem}`, 'api-key-name');
  const apiKeyScopes = getList('api-key-scope') ?? ['submit', 'read', 'cancel'];
  if (parseScopes(apiKeyScopes, 'api-key-scope').scopes.length === 0) {
    throw new ErrandError('invalid_field', '--api-key-scope must name at least one scope', 'api-key-scope');
  }
  const expires = get('expires');
  return {
    scopes: getList('scope') ?? [],
    apiKeyName,
    apiKeyScopes,
    apiKeyCacheMs: integer(get('api-key-cache') ?? '10000', 'api-key-cache', 0, 3_600_000),
    apiKeyCacheSize: integer(get('api-key-cache-size') ?? '10000', 'api-key-cache-size', 1, 10_000_000),
    ...(expires !== undefined ? { expires } : {}),
  };
}

/** JWT bearer tokens (issue 12): the mode is on when a key source is given; the checks are in core. */
function jwtOptions(get: (name: SingleOptionName) => string | undefined, cwd: string): JwtSettings | undefined {
  const keyFile = get('jwt-key-file');
  const maxTokenBytes = bytes(get('jwt-max-size') ?? String(DEFAULT_JWT_MAX_BYTES), 'jwt-max-size');
  if (maxTokenBytes < 256 || maxTokenBytes > 65_536) throw new ErrandError('invalid_field', `--jwt-max-size must be from 256 bytes to 64kb, got ${JSON.stringify(get('jwt-max-size'))}`, 'jwt-max-size');
  const flags: JwtFlags = {
    clockToleranceSeconds: integer(get('jwt-clock-tolerance') ?? String(DEFAULT_JWT_CLOCK_TOLERANCE_SECONDS), 'jwt-clock-tolerance', 0, MAX_JWT_CLOCK_TOLERANCE_SECONDS),
    jwksTimeoutMs: integer(get('jwt-jwks-timeout') ?? String(DEFAULT_JWT_JWKS_TIMEOUT_MS), 'jwt-jwks-timeout', 100, 60_000),
    maxTokenBytes,
  };
  if (keyFile !== undefined) flags.keyFile = resolve(cwd, keyFile);
  const optional = { jwksUrl: 'jwt-jwks-url', algorithms: 'jwt-algorithms', issuer: 'jwt-issuer', audience: 'jwt-audience', scopesClaim: 'jwt-scopes-claim' } as const;
  for (const [field, name] of Object.entries(optional) as [keyof typeof optional, SingleOptionName][]) {
    const value = get(name);
    if (value !== undefined) flags[field] = value;
  }
  return jwtSettings(flags);
}

/** How long an extra pooled process may wait for a task: up to a day (a timer cannot wait longer than 24.8 days). */
function executorIdleTimeout(text: string): number {
  const checked = checkDuration(text, 86_400_000);
  if (!checked.ok || checked.ms < 100) {
    throw new ErrandError('invalid_field', `--executor-idle-timeout must be an ISO 8601 duration from PT0.1S to P1D, such as PT60S, got ${JSON.stringify(text)}`, 'executor-idle-timeout');
  }
  return checked.ms;
}

/** As libpq does: a database URL without a user name takes PGUSER when it is set. */
function withPgUser(url: string, pgUser: string | undefined): string {
  if (!pgUser) return url;
  try {
    const parsed = new URL(url);
    if (parsed.username) return url;
    parsed.username = encodeURIComponent(pgUser);
    return parsed.toString();
  } catch {
    throw new ErrandError('invalid_field', `--database-url must be a URL such as postgres://host:5432/errand, got ${JSON.stringify(url)}`, 'database-url');
  }
}

export const USAGE = `errand <command> [options]

Commands:
  dev        server, recorder and a worker in one process on the embedded database (PGlite)
             and an in-process broker, with the example services. What \`npm start\` runs.
  serve      the HTTP/WebSocket server (with a recorder inside unless --no-recorder)
  worker     runs the services in --services DIR for tasks from RabbitMQ
  recorder   records results from RabbitMQ into PostgreSQL and runs the janitor
  migrate    creates the database if needed and applies schema migrations
  keys       API keys in PostgreSQL: keys create NAME --scope S [--scope S ...] [--expires DUR|TIME]
             (prints the key once, alone on the last line), keys list, keys revoke NAME

Options (flag, then environment variable, then default):
  --amqp-url URL          ERRAND_AMQP_URL          amqp://guest:guest@127.0.0.1:5672
  --database-url URL      ERRAND_DATABASE_URL      postgres://127.0.0.1:5432/errand
  --host HOST             ERRAND_HOST              127.0.0.1
  --port N                ERRAND_PORT              3000
  --public-url URL        ERRAND_PUBLIC_URL        required by serve and recorder: the URL clients reach the servers at, links are built from it (dev: its own address)
  --api-key KEY           ERRAND_API_KEY           none: Patavi's single key, one more API key (principal key:patavi, see --api-key-name)
  --no-auth               ERRAND_NO_AUTH           false: serve refuses to start without a way to authenticate callers; true serves everyone as "local", allowed everything
  --patavi-open-reads     ERRAND_PATAVI_OPEN_READS false: callers without a credential read any task by its id, its results and every event stream, as under Patavi
  --node-id N             ERRAND_NODE_ID           leased from the database
  --concurrency N         ERRAND_CONCURRENCY       1 task at a time per service
  --services DIR          ERRAND_SERVICES          the bundled services/ folder
  --data-dir DIR          ERRAND_DATA_DIR          .errand/dev (dev only)
  --body-limit SIZE       ERRAND_BODY_LIMIT        5mb
  --max-json-depth N      ERRAND_MAX_JSON_DEPTH    256
  --default-ttl DURATION  ERRAND_DEFAULT_TTL       P30D: finished tasks are removed 30 days after they end (none keeps them)
  --allow-unknown-services ERRAND_ALLOW_UNKNOWN_SERVICES  false: only services a worker announced
  --trust-proxy VALUE     ERRAND_TRUST_PROXY       false: X-Forwarded-For is ignored; true, a hop count, or proxy addresses/CIDRs (a,b) to believe it for the client address
  --migrate               ERRAND_MIGRATE           false: serve/recorder refuse an old schema
  --no-recorder           ERRAND_NO_RECORDER       false: serve runs a recorder inside
  --recorder-prefetch N   ERRAND_RECORDER_PREFETCH 256
  --janitor-interval MS   ERRAND_JANITOR_INTERVAL  60000
  --log-level LEVEL       ERRAND_LOG_LEVEL         info
  --rscript PATH          ERRAND_RSCRIPT           Rscript (on the PATH)
  --announce-interval MS  ERRAND_ANNOUNCE_INTERVAL 5000: workers announce their services this often
  --progress-interval MS  ERRAND_PROGRESS_INTERVAL 100: at most one progress event per task this often
  --max-attempts N        ERRAND_MAX_ATTEMPTS      3: starts before a task whose worker keeps dying fails (worker_lost)
  --event-retention DUR   ERRAND_EVENT_RETENTION   P7D: events older than this are trimmed
  --lost-check-interval MS ERRAND_LOST_CHECK_INTERVAL 5000: how often the janitor looks for tasks of lost workers
  --lost-worker-grace MS  ERRAND_LOST_WORKER_GRACE 20000: a task's worker unheard since the janitor started is lost after this
  --slot-wait MS          ERRAND_SLOT_WAIT         10000: a worker with every slot busy hands a delivery back after this
  --start-report-after MS ERRAND_START_REPORT_AFTER 250: a task still running after this reports its start and is acknowledged; one that ends sooner sends only its result (0: always report at start)
  --stop-grace MS         ERRAND_STOP_GRACE        30000: a stopping worker stops tasks still running after this (they are queued again)
  --executor-idle-timeout DUR ERRAND_EXECUTOR_IDLE_TIMEOUT PT60S: an R or Node process beyond a service's first leaves after this long without a task
  --default-queue-timeout DUR ERRAND_DEFAULT_QUEUE_TIMEOUT  none: tasks wait in the queue until run
  --max-result-files N    ERRAND_MAX_RESULT_FILES  100: files one result may carry (more fails the task result_too_large)
  --max-result-file-size SIZE ERRAND_MAX_RESULT_FILE_SIZE  32mb: bytes one result file may have
  --max-result-size SIZE  ERRAND_MAX_RESULT_SIZE   64mb: bytes of one whole result (JSON, or index and files)
  --max-ttl DUR           ERRAND_MAX_TTL           P10Y: a longer ttl is refused (invalid_ttl); at most P1000Y
  --max-deadline DUR      ERRAND_MAX_DEADLINE      P10Y: a deadline further away is refused (invalid_deadline); at most P1000Y
  --max-websockets-per-client N ERRAND_MAX_WEBSOCKETS_PER_CLIENT 64: open WebSockets per client address (429 beyond)
  --max-sse-per-client N  ERRAND_MAX_SSE_PER_CLIENT 64: open SSE streams per client address (429 beyond)
  --max-subscriptions-per-socket N ERRAND_MAX_SUBSCRIPTIONS_PER_SOCKET 100: one more closes the socket (4029)
  --max-streams N         ERRAND_MAX_STREAMS       2000: WebSockets and SSE streams over all clients (503 beyond)
  --max-stream-buffer SIZE ERRAND_MAX_STREAM_BUFFER 4mb: events waiting for a stream's client; beyond it the stream closes (slow_consumer)
  --request-timeout MS    ERRAND_REQUEST_TIMEOUT   60000: a request (headers and body) must arrive within this (0: no limit)
  --headers-timeout MS    ERRAND_HEADERS_TIMEOUT   10000: a request's headers must arrive within this
  --keep-alive-timeout MS ERRAND_KEEP_ALIVE_TIMEOUT 72000: an idle keep-alive connection is closed after this
  --idle-timeout MS       ERRAND_IDLE_TIMEOUT      120000: a connection quiet both ways is closed after this (0: never; WebSockets exempt)
  --max-header-size SIZE  ERRAND_MAX_HEADER_SIZE   16kb: larger request heads answer 431
  --max-param-length N    ERRAND_MAX_PARAM_LENGTH  255: longer path parts (ids, file names) answer 414
  --max-status-ids N      ERRAND_MAX_STATUS_IDS    500: task ids one GET /status may ask for
  --stats-sample N        ERRAND_STATS_SAMPLE      1000: GET /services/:name/stats takes wait and run times from the latest N tasks that ran...
  --stats-sample-age DUR  ERRAND_STATS_SAMPLE_AGE  P1D: ...and ended no longer ago than this (PT1M to P30D)
  --stats-target-wait DUR ERRAND_STATS_TARGET_WAIT PT1M: the expected wait slotsNeeded is computed for when a request gives no targetWait
  --max-tasks-per-page N  ERRAND_MAX_TASKS_PER_PAGE 500: largest limit of GET /tasks (1 to 10000; the default page is 50)
  --capability-secret S   ERRAND_CAPABILITY_SECRET none: serve issues no capability links; dev keeps a random one in --data-dir. At least 32 random bytes (openssl rand -base64 32); the same on every server
  --capability-secret-previous S[,S] ERRAND_CAPABILITY_SECRET_PREVIOUS none: earlier secrets whose links still verify (rotation)
  --capability-lifetime DUR ERRAND_CAPABILITY_LIFETIME P7D: how long a capability link lasts (PT1M to P1Y)
  --tls-cert FILE         ERRAND_TLS_CERT          none: plain HTTP; with --tls-key, serve HTTPS with this certificate chain (PEM)
  --tls-key FILE          ERRAND_TLS_KEY           none: the server certificate's private key (PEM, unencrypted)
  --client-ca FILE        ERRAND_CLIENT_CA         none: ask clients for certificates and verify them against this CA bundle (PEM); a verified one is cert:<subject>
  --client-cert-scope S   ERRAND_CLIENT_CERT_SCOPE "submit read cancel": what every client certificate may do (repeatable or space-separated)
  --cors-origin ORIGIN    ERRAND_CORS_ORIGIN       none: only the server's own origin (dev: also http://127.0.0.1:PORT and http://localhost:PORT); repeat (or a,b) to let other web apps' pages use the API with credentials; * lets any page read without credentials
  --scope SCOPE           (keys create, repeatable) submit, submit:SERVICE[,SERVICE], read, read:all, cancel, admin
  --expires DUR|TIME      (keys create)            never: P90D after creation, or a time such as 2030-01-31T00:00:00Z
  --api-key-name NAME     ERRAND_API_KEY_NAME      patavi: --api-key is the principal key:NAME
  --api-key-scope SCOPE   ERRAND_API_KEY_SCOPES    submit read cancel: --api-key's scopes (repeatable; the variable separates them by spaces)
  --api-key-cache MS      ERRAND_API_KEY_CACHE     10000: servers trust a key lookup this long; a revoked key is refused within it (0: look up every time)
  --api-key-cache-size N  ERRAND_API_KEY_CACHE_SIZE 10000: keys a server keeps looked up (as many refused ones apart)
  --jwt-jwks-url URL      ERRAND_JWT_JWKS_URL      none: JWT bearer tokens checked with the keys at this https URL (needs --jwt-issuer, --jwt-audience)
  --jwt-key-file FILE     ERRAND_JWT_KEY_FILE      none: JWT bearer tokens checked with this PEM public key/certificate, JWK or JWKS file
  --jwt-algorithms LIST   ERRAND_JWT_ALGORITHMS    RS256,ES256: the only signature algorithms accepted (no HS*, no none)
  --jwt-issuer ISS        ERRAND_JWT_ISSUER        none: the iss a token must have
  --jwt-audience AUD      ERRAND_JWT_AUDIENCE      none: the aud a token must name (a,b: any of them)
  --jwt-scopes-claim NAME ERRAND_JWT_SCOPES_CLAIM  scope: the claim holding Errand scopes (string or array; unknown ones ignored)
  --jwt-clock-tolerance S ERRAND_JWT_CLOCK_TOLERANCE 30: seconds of clock skew allowed on exp and nbf (at most 300)
  --jwt-jwks-timeout MS   ERRAND_JWT_JWKS_TIMEOUT  5000: longest wait for the JWKS URL (then 503 auth_unavailable)
  --jwt-max-size SIZE     ERRAND_JWT_MAX_SIZE      8kb: longer bearer tokens are refused unread
  --callback-hosts H[,H]  ERRAND_CALLBACK_HOSTS    none: tasks may name no callback URL; hosts they may (host, host:port, http://host:port for plain http; repeatable)
  --callback-allow-private ERRAND_CALLBACK_ALLOW_PRIVATE false: callback host names must resolve to public addresses (IP entries and localhost excepted)
  --callback-secret S     ERRAND_CALLBACK_SECRET   none (required with --callback-hosts): signs every callback (Errand-Signature, HMAC-SHA256); 32 random bytes
  --callback-max-attempts N ERRAND_CALLBACK_MAX_ATTEMPTS 12: attempts per callback, the first included
  --callback-base-delay MS ERRAND_CALLBACK_BASE_DELAY 5000: wait after the first failed attempt; doubled after each
  --callback-max-delay MS ERRAND_CALLBACK_MAX_DELAY 3600000: longest wait between attempts
  --callback-timeout MS   ERRAND_CALLBACK_TIMEOUT  10000: an attempt without an answer (its headers) within this fails
  --callback-poll-interval MS ERRAND_CALLBACK_POLL_INTERVAL 1000: how often a recorder looks for callbacks due
  --callback-concurrency N ERRAND_CALLBACK_CONCURRENCY 16: callback attempts in flight per recorder
  --metrics-port N        ERRAND_METRICS_PORT      none: serve GET /health, /ready and /metrics on this port too (worker and recorder: the only way to reach them; 0 picks a free port, logged)
  --metrics-host HOST     ERRAND_METRICS_HOST      127.0.0.1: the address --metrics-port binds (it asks for no credential)
  --drain-delay MS        ERRAND_DRAIN_DELAY       serve 5000, dev 0: after SIGTERM, /ready answers 503 this long before the server stops listening
  --ready-timeout MS      ERRAND_READY_TIMEOUT     2000: a readiness check counts PostgreSQL unreachable when it has not answered in this time
  --metrics-max-services N ERRAND_METRICS_MAX_SERVICES 200: service names kept as metric labels; later ones are counted as _other
  --metrics-stats-concurrency N ERRAND_METRICS_STATS_CONCURRENCY 4: services whose capacity figures a /metrics scrape reads at once (serve, dev)
  --metrics-stats-max-age MS ERRAND_METRICS_STATS_MAX_AGE 1000: scrapes within this of the last read of the capacity figures get that read's (0: each scrape reads)
`;

/** The result bounds workers and recorders enforce. */
export function resultLimits(config: Config): ResultLimits {
  return { maxFiles: config.maxResultFiles, maxFileBytes: config.maxResultFileBytes, maxResultBytes: config.maxResultBytes };
}
