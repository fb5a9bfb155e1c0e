/**
 * Service manifests (`service.json`): what a service folder declares about itself. Checked with
 * a JSON Schema of their own, so every problem names its field; the service's input schema must
 * compile and its example must satisfy it. Pure: reading the folder is the worker's job.
 */
import { Ajv } from 'ajv';
import type { ErrorObject } from 'ajv';
import { checkDuration, DURATION_CEILING, durationToMillis, parseIsoDuration } from './duration.ts';
import { serviceNameProblem } from './service-name.ts';
import { createInputValidator } from './input-schema.ts';
import { CONNECTION_VARIABLE, RESERVED_VARIABLE } from './service-env.ts';
import type { DeclaredEnvironment } from './service-env.ts';

export const Runtimes = ['r', 'command', 'node'] as const;
export type Runtime = (typeof Runtimes)[number];

export const DEFAULT_CACHE_LIFETIME = 'PT24H';

/** The longest timer Node can set: 2^31 - 1 ms, about 24.8 days. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export interface Manifest {
  name: string;
  version: string;
  description: string;
  runtime: Runtime;
  /** The script or module, relative to the folder. */
  entry: string;
  /** R: the function called with `params`; defaults to the service's name (Patavi's rule). */
  function: string;
  /** command: the program and its arguments; defaults to running the entry itself. */
  command: string[];
  inputSchema: Record<string, unknown> | null;
  example: { value: unknown } | null;
  /** Longest a task may run, in ms; null for no limit. */
  timeoutMs: number | null;
  /** The manifest's `timeout` as written (ISO 8601), for the registry. */
  timeout: string | null;
  concurrency: number | null;
  /** Default ttl for this service's tasks (ISO 8601) when a submission gives none. */
  ttl: string | null;
  /** Longest a task may wait in the queue (ISO 8601) when a submission gives no deadline. */
  queueTimeout: string | null;
  /**
   * The result cache: `shared` lets one principal's finished result answer another's submission
   * (issue 12); off, each owner's entries are its own.
   */
  cache: { enabled: boolean; lifetime: string; shared: boolean };
  /** A Markdown file in the folder describing the service, served by the registry. */
  docs: string | null;
  /**
   * Variables the service's processes get besides the allowlisted ones (service-env.ts): a fixed
   * value, or `true` for the worker's own value of that name.
   */
  env: DeclaredEnvironment;
}

export interface ManifestProblem { file: string; field?: string; message: string }

const DURATION_PATTERN = '^P';

/** The manifest's own schema. Unknown fields are refused so that a typo ("timout") is caught. */
const MANIFEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    name: { type: 'string' },
    version: { type: 'string', minLength: 1, maxLength: 64 },
    description: { type: 'string', maxLength: 2000 },
    runtime: { enum: [...Runtimes] },
    entry: { type: 'string', minLength: 1 },
    function: { type: 'string', pattern: '^[A-Za-z.][A-Za-z0-9._]*$' },
    command: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
    inputSchema: { type: ['object', 'boolean'] },
    example: {},
    timeout: { type: 'string', pattern: DURATION_PATTERN },
    concurrency: { type: 'integer', minimum: 1, maximum: 1024 },
    ttl: { type: 'string', pattern: DURATION_PATTERN },
    queueTimeout: { type: 'string', pattern: DURATION_PATTERN },
    cache: {
      anyOf: [
        { type: 'boolean' },
        {
          type: 'object',
          additionalProperties: false,
          properties: { enabled: { type: 'boolean' }, lifetime: { type: 'string', pattern: DURATION_PATTERN }, shared: { type: 'boolean' } },
        },
      ],
    },
    docs: { type: 'string', minLength: 1 },
    env: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]*$', maxLength: 256 },
      additionalProperties: { anyOf: [{ type: 'string', maxLength: 32768 }, { const: true }] },
    },
  },
} as const;

const validateManifest = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true }).compile(MANIFEST_SCHEMA);

/** `/cache/lifetime` → `cache.lifetime`; a missing or extra property names itself. */
function fieldOf(error: ErrorObject): string {
  const path = error.instancePath.split('/').slice(1);
  const params = error.params as { missingProperty?: string; additionalProperty?: string };
  const extra = params.missingProperty ?? params.additionalProperty;
  if (extra !== undefined) path.push(extra);
  return path.join('.');
}

function inferRuntime(entry: string | undefined): Runtime {
  if (entry && /\.r$/i.test(entry)) return 'r';
  if (entry && /\.(ts|js|mjs)$/.test(entry)) return 'node';
  return entry ? 'command' : 'node';
}

const DEFAULT_ENTRY: Record<Runtime, string> = { r: 'service.R', node: 'index.ts', command: 'run' };

