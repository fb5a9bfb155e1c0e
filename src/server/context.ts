/** What the routes share: the parts they call and the settings they obey. */
import type { Broker, EventPublisher } from '../broker/index.ts';
import type { FlakeIdGenerator } from '../core/index.ts';
import type { Store } from '../store/index.ts';
import type { Principal } from './auth.ts';
import type { ServiceGate } from './service-gate.ts';
import type { ServiceRegistry } from './registry.ts';
import type { EventHub } from './event-hub.ts';
import type { FastifyRequest } from 'fastify';

export interface ServerSettings {
  /** Public base URL for links; when unset, links use the request's host. */
  publicUrl?: string;
  /** Request body limit in bytes (Patavi: 5 MB). */
  bodyLimit: number;
  /** Deepest JSON nesting accepted in a task input. */
  maxJsonDepth: number;
  /** ttl used when a submission gives none; undefined keeps tasks until deleted. */
  defaultTtl?: string;
  apiKey?: string;
  allowUnknownServices: boolean;
  /** How long a service stays known after its last worker left (default one hour). */
  retainOfflineServicesMs?: number;
  /** Queue deadline (ISO 8601 duration) for tasks whose request and service give none; undefined: none. */
  defaultQueueTimeout?: string;
  /**
   * Believe X-Forwarded-Proto/Host/For (set by a reverse proxy in front) when building links and
   * logging client addresses. Off by default: any client could otherwise choose the links it gets.
   */
  trustProxy?: boolean;
  /** Bytes queued for one event-stream client beyond which it is too slow and disconnected (default 4 MiB). */
  maxStreamBufferBytes?: number;
  // HTTP edge (issue 11): limits on what a request may be and how long it may take to arrive.
  /** Task ids one GET /status may ask for (default 500). */
  maxStatusIds?: number;
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
}

export interface RouteContext {
  store: Store;
  broker: Broker;
  ids: FlakeIdGenerator;
  events: EventHub;
  publisher: EventPublisher;
  gate: ServiceGate;
  registry: ServiceRegistry;
  settings: ServerSettings;
  authorize(request: FastifyRequest): Principal;
}
