/**
 * Where a service's variables are drawn from when the caller gives none: the worker's own
 * environment, filtered by core/service-env.ts. Entry points (errand worker, errand dev) pass the
 * secrets from their config so that a variable holding one is withheld whatever its name;
 * executors built directly (tests, embedders) get the same allowlist from here.
 */
import { serviceEnvironment } from '../core/index.ts';
import type { DeclaredEnvironment } from '../core/index.ts';

/** The worker's environment, read here only (the CLI's config reads the ERRAND_* settings). */
export function workerEnvironment(): Readonly<Record<string, string | undefined>> {
  return process.env;
}

/** The allowlisted environment for a runtime, with what a manifest declares. */
export function defaultServiceEnv(runtime: string, declared: DeclaredEnvironment = {}): Record<string, string> {
  return serviceEnvironment(workerEnvironment(), declared, runtime).env;
}
