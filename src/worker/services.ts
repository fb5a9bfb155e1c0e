/**
 * Service folders: each subfolder of a services directory holding a `service.json` manifest is
 * one service. A broken manifest, a script that does not load or a missing program is reported
 * with its file and field; the other services still start.
 */
import { access, constants, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { readManifest, riskyPatterns, serviceEnvironment } from '../core/index.ts';
import type { Manifest, ManifestProblem } from '../core/index.ts';
import type { Executor, ServiceDefinition } from './executor.ts';
import { createCommandExecutor } from './executors/command.ts';
import { startNodePool } from './executors/node.ts';
import { createRExecutor, RLoadError } from './executors/r/index.ts';
import { workerEnvironment } from './environment.ts';

export type { ManifestProblem } from '../core/index.ts';

export interface LoadedServices { services: ServiceDefinition[]; problems: ManifestProblem[] }

export interface LoadOptions {
  defaultConcurrency: number;
  logger: Logger;
  /** A pooled R or Node process beyond a service's first, idle this long, leaves (DEFAULT_IDLE_TIMEOUT_MS by default). */
  executorIdleTimeoutMs?: number;
  /** The R front end to run (`Rscript` on the PATH by default). */
  rscript?: string;
  /** Where services' variables come from (the worker's environment by default); see core/service-env.ts. */
  environment?: Readonly<Record<string, string | undefined>>;
  /** Errand's secret values (secretValues(): API key, connection URLs): never passed to a service. */
  secrets?: readonly string[];
}

/** Thrown by a runtime that cannot serve the manifest; `field` names the manifest field at fault. */
class ServiceLoadError extends Error {
  constructor(message: string, readonly field: string) {
    super(message);
  }
}

/** The service's environment; a declared variable withheld for holding a secret is logged. */
function environmentFor(manifest: Manifest, options: LoadOptions): Record<string, string> {
  const { env, withheld } = serviceEnvironment(options.environment ?? workerEnvironment(), manifest.env, manifest.runtime, options.secrets);
  for (const name of withheld) {
    options.logger.warn({ service: manifest.name, variable: name }, `env.${name} is not passed to ${manifest.name}: its value holds one of Errand's own secrets`);
  }
  return env;
}

/** Patterns a backtracking engine would be slow on: Errand runs them in linear time, clients may not. */
function warnRiskyPatterns(manifest: Manifest, file: string, logger: Logger): void {
  if (!manifest.inputSchema) return;
  for (const { field, pattern } of riskyPatterns(manifest.inputSchema)) {
    logger.warn(
      { service: manifest.name, file, field: `inputSchema.${field}`, pattern },
      `inputSchema.${field} of ${manifest.name} can take superlinear time in a backtracking regular expression engine (ReDoS): Errand validates in linear time, but clients and the service's own code may not; consider an unambiguous pattern`,
    );
  }
}

async function createExecutor(manifest: Manifest, folder: string, concurrency: number, options: LoadOptions): Promise<Executor> {
  const entryPath = join(folder, manifest.entry);
  const env = environmentFor(manifest, options);
  if (manifest.runtime !== 'command' || manifest.command[0] === `./${manifest.entry}`) {
    if (!(await stat(entryPath).catch(() => undefined))?.isFile()) throw new ServiceLoadError(`${manifest.entry} does not exist in ${folder}`, 'entry');
  }
  switch (manifest.runtime) {
    case 'node':
      return startNodePool({ entryPath, cwd: folder, service: manifest.name, maxProcesses: concurrency, idleTimeoutMs: options.executorIdleTimeoutMs, logger: options.logger, env }).catch((err: Error) => { throw new ServiceLoadError(err.message, 'entry'); });
    case 'command': {
      const program = manifest.command[0]!;
      if (program.startsWith('./')) {
        if (!(await stat(join(folder, program)).catch(() => undefined))?.isFile()) throw new ServiceLoadError(`${program} does not exist in ${folder}`, 'command');
        await access(join(folder, program), constants.X_OK).catch(() => { throw new ServiceLoadError(`${program} is not executable (chmod +x)`, 'command'); });
      }
      return createCommandExecutor({ manifest, folder, logger: options.logger, env });
    }
    case 'r': {
      const executor = createRExecutor({ manifest, folder, maxProcesses: concurrency, idleTimeoutMs: options.executorIdleTimeoutMs, rscript: options.rscript ?? 'Rscript', logger: options.logger, env });
      try {
        await executor.warm();
      } catch (err) {
        await executor.close();
        if (err instanceof RLoadError) throw new ServiceLoadError(err.message, err.field);
        throw err;
      }
      return executor;
    }
  }
}

async function readDocs(manifest: Manifest, folder: string): Promise<string | null> {
  const name = manifest.docs ?? 'README.md';
  const text = await readFile(join(folder, name), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (manifest.docs && err.code === 'ENOENT') throw new ServiceLoadError(`${name} does not exist in ${folder}`, 'docs');
    return null;
  });
  return text === null ? null : text.slice(0, 64 * 1024);
}

/** A folder's manifest, or its problem; undefined when the folder holds no service. */
async function readFolder(dir: string, folder: string): Promise<{ path: string; file: string; manifest: Manifest } | ManifestProblem | undefined> {
  const path = join(dir, folder);
  const file = join(path, 'service.json');
  if (!(await stat(file).catch(() => undefined))?.isFile()) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    return { file, message: `not valid JSON: ${(err as Error).message}` };
  }
  const manifest = readManifest(raw, folder, file);
  return 'message' in manifest ? manifest : { path, file, manifest };
}

async function startService(path: string, file: string, manifest: Manifest, options: LoadOptions): Promise<ServiceDefinition | ManifestProblem> {
  const concurrency = manifest.concurrency ?? options.defaultConcurrency;
  warnRiskyPatterns(manifest, file, options.logger);
  try {
    const docs = await readDocs(manifest, path);
    const executor = await createExecutor(manifest, path, concurrency, options);
    return { manifest, name: manifest.name, concurrency, executor, docs };
  } catch (err) {
    const field = err instanceof ServiceLoadError ? err.field : 'entry';
    return { file, field, message: `${field}: ${(err as Error).message}` };
  }
}

/** Loads every service folder in `dir`, R ones warmed up in parallel. */
export async function loadServiceDir(dir: string, options: LoadOptions): Promise<LoadedServices> {
  const folders = (await readdir(dir)).sort();
  const read = await Promise.all(folders.map((folder) => readFolder(dir, folder)));
  const problems: ManifestProblem[] = [];
  const starting: Promise<ServiceDefinition | ManifestProblem>[] = [];
  // Two folders claiming one name: the first in folder order keeps it, whatever loads faster.
  const taken = new Set<string>();
  for (const entry of read) {
    if (!entry) continue;
    if ('message' in entry) {
      problems.push(entry);
    } else if (taken.has(entry.manifest.name)) {
      problems.push({ file: entry.file, field: 'name', message: `name: another service is already named ${JSON.stringify(entry.manifest.name)}` });
    } else {
      taken.add(entry.manifest.name);
      starting.push(startService(entry.path, entry.file, entry.manifest, options));
    }
  }
  const services: ServiceDefinition[] = [];
  for (const result of await Promise.all(starting)) {
    if ('executor' in result) services.push(result);
    else problems.push(result);
  }
  return { services, problems };
}
