/**
 * The in-process broker behind `errand dev`: the same queue semantics as RabbitMQ for one process
 * (durable queues that outlive their consumers, prefetch, ack/requeue/drop, redelivery when a
 * consumer leaves with messages unacknowledged, a topic exchange for status events). Nothing
 * survives the process: `errand dev` re-queues unfinished tasks from the database on start.
 */
import type { Broker, Channel, Delivery, DeliveryHandler, Disposition, MessageProperties, QueueStats, SendOptions, Subscription } from '../broker.ts';
import { channelExchange, topicMatches } from '../broker.ts';

/** `order`: when it was first queued; a message handed back returns to that place, as in RabbitMQ. */
interface Message { body: Buffer; properties: MessageProperties; routingKey: string; redelivered: boolean; order: number }

interface ConsumerState {
  handler: DeliveryHandler;
  prefetch: number;
  inFlight: Set<Promise<void>>;
  closed: boolean;
}

interface QueueState { messages: Message[]; consumers: ConsumerState[]; next: number; statusBindings: Set<string> }

export function createMemoryBroker(): Broker {
  const queues = new Map<string, QueueState>();
  const listeners = new Set<{ channel: Channel; onMessage: (body: Buffer) => void; ignoreOrigin?: number | undefined }>();
  let closed = false;

  // Like a closed connection: every operation fails once the broker is closed.
  const ensureOpen = (): void => {
    if (closed) throw new Error('the in-process broker is closed');
  };

  const queue = (name: string): QueueState => {
    let q = queues.get(name);
    if (!q) queues.set(name, (q = { messages: [], consumers: [], next: 0, statusBindings: new Set() }));
    return q;
  };

  function dispatch(q: QueueState): void {
    // Round-robin over consumers with room under their prefetch (fair dispatch).
    while (q.messages.length > 0) {
      const open = q.consumers.filter((c) => !c.closed && c.inFlight.size < c.prefetch);
      if (open.length === 0) return;
      const consumer = open[q.next++ % open.length]!;
      deliver(q, consumer, q.messages.shift()!);
    }
  }

  let queued = 0;
  function requeue(q: QueueState, message: Message): void {
    let at = 0;
    while (at < q.messages.length && q.messages[at]!.order < message.order) at++;
    q.messages.splice(at, 0, message);
  }

  function deliver(q: QueueState, consumer: ConsumerState, message: Message): void {
    const delivery: Delivery = { body: message.body, properties: message.properties, routingKey: message.routingKey, redelivered: message.redelivered };
    const settle = (disposition: Disposition): void => {
      if (disposition === 'requeue') requeue(q, { ...message, redelivered: true });
    };
    const work: Promise<void> = Promise.resolve()
      .then(() => consumer.handler(delivery))
      .then(settle, () => settle('requeue'))
      .finally(() => {
        consumer.inFlight.delete(work);
        setImmediate(() => dispatch(q));
      });
    consumer.inFlight.add(work);
  }

  const broker: Broker = {
    target: 'the in-process broker',

    health() {
      // In the process: connected until closed, and a consumer consumes from the moment it is made.
      const consumers = [...queues.entries()].flatMap(([name, q]) => q.consumers.filter((c) => !c.closed).map(() => ({ name, ready: true })));
      const channels = [...listeners].map((l) => ({ name: channelExchange(l.channel), ready: true }));
      return closed ? { connected: false, problem: 'the in-process broker is closed', consumers: [] } : { connected: true, consumers: [...consumers, ...channels] };
    },

    async declareQueue(name) {
      ensureOpen();
      queue(name);
    },

    async queueStats(name): Promise<QueueStats | undefined> {
      ensureOpen();
      const q = queues.get(name);
      return q && { messages: q.messages.length, consumers: q.consumers.filter((c) => !c.closed).length };
    },

    async send(name, body, options: SendOptions = {}) {
      ensureOpen();
      const { persistent: _persistent, ...properties } = options;
      const q = queues.get(name);
      if (!q) return; // like the default exchange: a message to no queue is dropped
      q.messages.push({ body, properties, routingKey: name, redelivered: false, order: ++queued });
      setImmediate(() => dispatch(q));
    },

    async publishStatus(routingKey, body, properties = {}) {
      ensureOpen();
      for (const q of queues.values()) {
        if ([...q.statusBindings].some((pattern) => topicMatches(pattern, routingKey))) {
          q.messages.push({ body, properties, routingKey, redelivered: false, order: ++queued });
          setImmediate(() => dispatch(q));
        }
      }
    },

    async broadcast(channel, body, announcement = {}) {
      ensureOpen();
      // Delivered later, as over a network: a listener never runs inside the publisher's call.
      // A listener that throws on a malformed message must not take the process down (as RabbitMQ's consumers do not).
      const call = (listener: { onMessage: (body: Buffer) => void }): void => {
        try { listener.onMessage(body); } catch { /* the listener's own problem */ }
      };
      for (const listener of listeners) {
        if (listener.channel !== channel || (announcement.origin !== undefined && listener.ignoreOrigin === announcement.origin)) continue;
        setImmediate(() => listeners.has(listener) && call(listener));
      }
    },

    async listen(channel, onMessage, listening = {}): Promise<Subscription> {
      ensureOpen();
      const listener = { channel, onMessage, ignoreOrigin: listening.ignoreOrigin };
      listeners.add(listener);
      return { async close() { listeners.delete(listener); } };
    },

    async consume(name, handler, options): Promise<Subscription> {
      ensureOpen();
      const q = queue(name);
      for (const binding of options.statusBindings ?? []) q.statusBindings.add(binding);
      const consumer: ConsumerState = { handler, prefetch: Math.max(1, options.prefetch), inFlight: new Set(), closed: false };
      q.consumers.push(consumer);
      setImmediate(() => dispatch(q));
      return {
        async close() {
          consumer.closed = true;
          q.consumers = q.consumers.filter((c) => c !== consumer);
          await Promise.allSettled([...consumer.inFlight]);
          dispatch(q);
        },
      };
    },

    async close() {
      closed = true;
      await Promise.allSettled(
        [...queues.values()].flatMap((q) => q.consumers.map((c) => { c.closed = true; return Promise.allSettled([...c.inFlight]); })),
      );
      listeners.clear();
    },
  };
  return broker;
}
