/**
 * RabbitMQ through rabbitmq-client: the production Broker. The only file that imports the AMQP
 * client. rabbitmq-client reconnects by itself and re-declares each consumer's queue, exchanges
 * and bindings.
 */
import type { Socket } from 'node:net';
import { Connection, ConsumerStatus } from 'rabbitmq-client';
import type { AsyncMessage, Consumer, Envelope } from 'rabbitmq-client';
import type { Logger } from 'pino';
import { ErrandError, redactUrl, STATUS_EXCHANGE } from '../../core/index.ts';
import { Channels, channelExchange, MessageRefusedError } from '../broker.ts';
import { bindingsExcept, originRoutingKey } from '../origin-routing.ts';
import type { Announcement, Broker, BrokerHealth, Delivery, Disposition, MessageProperties, QueueStats, Subscription } from '../broker.ts';

export interface AmqpOptions { url: string; logger?: Logger; connectTimeoutMs?: number; name?: string }

const STATUS_EXCHANGE_DECLARATION = { exchange: STATUS_EXCHANGE, type: 'topic', durable: false } as const;
const CHANNEL_DECLARATIONS = Channels.map((channel) => ({ exchange: channelExchange(channel), type: 'topic', durable: false }) as const);

/**
 * rabbitmq-client decodes `application/json` bodies (any JSON value, a bare string included) and
 * `text/plain` ones into strings. Errand's parts get the bytes as sent, and the parsed value when
 * there is one so that it is not parsed twice.
 */
function decodedBody(msg: AsyncMessage): Pick<Delivery, 'body' | 'json'> {
  const body: unknown = msg.body;
  if (Buffer.isBuffer(body)) return { body };
  if (msg.contentType === 'application/json' && !msg.contentEncoding) {
    // The bytes are rebuilt only if someone asks: consumers of JSON use `json`.
    let bytes: Buffer | undefined;
    return { get body() { return (bytes ??= Buffer.from(JSON.stringify(body), 'utf8')); }, json: { value: body } };
  }
  return { body: Buffer.from(String(body), 'utf8') };
}

function toDelivery(msg: AsyncMessage): Delivery {
  const properties: MessageProperties = {};
  if (msg.correlationId !== undefined) properties.correlationId = msg.correlationId;
  if (msg.replyTo !== undefined) properties.replyTo = msg.replyTo;
  if (msg.contentType !== undefined) properties.contentType = msg.contentType;
  if (msg.type !== undefined) properties.type = msg.type;
  if (msg.headers !== undefined) properties.headers = msg.headers;
  // Copying descriptors keeps `body` a getter where decodedBody made one (a spread would call it).
  return Object.defineProperties({ properties, routingKey: msg.routingKey, redelivered: msg.redelivered }, Object.getOwnPropertyDescriptors(decodedBody(msg))) as Delivery;
}

/** rabbitmq-client's PRECONDITION_FAILED on a publish: RabbitMQ refused the message itself (its size, say). */
function translatedPublishError(err: unknown): unknown {
  if ((err as { code?: unknown } | null)?.code !== 'PRECONDITION_FAILED') return err;
  return new MessageRefusedError((err as Error).message, { cause: err });
}

const STATUS_FOR: Record<Disposition, ConsumerStatus> = {
  ack: ConsumerStatus.ACK,
  requeue: ConsumerStatus.REQUEUE,
  drop: ConsumerStatus.DROP,
};

