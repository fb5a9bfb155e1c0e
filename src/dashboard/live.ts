/**
 * One WebSocket to `WS /events` for the whole page, carrying a subscription per view. Each
 * subscription remembers the last event id it handed out; when the socket drops (a network blip,
 * the server restarting) it reconnects and subscribes again from that id, so a view gets every
 * event once, in order, whatever happened in between (docs/events.md, "Resuming").
 */
import type { TaskEvent } from '../client/index.ts';

export interface EventFilter {
  tasks?: string[];
  services?: string[];
  types?: string[];
}

export type Connection = 'connecting' | 'open' | 'reconnecting' | 'signed-out';

interface Subscription {
  name: string;
  filter: EventFilter;
  /** The id to resume after; undefined until the server said where the stream starts. */
  last: number | undefined;
  /** Replay from here at the first subscribe (0: the beginning); undefined: live only. */
  since: number | undefined;
  onEvents(events: TaskEvent[]): void;
  onLive?(): void;
  batch: TaskEvent[];
}

export class EventSocket {
  #url: string;
  #key: string;
  #socket: WebSocket | undefined;
  #subscriptions = new Map<string, Subscription>();
  #listeners = new Set<(state: Connection) => void>();
  #state: Connection = 'connecting';
  #retryMs = 500;
  #closed = false;
  #counter = 0;
  #flushQueued = false;

  constructor(base: string, key: string) {
    this.#url = `${base.replace(/^http/, 'ws')}/events`;
    this.#key = key;
    this.#connect();
  }

  get state(): Connection {
    return this.#state;
  }

  onState(listener: (state: Connection) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Events matching `filter`, handed over in batches at most once per animation frame (so a flood
   * of 100 tasks a second costs one render a frame). `since`: replay after that id first (0: from
   * the beginning); left out: live events from now.
   */
  subscribe(filter: EventFilter, onEvents: (events: TaskEvent[]) => void, options: { since?: number; onLive?: () => void } = {}): () => void {
    const name = `s${++this.#counter}`;
    const subscription: Subscription = { name, filter, last: undefined, since: options.since, onEvents, batch: [], ...(options.onLive ? { onLive: options.onLive } : {}) };
    this.#subscriptions.set(name, subscription);
    this.#send(this.#subscribeMessage(subscription));
    return () => {
      this.#subscriptions.delete(name);
      this.#send({ type: 'unsubscribe', subscription: name });
    };
  }

  close(): void {
    this.#closed = true;
    this.#socket?.close(1000);
  }

  #setState(state: Connection): void {
    this.#state = state;
    this.#listeners.forEach((listener) => listener(state));
  }

  #subscribeMessage(s: Subscription): Record<string, unknown> {
    const since = s.last ?? s.since;
    return { type: 'subscribe', subscription: s.name, filter: s.filter, ...(since !== undefined ? { since } : {}) };
  }

  #send(message: Record<string, unknown>): void {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
  }

  #connect(): void {
    // A browser's WebSocket cannot send Authorization: the key rides as a subprotocol.
    const protocols = this.#key ? ['errand', `errand.bearer.${this.#key}`] : ['errand'];
    const socket = new WebSocket(this.#url, protocols);
    this.#socket = socket;
    socket.onopen = () => {
      this.#retryMs = 500;
      this.#setState('open');
      for (const s of this.#subscriptions.values()) this.#send(this.#subscribeMessage(s));
    };
    socket.onmessage = (message) => this.#receive(String(message.data));
    socket.onclose = (event) => {
      if (this.#closed) return;
      // 4001: the credential expired or is not accepted; reconnecting would not help.
      if (event.code === 4001) return this.#setState('signed-out');
      this.#setState('reconnecting');
      setTimeout(() => this.#connect(), this.#retryMs);
      this.#retryMs = Math.min(5000, this.#retryMs * 2);
    };
  }

  #receive(text: string): void {
    let message: { type?: string; subscription?: string; from?: number; event?: TaskEvent; error?: unknown };
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    const s = message.subscription ? this.#subscriptions.get(message.subscription) : undefined;
    if (!s) return;
    if (message.type === 'error') {
      // The server ended this subscription (its database was away, say): ask again from the last id.
      setTimeout(() => {
        if (this.#subscriptions.get(s.name) === s) this.#send(this.#subscribeMessage(s));
      }, this.#retryMs);
      return;
    }
    if (message.type === 'subscribed' && s.last === undefined && typeof message.from === 'number') s.last = message.from;
    else if (message.type === 'live') s.onLive?.();
    else if (message.type === 'event' && message.event) {
      // Never twice: a resumed stream starts after the last id handed out.
      if (s.last !== undefined && message.event.id <= s.last) return;
      s.last = message.event.id;
      s.batch.push(message.event);
      this.#scheduleFlush();
    }
  }

  #scheduleFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    const flush = () => {
      this.#flushQueued = false;
      for (const s of this.#subscriptions.values()) {
        if (s.batch.length === 0) continue;
        const batch = s.batch;
        s.batch = [];
        s.onEvents(batch);
      }
    };
    // A hidden tab gets no animation frames: flush on a timer there.
    if (typeof document !== 'undefined' && document.visibilityState === 'visible') requestAnimationFrame(flush);
    else setTimeout(flush, 100);
  }
}