/** Reads a parsed `service.json`: the manifest with its defaults filled in, or the first problem. */
export function readManifest(raw: unknown, folderName: string, file: string): Manifest | ManifestProblem {
  if (!validateManifest(raw)) {
    // Under anyOf (cache: boolean or object) the deepest error is the one that explains. Depth is
    // the field's, not the instance path's: an unknown field inside `cache` is reported at /cache.
    const depth = (e: ErrorObject): number => fieldOf(e).split('.').filter(Boolean).length;
    const error = validateManifest.errors!.reduce((best, e) => (depth(e) > depth(best) ? e : best));
    const field = fieldOf(error);
    const what = error.keyword === 'additionalProperties' ? 'is not a manifest field' : error.message ?? 'is invalid';
    return { file, ...(field ? { field } : {}), message: `${field || 'manifest'} ${what}` };
  }
  const m = raw as Record<string, unknown> & { cache?: boolean | { enabled?: boolean; lifetime?: string; shared?: boolean } };
  const problem = (field: string, message: string): ManifestProblem => ({ file, field, message: `${field}: ${message}` });

  const name = (m.name as string | undefined) ?? folderName;
  const nameProblem = serviceNameProblem(name);
  if (nameProblem) return problem('name', nameProblem);

  const runtime = (m.runtime as Runtime | undefined) ?? inferRuntime(m.entry as string | undefined);
  const entry = (m.entry as string | undefined) ?? DEFAULT_ENTRY[runtime];
  if (entry.includes('..') || entry.startsWith('/')) return problem('entry', 'must name a file inside the service folder');
  const docs = (m.docs as string | undefined) ?? null;
  if (docs !== null && (docs.includes('..') || docs.startsWith('/'))) return problem('docs', 'must name a file inside the service folder');

  const durations: Record<string, string | undefined> = {
    timeout: m.timeout as string | undefined,
    ttl: m.ttl as string | undefined,
    queueTimeout: m.queueTimeout as string | undefined,
    'cache.lifetime': typeof m.cache === 'object' ? m.cache.lifetime : undefined,
  };
  for (const [field, text] of Object.entries(durations)) {
    if (text === undefined) continue;
    const checked = checkDuration(text);
    if (!checked.ok && checked.reason === 'syntax') return problem(field, `${JSON.stringify(text)} is not an ISO 8601 duration such as PT10M`);
    // Servers refuse longer ones from announcements: a service must not carry a duration that no write can use.
    if (!checked.ok) return problem(field, `${JSON.stringify(text)} is longer than ${DURATION_CEILING}, the most any duration may be`);
  }
  const timeoutMs = durations.timeout === undefined ? null : durationToMillis(parseIsoDuration(durations.timeout)!);
  if (timeoutMs !== null && timeoutMs <= 0) return problem('timeout', 'must be longer than zero');
  // A timer cannot wait longer (Node would fire it at once); a task that may run longer has no timeout.
  if (timeoutMs !== null && timeoutMs > MAX_TIMEOUT_MS) return problem('timeout', `must be at most P24D (${MAX_TIMEOUT_MS} ms); leave it out for no timeout`);

  let inputSchema: Record<string, unknown> | null = null;
  if (m.inputSchema !== undefined) {
    inputSchema = m.inputSchema === true ? {} : m.inputSchema === false ? { not: {} } : (m.inputSchema as Record<string, unknown>);
    const compiled = createInputValidator(inputSchema);
    if ('problem' in compiled) return problem('inputSchema', compiled.problem);
    if ('example' in m) {
      const failure = compiled.validate(m.example);
      if (failure) return problem('example', `does not match inputSchema: ${failure.message}`);
    }
  }

  const env = (m.env as DeclaredEnvironment | undefined) ?? {};
  for (const [variable, value] of Object.entries(env)) {
    if (RESERVED_VARIABLE.test(variable)) return problem(`env.${variable}`, 'ERRAND_* variables are Errand\'s own and cannot be set or passed to a service');
    if (value === true && CONNECTION_VARIABLE.test(variable)) {
      return problem(`env.${variable}`, 'a worker\'s database and broker settings are never passed to a service: give the service its own value ("NAME": "value") instead');
    }
  }

  const cache: { enabled?: boolean; lifetime?: string; shared?: boolean } = typeof m.cache === 'object' ? m.cache : { enabled: m.cache === true };
  return {
    name,
    version: (m.version as string | undefined) ?? '0.0.0',
    description: (m.description as string | undefined) ?? '',
    runtime,
    entry,
    function: (m.function as string | undefined) ?? name,
    command: (m.command as string[] | undefined) ?? [`./${entry}`],
    inputSchema,
    example: 'example' in m ? { value: m.example } : null,
    timeoutMs,
    timeout: durations.timeout ?? null,
    concurrency: (m.concurrency as number | undefined) ?? null,
    ttl: (m.ttl as string | undefined) ?? null,
    queueTimeout: durations.queueTimeout ?? null,
    cache: { enabled: cache.enabled ?? true, lifetime: cache.lifetime ?? DEFAULT_CACHE_LIFETIME, shared: cache.shared === true },
    docs,
    env,
  };
}

/** A manifest for a service defined in code (tests, embedders): defaults plus the given fields. */
export function inlineManifest(name: string, fields: Partial<Manifest> = {}): Manifest {
  return {
    name, version: '0.0.0', description: '', runtime: 'node', entry: '', function: name, command: [],
    inputSchema: null, example: null, timeoutMs: null, timeout: null, concurrency: null, ttl: null, queueTimeout: null,
    cache: { enabled: false, lifetime: DEFAULT_CACHE_LIFETIME, shared: false }, docs: null, env: {},
    ...fields,
  };
}
