/**
 * Starts the backends the suites run against: PostgreSQL + RabbitMQ (a fresh database and a fresh
 * vhost per suite, dropped afterwards) and PGlite + the in-process broker. The same suite runs on
 * both. Outside CI a suite whose engines are missing is skipped with one line saying why; with
 * CI=true it fails instead.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';
import { describe } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import type { Logger } from 'pino';
import { connectAmqp, createMemoryBroker } from '../../src/broker/index.ts';
import type { Broker } from '../../src/broker/index.ts';
import { connectPostgres, createSqlStore, ensureDatabase, migrate, openEmbedded } from '../../src/store/index.ts';
import type { SqlClient, Store } from '../../src/store/index.ts';

const run = promisify(execFile);

export const PG_ADMIN_URL = process.env.ERRAND_TEST_DATABASE_URL ?? 'postgres://127.0.0.1:5432/postgres';
export const AMQP_BASE_URL = process.env.ERRAND_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

export const testLogger: Logger = pino({ level: process.env.ERRAND_TEST_LOG ?? 'silent' });

export interface Backend {
  readonly kind: 'real' | 'embedded';
  readonly store: Store;
  readonly broker: Broker;
  readonly db: SqlClient;
  /** A second, independent broker connection (another process's view). Same broker in memory. */
  connectBroker(): Promise<Broker>;
  /** Set for the real backend: what a child process needs to reach the same database and vhost. */
  readonly urls?: { database: string; amqp: string };
  close(): Promise<void>;
}

export interface BackendKind {
  name: string;
  /** Why this backend cannot run here, or undefined when it can. */
  unavailable(): Promise<string | undefined>;
  create(): Promise<Backend>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, timeout: 1000 });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
  });
}

export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `errand_t_${randomBytes(5).toString('hex')}`;
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  await ensureDatabase(url.toString());
  return {
    url: url.toString(),
    async drop() {
      const admin = new pg.Client({ connectionString: withUser(PG_ADMIN_URL) });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => admin.end());
    },
  };
}

export async function createTestVhost(): Promise<{ url: string; drop(): Promise<void> }> {
  const vhost = `errand_t_${randomBytes(5).toString('hex')}`;
  await run('rabbitmqctl', ['-q', 'add_vhost', vhost]);
  await run('rabbitmqctl', ['-q', 'set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*']);
  return {
    url: `${AMQP_BASE_URL}/${vhost}`,
    async drop() {
      await run('rabbitmqctl', ['-q', 'delete_vhost', vhost]).catch(() => undefined);
    },
  };
}

/** Asked once per test file: each rabbitmqctl call starts an Erlang VM (about a second of CPU). */
let realUnavailable: Promise<string | undefined> | undefined;

async function checkRealBackend(): Promise<string | undefined> {
  if (!(await portOpen(5432))) return 'PostgreSQL does not answer on 127.0.0.1:5432';
  if (!(await portOpen(5672))) return 'RabbitMQ does not answer on 127.0.0.1:5672';
  try {
    await run('rabbitmqctl', ['-q', 'status']);
  } catch {
    return 'rabbitmqctl is not usable (needed to create a vhost per suite)';
  }
  return undefined;
}

export const realBackend: BackendKind = {
  name: 'PostgreSQL + RabbitMQ',
  unavailable() {
    realUnavailable ??= checkRealBackend();
    return realUnavailable;
  },
  async create() {
    const [database, vhost] = await Promise.all([createTestDatabase(), createTestVhost()]);
    // A burst of hundreds of transactions waits its turn for the pool's ten connections: on a busy
    // machine that wait may pass the product's 5 s, which bounds an outage, not a test's load.
    const db = await connectPostgres({ url: database.url, poolSize: 10, connectTimeoutMs: 60_000 });
    await migrate(db);
    const store = createSqlStore(db);
    const brokers: Broker[] = [];
    const connectBroker = async (): Promise<Broker> => {
      const broker = await connectAmqp({ url: vhost.url, logger: testLogger, name: 'errand-test' });
      brokers.push(broker);
      return broker;
    };
    const broker = await connectBroker();
    return {
      kind: 'real', store, broker, db, connectBroker,
      urls: { database: database.url, amqp: vhost.url },
      async close() {
        await Promise.allSettled(brokers.map((b) => b.close()));
        await store.close();
        await Promise.all([database.drop(), vhost.drop()]);
      },
    };
  },
};

export const embeddedBackend: BackendKind = {
  name: 'PGlite + in-process broker',
  async unavailable() {
    return undefined;
  },
  async create() {
    const db = await openEmbedded();
    await migrate(db);
    const store = createSqlStore(db);
    const broker = createMemoryBroker();
    return {
      kind: 'embedded', store, broker, db,
      connectBroker: async () => broker,
      async close() {
        await broker.close();
        await store.close();
      },
    };
  },
};

/** Tasks in the database: what a rejected request must not change. */
export async function countTasks(backend: Backend): Promise<number> {
  return (await backend.db.query<{ n: number }>('SELECT count(*)::int AS n FROM task')).rows[0]!.n;
}

export const BACKENDS: BackendKind[] = [realBackend, embeddedBackend];

/**
 * Declares `body` once per backend. A backend that cannot run skips its suite with the reason,
 * except in CI, where the suite runs and fails on it.
 */
export async function describeEachBackend(title: string, body: (kind: BackendKind) => void, kinds = BACKENDS): Promise<void> {
  for (const kind of kinds) {
    const reason = await kind.unavailable();
    const skip = reason !== undefined && process.env.CI !== 'true' ? `${reason}: start it to run these tests` : false;
    describe(`${title} [${kind.name}]`, { skip }, () => {
      if (reason !== undefined && process.env.CI === 'true') {
        throw new Error(`${kind.name} is required in CI: ${reason}`);
      }
      body(kind);
    });
  }
}

function withUser(url: string): string {
  const parsed = new URL(url);
  if (!parsed.username) parsed.username = process.env.PGUSER ?? userInfo().username;
  return parsed.toString();
}
