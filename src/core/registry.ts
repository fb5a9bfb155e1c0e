/**
 * The service registry's vocabulary. Workers announce the services they run on the `services`
 * channel (again every interval while alive, and a goodbye when they stop); servers keep what
 * they hear and forget a worker not heard from for three intervals. A server that starts asks
 * with `discover`, and every worker answers at once. Pure: building, reading and merging.
 */
import { boundedDuration } from './duration.ts';
import { DEFAULT_CACHE_LIFETIME } from './manifest.ts';
import type { Manifest } from './manifest.ts';

/** What a worker says about one service it runs. */
export interface AnnouncedService {
  name: string;
  version: string;
  description: string;
  runtime: Manifest['runtime'];
  inputSchema: Record<string, unknown> | null;
  example: { value: unknown } | null;
  timeout: string | null;
  ttl: string | null;
  queueTimeout: string | null;
  cache: Manifest['cache'];
  docs: string | null;
  /** Tasks this worker runs at once for the service, and how many it runs now. */
  concurrency: number;
  busy: number;
  /** Tasks of the service this worker has finished since it started; null from workers that do not say (before issue 14). */
  done: number | null;
}

export interface WorkerInfo {
  id: string; host: string; pid: number; startedAt: string; intervalMs: number;
  /** The Errand version the worker runs; null from workers that do not say (before issue 14, or not Errand's). */
  errandVersion: string | null;
}

export type RegistryMessage =
  | { kind: 'announce'; worker: WorkerInfo; services: AnnouncedService[] }
  | { kind: 'goodbye'; worker: { id: string } }
  | { kind: 'discover' }
  /** A janitor's own echo: hearing it back proves the janitor's subscription is live. Others ignore it. */
  | { kind: 'probe'; from: string };

/** Longest Errand version an announcement may carry (a semver with its build is far shorter). */
const MAX_VERSION_LENGTH = 64;

/** Docs travel in every announcement, so they are bounded. */
export const MAX_ANNOUNCED_DOCS = 16 * 1024;

export function announcedService(manifest: Manifest, concurrency: number, busy: number, docs: string | null, done: number): AnnouncedService {
  return {
    name: manifest.name,
    version: manifest.version,
    description: manifest.description,
    runtime: manifest.runtime,
    inputSchema: manifest.inputSchema,
    example: manifest.example,
    timeout: manifest.timeout,
    ttl: manifest.ttl,
    queueTimeout: manifest.queueTimeout,
    cache: manifest.cache,
    docs: docs === null ? null : docs.slice(0, MAX_ANNOUNCED_DOCS),
    concurrency,
    busy,
    done,
  };
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A duration field of an announcement, when it is one within the ceiling: it reaches SQL as an
 * interval added to now(), so an absurd one would make every write for the service fail.
 */
const durationOr = <T>(value: unknown, otherwise: T): string | T => boundedDuration(value) ?? otherwise;

/** A whole number in range from another process's message, or the fallback. */
const count = <T>(value: unknown, fallback: T, min: number, max: number): number | T =>
  (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max ? value : fallback);

function readService(value: unknown): AnnouncedService | undefined {
  if (!isObject(value) || typeof value.name !== 'string' || typeof value.version !== 'string') return undefined;
  const cache = isObject(value.cache) ? value.cache : {};
  return {
    name: value.name,
    version: value.version,
    description: typeof value.description === 'string' ? value.description : '',
    runtime: value.runtime === 'r' || value.runtime === 'command' ? value.runtime : 'node',
    inputSchema: isObject(value.inputSchema) ? value.inputSchema : null,
    example: isObject(value.example) && 'value' in value.example ? { value: value.example.value } : null,
    timeout: durationOr(value.timeout, null),
    ttl: durationOr(value.ttl, null),
    queueTimeout: durationOr(value.queueTimeout, null),
    cache: { enabled: cache.enabled === true, lifetime: durationOr(cache.lifetime, DEFAULT_CACHE_LIFETIME), shared: cache.shared === true },
    docs: typeof value.docs === 'string' ? value.docs.slice(0, MAX_ANNOUNCED_DOCS) : null,
    concurrency: count(value.concurrency, 1, 1, 1_000_000),
    busy: count(value.busy, 0, 0, 1_000_000),
    done: count(value.done, null, 0, Number.MAX_SAFE_INTEGER),
  };
}

/** Reads a registry message; anything malformed is undefined (and ignored), never thrown. */
export function parseRegistryMessage(body: Buffer): RegistryMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isObject(value)) return undefined;
  if (value.kind === 'discover') return { kind: 'discover' };
  if (value.kind === 'probe') return typeof value.from === 'string' ? { kind: 'probe', from: value.from } : undefined;
  const worker = value.worker;
  if (!isObject(worker) || typeof worker.id !== 'string') return undefined;
  if (value.kind === 'goodbye') return { kind: 'goodbye', worker: { id: worker.id } };
  if (value.kind !== 'announce' || !Array.isArray(value.services)) return undefined;
  const info: WorkerInfo = {
    id: worker.id,
    host: typeof worker.host === 'string' ? worker.host : '',
    pid: typeof worker.pid === 'number' ? worker.pid : 0,
    startedAt: typeof worker.startedAt === 'string' ? worker.startedAt : '',
    // Bounded: an announcement of 1e400 (Infinity) would keep a worker known forever.
    intervalMs: count(worker.intervalMs, 5000, 1, 24 * 3_600_000),
    // Bounded like a manifest's version: it is shown, and compared, never run.
    errandVersion: typeof worker.errandVersion === 'string' && worker.errandVersion.length <= MAX_VERSION_LENGTH ? worker.errandVersion : null,
  };
  return { kind: 'announce', worker: info, services: value.services.map(readService).filter((s): s is AnnouncedService => s !== undefined) };
}

/** One worker as the registry last heard it. */
export interface WorkerEntry { info: WorkerInfo; services: AnnouncedService[]; lastSeen: number }

/** One service as the registry shows it: the definition of its newest version, and who runs it. */
export interface ServiceView {
  definition: AnnouncedService;
  /** Every version workers run now, newest definition first. */
  versions: string[];
  workers: { id: string; host: string; version: string; concurrency: number; busy: number; lastSeen: number }[];
  /** When a worker last announced it (ms since epoch). */
  lastSeen: number;
}

// One collator for every comparison: localeCompare with options builds a new one per call.
const versionCollator = new Intl.Collator('en', { numeric: true });
function compareVersions(a: string, b: string): number {
  return versionCollator.compare(a, b);
}

/** Merges what the workers announced into one view per service, sorted by name. */
export function serviceViews(workers: Iterable<WorkerEntry>): ServiceView[] {
  const byName = new Map<string, ServiceView>();
  for (const worker of workers) {
    for (const service of worker.services) {
      let view = byName.get(service.name);
      if (!view) byName.set(service.name, (view = { definition: service, versions: [], workers: [], lastSeen: 0 }));
      if (compareVersions(service.version, view.definition.version) > 0) view.definition = service;
      if (!view.versions.includes(service.version)) view.versions.push(service.version);
      view.workers.push({ id: worker.info.id, host: worker.info.host, version: service.version, concurrency: service.concurrency, busy: service.busy, lastSeen: worker.lastSeen });
      view.lastSeen = Math.max(view.lastSeen, worker.lastSeen);
    }
  }
  for (const view of byName.values()) view.versions.sort((a, b) => compareVersions(b, a));
  return [...byName.values()].sort((a, b) => a.definition.name.localeCompare(b.definition.name));
}
