/**
 * Readiness (issue 14): whether this process should be given work now. Alive is simpler (the
 * process answers at all: /health); ready means the role has started and is not stopping,
 * PostgreSQL answers and its schema is this code's, RabbitMQ is connected, and every consumer
 * the process opened consumes. A role checks only what it uses (a worker has no database).
 *
 * The database is asked on each check (two small reads, bounded by `timeoutMs`); checks that
 * overlap share one run, so a flood of probes is one query at a time. The broker's state is kept
 * as its client reports it, so reading it costs nothing.
 */
import type { BrokerHealth } from '../broker/index.ts';
import { ErrandError } from '../core/index.ts';
import type { SchemaHealth } from '../store/index.ts';

/** The checks, in the order a failure is reported. */
export const CHECKS = ['lifecycle', 'postgres', 'schema', 'rabbitmq', 'consumers'] as const;
export type CheckName = (typeof CHECKS)[number];

export interface CheckResult { ok: boolean; message?: string }

export interface ReadinessReport {
  ready: boolean;
  /** The checks this role makes; the first failing one (in CHECKS order) names the answer's `field`. */
  checks: Partial<Record<CheckName, CheckResult>>;
}

export type Lifecycle = 'starting' | 'running' | 'stopping';

export interface Readiness {
  readonly lifecycle: Lifecycle;
  /** What to check, once the role has opened it: a store (its schema), a broker (its connection and consumers). */
  use(parts: { store?: SchemaHealth; broker?: { health(): BrokerHealth } }): void;
  /** The role is up: everything it consumes is set up. Not ready before. */
  started(): void;
  /** The process is stopping: not ready from now on, whatever else holds (`errand serve` then drains). */
  stopping(): void;
  check(): Promise<ReadinessReport>;
}

/** Longest list of consumers a failing check names. */
const MAX_NAMED = 10;

export function createReadiness(options: { timeoutMs: number; role: string }): Readiness {
  let store: SchemaHealth | undefined;
  let broker: { health(): BrokerHealth } | undefined;
  let lifecycle: Lifecycle = 'starting';
  let running: Promise<ReadinessReport> | undefined;

  async function database(checks: ReadinessReport['checks']): Promise<void> {
    if (!store) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`PostgreSQL did not answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    });
    try {
      const status = await Promise.race([store.schemaStatus(), late]);
      checks.postgres = { ok: true };
      if (status.pending.length > 0) {
        checks.schema = { ok: false, message: `the database lacks ${status.pending.length} migration(s) this version needs: ${status.pending.join(', ')} (run errand migrate)` };
      } else {
        checks.schema = status.newer.length > 0
          ? { ok: true, message: `the database also has migrations this version does not know (${status.newer.join(', ')}): a newer Errand migrated it` }
          : { ok: true };
      }
    } catch (err) {
      checks.postgres = { ok: false, message: (err as Error).message };
      checks.schema = { ok: false, message: 'not checked: PostgreSQL did not answer' };
    } finally {
      clearTimeout(timer);
    }
  }

  function messaging(checks: ReadinessReport['checks']): void {
    if (!broker) return;
    const health = broker.health();
    checks.rabbitmq = health.connected ? { ok: true } : { ok: false, message: health.problem ?? 'not connected' };
    const idle = health.consumers.filter((c) => !c.ready).map((c) => c.name);
    checks.consumers = idle.length === 0
      ? { ok: true, message: `${health.consumers.length} consuming` }
      : { ok: false, message: `not consuming: ${idle.slice(0, MAX_NAMED).join(', ')}${idle.length > MAX_NAMED ? ` and ${idle.length - MAX_NAMED} more` : ''}` };
  }

  async function run(): Promise<ReadinessReport> {
    const checks: ReadinessReport['checks'] = {};
    if (lifecycle === 'stopping') {
      // Whatever the engines say, this process takes no new work; they may be closing already.
      checks.lifecycle = { ok: false, message: `shutting down: this ${options.role} takes no new work` };
    } else {
      checks.lifecycle = lifecycle === 'running' ? { ok: true } : { ok: false, message: `starting: this ${options.role} is not up yet` };
      messaging(checks);
      await database(checks);
    }
    return { ready: Object.values(checks).every((c) => c.ok), checks: ordered(checks) };
  }

  return {
    get lifecycle() { return lifecycle; },
    use(parts) {
      if (parts.store) store = parts.store;
      if (parts.broker) broker = parts.broker;
    },
    started() { if (lifecycle === 'starting') lifecycle = 'running'; },
    stopping() { lifecycle = 'stopping'; },
    check() {
      running ??= run().finally(() => { running = undefined; });
      return running;
    },
  };
}

function ordered(checks: ReadinessReport['checks']): ReadinessReport['checks'] {
  return Object.fromEntries(CHECKS.filter((name) => checks[name]).map((name) => [name, checks[name]]));
}

/** The answer to GET /ready: 200 with the checks, or 503 in Errand's error shape naming the first failing check (and every failing one in the message). */
export function readyAnswer(report: ReadinessReport): { status: number; body: object } {
  if (report.ready) return { status: 200, body: { status: 'ready', checks: report.checks } };
  const failing = CHECKS.filter((name) => report.checks[name]?.ok === false);
  const message = failing.map((name) => `${name}: ${report.checks[name]!.message ?? 'failed'}`).join('; ');
  return { status: 503, body: { ...new ErrandError('not_ready', `not ready: ${message}`, failing[0]).toJSON(), checks: report.checks } };
}

/** The answer to GET /health: the process runs its event loop (it answered). */
export const HEALTH_BODY = { status: 'ok' } as const;