export async function connectAmqp(options: AmqpOptions): Promise<Broker> {
  const target = redactUrl(options.url);
  const log = options.logger;
  const rabbit = new Connection({
    url: options.url,
    connectionName: options.name ?? 'errand',
    retryLow: 250,
    retryHigh: 5000,
    // Long R tasks: the heartbeat keeps the connection known alive; it does not bound task length.
    heartbeat: 30,
    // Small messages must leave at once: with Nagle on, a confirm waits for a delayed ACK (~40 ms).
    noDelay: true,
    // RabbitMQ's own default; the client's 8 KB would refuse a result's console header, which
    // (as every AMQP content header) must fit in one frame.
    frameMax: 131_072,
  });
  rabbit.on('connection', () => coalesceWrites(rabbit));
  // Until the first connection, failures are gathered into the one error thrown below.
  let lastError: Error | undefined;
  const beforeConnected = (err: Error): void => { lastError = err; };
  rabbit.on('error', beforeConnected);
  try {
    await rabbit.onConnect(options.connectTimeoutMs ?? 5000);
  } catch (err) {
    rabbit.close().catch(() => undefined);
    const reason = lastError?.message ?? (err as Error).message;
    throw new ErrandError('broker_unavailable', `cannot connect to RabbitMQ at ${target}: ${reason}`, undefined, { cause: err });
  }
  rabbit.off('error', beforeConnected);
  rabbit.on('error', (err) => log?.warn({ err: err.message }, 'RabbitMQ connection error; reconnecting'));
  rabbit.on('connection', () => log?.info({ target }, 'connected to RabbitMQ'));
  const state = trackHealth(rabbit);

  // Confirms in flight: each send resolves on its own basic.ack, many are outstanding at once.
  const publisher = rabbit.createPublisher({ confirm: true, maxAttempts: 3, exchanges: [STATUS_EXCHANGE_DECLARATION, ...CHANNEL_DECLARATIONS] });
  publisher.on('basic.return', (msg) => log?.warn({ routingKey: msg.routingKey }, 'message returned unroutable'));
  // Messages that only tell (Announcement.unconfirmed) go on a channel of their own without
  // confirms: the send resolves once the frames are written.
  const teller = rabbit.createPublisher({ confirm: false, maxAttempts: 1, exchanges: [STATUS_EXCHANGE_DECLARATION, ...CHANNEL_DECLARATIONS] });
  const publish = (envelope: Envelope, body: Buffer, announcement: Announcement = {}): Promise<void> =>
    (announcement.unconfirmed ? teller : publisher).send(envelope, body).catch((err: unknown) => Promise.reject(translatedPublishError(err)));
  const subscriptions = new Set<Subscription>();
  /** A consumer as a Subscription that the broker's close() also ends; its state is watched until then. */
  const track = (consumer: Consumer, name: string): { subscription: Subscription; forget(): void } => {
    const unwatch = state.watch(consumer, name);
    const subscription: Subscription = {
      async close() {
        forget();
        await consumer.close();
      },
    };
    const forget = (): void => { subscriptions.delete(subscription); unwatch(); };
    subscriptions.add(subscription);
    return { subscription, forget };
  };

  const broker: Broker = {
    target,

    health: () => state.health(),

    async declareQueue(name) {
      await rabbit.queueDeclare({ queue: name, durable: true, exclusive: false, autoDelete: false });
    },

    async queueStats(name): Promise<QueueStats | undefined> {
      try {
        const info = await rabbit.queueDeclare({ queue: name, passive: true });
        return { messages: info.messageCount, consumers: info.consumerCount };
      } catch (err) {
        if ((err as { code?: string }).code === 'NOT_FOUND') return undefined;
        throw err;
      }
    },

    async send(queue, body, sendOptions = {}) {
      const { persistent = true, ...properties } = sendOptions;
      await publish({ routingKey: queue, durable: persistent, ...properties }, body);
    },

    async publishStatus(routingKey, body, properties = {}, announcement = {}) {
      await publish({ exchange: STATUS_EXCHANGE, routingKey, ...properties }, body, announcement);
    },

    async broadcast(channel, body, announcement = {}) {
      const routingKey = announcement.origin === undefined ? channel : originRoutingKey(channel, announcement.origin);
      await publish({ exchange: channelExchange(channel), routingKey, durable: false, contentType: 'application/json' }, body, announcement);
    },

    async listen(channel, onMessage, listening = {}) {
      // Server-named, exclusive, auto-delete: rabbitmq-client declares and binds it again on every reconnect.
      const exchange = channelExchange(channel);
      const consumer = rabbit.createConsumer(
        {
          queue: '',
          noAck: true,
          queueOptions: { exclusive: true, autoDelete: true, durable: false },
          exchanges: [{ exchange, type: 'topic', durable: false }],
          queueBindings: (listening.ignoreOrigin === undefined ? ['#'] : bindingsExcept(channel, listening.ignoreOrigin)).map((routingKey) => ({ exchange, routingKey })),
        },
        async (msg) => {
          // A listener that throws on a malformed message must not take the consumer down with it.
          try {
            onMessage(decodedBody(msg).body);
          } catch (err) {
            log?.warn({ channel, err: (err as Error).message }, 'a channel listener failed on a message; ignored');
          }
        },
      );
      consumer.on('error', (err) => log?.warn({ channel, err: err.message }, 'channel listener error; it will resume'));
      // Watched from before its first `ready`; a consumer that cannot be set up at all is not the broker's to close.
      const tracked = track(consumer, exchange);
      await waitReady(consumer, exchange).catch((err: unknown) => { tracked.forget(); throw err; });
      return tracked.subscription;
    },

    async consume(queue, handler, consumeOptions) {
      const prefetch = Math.max(1, consumeOptions.prefetch);
      const bindings = consumeOptions.statusBindings ?? [];
      const consumer = rabbit.createConsumer(
        {
          queue, queueOptions: { durable: true, exclusive: false, autoDelete: false }, qos: { prefetchCount: prefetch }, concurrency: prefetch, requeue: true,
          ...(bindings.length > 0 ? { exchanges: [STATUS_EXCHANGE_DECLARATION], queueBindings: bindings.map((routingKey) => ({ exchange: STATUS_EXCHANGE, routingKey })) } : {}),
        },
        async (msg) => {
          // A handler's failure is answered here (requeued, as the client would), so that every
          // error the consumer emits is about its channel: the health watch reads it so.
          try {
            return STATUS_FOR[await handler(toDelivery(msg))];
          } catch (err) {
            log?.warn({ queue, err: (err as Error).message }, 'a message handler failed; message requeued');
            return ConsumerStatus.REQUEUE;
          }
        },
      );
      consumer.on('error', (err) => log?.warn({ queue, err: err.message }, 'consumer error; it will resume'));
      // Watched from before its first `ready`; a consumer that cannot be set up at all is not the broker's to close.
      const tracked = track(consumer, queue);
      await waitReady(consumer, queue).catch((err: unknown) => { tracked.forget(); throw err; });
      return tracked.subscription;
    },

    async close() {
      await Promise.allSettled([...subscriptions].map((s) => s.close()));
      await publisher.close();
      await teller.close();
      await rabbit.close();
    },
  };
  return broker;
}

