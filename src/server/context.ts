/** What the routes share: the parts they call and the settings they obey. */
import type { Broker, EventPublisher } from '../broker/index.ts';
import type { FlakeIdGenerator } from '../core/index.ts';
import type { Callbacks, EventLog, ServiceActivity, TaskChanges, TaskList, TaskReads, TaskSubmission } from '../store/index.ts';
import type { Authenticator, AuthSettings } from './auth/authenticate.ts';
import type { TaskLinker } from './access.ts';
import type { ServiceGate } from './service-gate.ts';
import type { ServiceRegistry } from './registry.ts';
import type { EventHub } from './event-hub.ts';
import type { CallbackAllowlist, Links, OriginList } from '../core/index.ts';
import type { StreamCounter } from './stream-limits.ts';
import type { CapabilityKeyring, Grant } from '../core/index.ts';
import type { TlsFiles } from './tls-options.ts';
import type { StatsSettings } from './service-stats.ts';
import type { CacheOutcome, Metrics, Readiness } from '../monitor/index.ts';

export interface ServerSettings {
  /**
   * Public base URL for links (required by `errand serve`); when unset (`errand dev`, tests) links
   * use the server's own listening address. Never the request's Host header.
   */
  publicUrl?: string;
  /** Request body limit in bytes (Patavi: 5 MB). */
  bodyLimit: number;
  /** Deepest JSON nesting accepted in a task input. */
  maxJsonDepth: number;
  /** ttl used when a submission gives none; undefined keeps tasks until deleted. */
  defaultTtl?: string;
  /**
   * Patavi's single key, shorthand for `auth: { required: true, single: { key, name: 'patavi',
   * scopes: submit read cancel } }` when `auth` is not given.
   */
  apiKey?: string;
  /** Who may do what (issue 12); unset: open (every caller is `local`), unless `apiKey` is set. */
  auth?: AuthSettings;
  /** Capability links: the secrets that sign and verify tokens, and how long a new token lasts. */
  capabilities?: { keyring: CapabilityKeyring; lifetimeMs: number };
  allowUnknownServices: boolean;
  /** How long a service stays known after its last worker left (default one hour). */
  retainOfflineServicesMs?: number;
  /** Queue deadline (ISO 8601 duration) for tasks whose request and service give none; undefined: none. */
  defaultQueueTimeout?: string;
  /**
   * Which proxies' X-Forwarded-For to believe for the client address (`request.ip`, which the
   * stream caps count by): true (all), a hop count, or proxy addresses/CIDRs, as Fastify's
   * trustProxy. Off by default: a client could otherwise pose as any address. Links never
   * follow X-Forwarded-Host/-Proto whatever this says.
   */
  trustProxy?: boolean | number | string[];
  /** Bytes queued for one event-stream client beyond which it is too slow and disconnected (default 4 MiB). */
  maxStreamBufferBytes?: number;
  // Durations (issue 11, poison ttl)
  /** Longest ttl a submission may ask for (ISO 8601, default P10Y); a service's longer default is cut to it. */
  maxTtl?: string;
  /** Furthest a deadline may be from now (ISO 8601, default P10Y); a longer queueTimeout is cut to it. */
  maxDeadline?: string;
  // Stream caps (issue 11); defaults in stream-limits.ts.
  /** Open WebSockets (both routes) per client. */
  maxWebSocketsPerClient?: number;
  /** Open SSE streams per client. */
  maxEventStreamsPerClient?: number;
  /** Subscriptions per `WS /events` socket. */
  maxSubscriptionsPerSocket?: number;
  /** WebSockets and SSE streams together, server-wide. */
  maxStreams?: number;
  // HTTP edge (issue 11): limits on what a request may be and how long it may take to arrive.
  /** Task ids one GET /status may ask for (default 500). */
  maxStatusIds?: number;
  /** Largest `limit` of GET /tasks (default 500). */
  maxTasksPerPage?: number;
  /** Time for a whole request, headers and body, to arrive (ms; 0 turns it off). */
  requestTimeoutMs?: number;
  /** Time for a request's headers to arrive (ms). */
  headersTimeoutMs?: number;
  /** How long an idle keep-alive connection is kept between requests (ms). */
  keepAliveTimeoutMs?: number;
  /** A connection with no traffic either way for this long is closed (ms; 0 turns it off). WebSockets are exempt. */
  idleTimeoutMs?: number;
  /** Largest request head (request line and headers) in bytes. */
  maxHeaderSize?: number;
  /** Longest path part (a task id, a file name) in characters. */
  maxParamLength?: number;
  // Client certificates (issue 12): HTTPS served by Errand itself, and what a verified certificate may do.
  /** Serve HTTPS with these PEM contents (read at start by the CLI); with `clientCa`, client certificates are asked for. */
  tls?: TlsFiles;
  /** Scopes of every `cert:` principal (default: submit read cancel). */
  clientCertGrant?: Grant;
  // CORS and browsers (issue 12)
  /**
   * Origins whose pages may call the API with credentials, write and open WebSockets
   * (--cors-origin, normalised); `any`: other pages may read, without credentials. The server's
   * own origin (its public URL, else its listening address) is always allowed.
   */
  corsOrigins?: OriginList;
  /** `errand dev`: its addresses as http://127.0.0.1:PORT and http://localhost:PORT are its own too. */
  corsOwnAddresses?: boolean;
  /** Responses with task data differ by caller (auth is on): `Cache-Control: private`, never `public`. */
  privateResponses?: boolean;
  // Completion callbacks (issue 14)
  /** The hosts a submission's `callback` may name (--callback-hosts); unset or empty: callbacks are refused. */
  callbackHosts?: CallbackAllowlist;
  /** Capacity figures (issue 14): their sample and default target wait; defaults in service-stats.ts. */
  stats?: StatsSettings;
  /** The capacity figures on /metrics (issue 14): services read at once, and how long a refresh answers scrapes (ms). */
  metricsStats?: { concurrency: number; maxAgeMs: number };
}

/** Health, readiness and metrics as the routes see them (issue 14). */
export interface ServerMonitor {
  readiness: Readiness;
  /** The process's registry; without it (tests that pass none) there is no /metrics. */
  metrics?: Metrics;
  /** Counts a submission to a service that caches, by what the cache did. */
  cacheLookup?: (service: string, outcome: CacheOutcome) => void;
}

export interface RouteContext {
  store: TaskSubmission & TaskReads & TaskList & TaskChanges & EventLog & Pick<Callbacks, 'addCallback' | 'getCallbacks'> & ServiceActivity;
  broker: Broker;
  ids: FlakeIdGenerator;
  events: EventHub;
  publisher: EventPublisher;
  gate: ServiceGate;
  registry: ServiceRegistry;
  settings: ServerSettings;
  /** Who is asking: every route asks it before it reads or changes anything. */
  auth: Authenticator;
  /** The links responses carry: from the public URL, else the listening address (never the request). */
  links(): Links;
  /** Those links as a given caller is to see them, with a capability token when one applies. */
  linker: TaskLinker;
  /** Open streams, counted against the per-client and server-wide caps. */
  streams: StreamCounter;
  monitor: ServerMonitor;
}
