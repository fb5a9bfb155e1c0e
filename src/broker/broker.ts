/**
 * What every part needs from messaging, in AMQP's terms (see docs/protocol.md for the topology).
 * RabbitMQ in production (amqp/), an in-process broker for `errand dev` (memory/).
 */

export interface MessageProperties {
  correlationId?: string;
  replyTo?: string;
  contentType?: string;
  /** AMQP `type`: Errand marks its own additions on Patavi's queues with it. */
  type?: string;
  headers?: Record<string, unknown>;
}

export interface Delivery {
  body: Buffer;
  /**
   * The body already parsed as JSON, when the client library did so (RabbitMQ's client decodes
   * `application/json` bodies itself): consumers use it instead of parsing the bytes again.
   */
  json?: { value: unknown };
  properties: MessageProperties;
  routingKey: string;
  /** True when the broker has delivered this message before (a consumer died or requeued it). */
  redelivered: boolean;
}

/** What a handler tells the broker to do with the message it was given. */
export type Disposition = 'ack' | 'requeue' | 'drop';

export type DeliveryHandler = (delivery: Delivery) => Promise<Disposition>;

export interface QueueStats { messages: number; consumers: number }

export interface Subscription {
  /** Stops taking new messages, waits for the handlers under way, then leaves. */
  close(): Promise<void>;
}

/**
 * Errand's own fan-out channels, each an exchange `errand.<channel>` (topic, not durable): every
 * listener gets every message; messages are not persistent (they describe the present).
 */
export const Channels = ['services', 'events', 'control'] as const;
export type Channel = (typeof Channels)[number];

export const channelExchange = (channel: Channel): string => `errand.${channel}`;

export interface SendOptions extends MessageProperties {
  /** Survive a broker restart (delivery mode 2). Default true. */
  persistent?: boolean;
}

/** What a readiness probe asks of the broker (issue 14): read from state kept as events come, no round trip. */
export interface BrokerHealth {
  /** Connected, and not blocked by one of RabbitMQ's resource alarms. */
  connected: boolean;
  /** Why not, when not connected. */
  problem?: string;
  /** Every consumer and channel listener opened and not closed: its queue (or exchange), and whether it consumes now. */
  consumers: Array<{ name: string; ready: boolean }>;
}

/**
 * How a message that only tells (an event broadcast, an end message) is sent. `unconfirmed`: the
 * broker does not confirm it, for messages whose loss costs nothing but time (servers read missed
 * events from the database). A confirm is a frame the broker makes and the sender reads, often
 * with a wake-up of its own: three a task, on the hot path (docs/benchmarks.md).
 */
export interface Announcement {
  unconfirmed?: boolean;
  /** The sending process's origin (origin-routing.ts): listeners that ignore it do not get this broadcast. */
  origin?: number;
}

/** How a channel is heard. */
export interface Listening {
  /** Broadcasts from this origin (the listener's own process) are not delivered (origin-routing.ts). */
  ignoreOrigin?: number;
}

export interface Broker {
  /** Where the broker is, for messages (no password). */
  readonly target: string;
  /** The connection's and the consumers' state now. */
  health(): BrokerHealth;
  /** Declares a durable work queue with Patavi's arguments (durable, not exclusive, not auto-delete). */
  declareQueue(name: string): Promise<void>;
  /** Message and consumer counts, or undefined when no such queue exists. */
  queueStats(name: string): Promise<QueueStats | undefined>;
  /**
   * Sends to a queue through the default exchange; resolves once the broker has confirmed it.
   * A message the broker refuses for what it is rejects with MessageRefusedError (as do
   * publishStatus and broadcast); other errors say the broker could not be reached.
   */
  send(queue: string, body: Buffer, options?: SendOptions): Promise<void>;
  /** Publishes on the `rpc_status` topic exchange; resolves once confirmed (once written, with `unconfirmed`). */
  publishStatus(routingKey: string, body: Buffer, properties?: MessageProperties, options?: Announcement): Promise<void>;
  /**
   * Consumes a durable queue with at most `prefetch` unacknowledged messages at a time;
   * `statusBindings` also bind the queue to `rpc_status` with those routing key patterns.
   */
  consume(queue: string, handler: DeliveryHandler, options: { prefetch: number; statusBindings?: string[] }): Promise<Subscription>;
  /** Publishes to every listener of an Errand channel (not persistent; resolves once confirmed, or once written with `unconfirmed`). */
  broadcast(channel: Channel, body: Buffer, options?: Announcement): Promise<void>;
  /** Receives every later message of an Errand channel until closed; re-attached after reconnects. */
  listen(channel: Channel, onMessage: (body: Buffer) => void, options?: Listening): Promise<Subscription>;
  close(): Promise<void>;
}

/**
 * The broker refused a message for what it is, not for the state of the connection (larger than
 * RabbitMQ's max_message_size, say): sending it again cannot help. The adapters throw it, so
 * that no caller reads a client library's error codes.
 */
export class MessageRefusedError extends Error {
  override readonly name = 'MessageRefusedError';
}

/** AMQP topic matching: words split by ".", `*` is one word, `#` is zero or more. */
export function topicMatches(pattern: string, routingKey: string): boolean {
  const p = pattern.split('.');
  const k = routingKey.split('.');
  const match = (i: number, j: number): boolean => {
    if (i === p.length) return j === k.length;
    if (p[i] === '#') return match(i + 1, j) || (j < k.length && match(i, j + 1));
    return j < k.length && (p[i] === '*' || p[i] === k[j]) && match(i + 1, j + 1);
  };
  return match(0, 0);
}