/**
 * The connection's and consumers' state, from rabbitmq-client's events (no round trip, so a probe
 * costs nothing): `connection` is (re)connected, `error` is the connection lost (the client emits
 * it only then), `connection.blocked` a resource alarm. A consumer is set up when it says `ready`
 * (after each reconnect, too) and not since when it emits `error`: its handler's failures are
 * caught before the client sees them, so its errors are its channel's (setup failed, cancelled by
 * the server, acknowledgement on a dead channel).
 */
function trackHealth(rabbit: Connection): { health(): BrokerHealth; watch(consumer: Consumer, name: string): () => void } {
  let connected = true;
  let problem: string | undefined;
  let blocked: string | undefined;
  const consumers = new Map<Consumer, { name: string; ready: boolean }>();
  rabbit.on('connection', () => { connected = true; problem = undefined; blocked = undefined; });
  rabbit.on('error', (err) => {
    connected = false;
    problem = err.message;
    for (const entry of consumers.values()) entry.ready = false;
  });
  rabbit.on('connection.blocked', (reason) => { blocked = String(reason); });
  rabbit.on('connection.unblocked', () => { blocked = undefined; });
  return {
    health() {
      const list = [...consumers.values()].map(({ name, ready }) => ({ name, ready: ready && connected }));
      if (!connected) return { connected: false, problem: `connection lost (${problem ?? 'unknown reason'}); reconnecting`, consumers: list };
      if (blocked !== undefined) return { connected: false, problem: `RabbitMQ blocks publishing: ${blocked}`, consumers: list };
      return { connected: true, consumers: list };
    },
    watch(consumer, name) {
      const entry = { name, ready: false };
      consumers.set(consumer, entry);
      consumer.on('ready', () => { entry.ready = true; });
      consumer.on('error', () => { entry.ready = false; });
      return () => { consumers.delete(consumer); };
    },
  };
}

/**
 * Frames written in one turn of the event loop leave in one socket write. rabbitmq-client writes
 * each publish, and each acknowledgement, on its own: a recorder acknowledging a batch of 256
 * results made 256 system calls, each waking the broker. Measured on the bench machine, that is
 * most of a role's CPU and most of RabbitMQ's (docs/benchmarks.md, issue 13). The client keeps its
 * socket in a private field, set anew on every reconnect: this hook runs on each `connection`.
 */
function coalesceWrites(rabbit: Connection): void {
  const socket = (rabbit as unknown as { _socket?: Socket })._socket;
  if (!socket || coalesced.has(socket)) return;
  coalesced.add(socket);
  const write = socket.write;
  let corked = false;
  socket.write = function coalescedWrite(this: Socket, ...args: Parameters<Socket['write']>) {
    if (!corked && !socket.destroyed) {
      corked = true;
      socket.cork();
      process.nextTick(() => { corked = false; socket.uncork(); });
    }
    return write.apply(this, args);
  } as Socket['write'];
}
const coalesced = new WeakSet<Socket>();

function waitReady(consumer: Consumer, queue: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onReady = (): void => { consumer.removeListener('error', onError); resolve(); };
    const onError = (err: Error): void => {
      // Setup errors such as a queue declared elsewhere with other arguments are fatal at start.
      if ((err as { code?: string }).code === 'PRECONDITION_FAILED') {
        consumer.removeListener('ready', onReady);
        reject(new ErrandError('broker_unavailable', `cannot consume queue ${JSON.stringify(queue)}: ${err.message}`));
      }
    };
    consumer.once('ready', onReady);
    consumer.once('error', onError);
  });
}
