/**
 * The event streams as a user sees them: `WS /events` (several filtered subscriptions on one
 * socket, replay joined to live, `last`, resume, ack windows, slow consumers, bad requests), SSE
 * (`GET /events`, `GET /task/:id/events`, Last-Event-ID), progress percent and time remaining,
 * and Patavi's updates socket beside them. What a stream delivers is checked against the store.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Agent, fetch as undiciFetch } from 'undici';
import { WebSocket } from 'ws';
import { TERMINAL_EVENT_TYPES } from '../../src/core/index.ts';
import type { EventFilter, EventJson, EventType } from '../../src/core/index.ts';
import type { Backend } from '../support/backends.ts';
import { describeEachBackend } from '../support/backends.ts';
import { postTask, watchUpdates } from '../support/http.ts';
import { echo, service, steps } from '../support/services.ts';
import type { Stack } from '../support/stack.ts';
import { startStack } from '../support/stack.ts';
import { eventually } from '../support/wait.ts';

type Message = { type: string; subscription?: string; event?: EventJson; from?: number; position?: number; truncated?: boolean; error?: { code: string; message: string; field?: string } };

/** A `WS /events` client that keeps every message and lets a test wait for what it expects. */
class EventSocket {
  readonly messages: Message[] = [];
  closed: { code: number; reason: string } | undefined;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (raw) => {
      this.messages.push(JSON.parse(raw.toString()) as Message);
      this.waiters.forEach((w) => w());
    });
    socket.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.waiters.forEach((w) => w());
    });
  }

  static open(url: string, onOpen?: (socket: WebSocket) => void): Promise<EventSocket> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      const client = new EventSocket(socket);
      socket.once('open', () => { onOpen?.(socket); resolve(client); });
      socket.once('error', reject);
    });
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  subscribe(subscription: string, options: Record<string, unknown>): void {
    this.send({ type: 'subscribe', subscription, ...options });
  }

  /** Resolves with `find`'s answer once it has one. */
  until<T>(find: (messages: Message[]) => T | undefined | false, what: string, timeoutMs = 60_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = find(this.messages);
        if (found !== undefined && found !== false) {
          this.waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        } else if (this.closed) {
          this.waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting for ${what}`));
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.messages.length} messages so far)`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  events(subscription: string): EventJson[] {
    return this.messages.filter((m) => m.type === 'event' && m.subscription === subscription).map((m) => m.event!);
  }

  /** Ids of `subscription`'s events, in the order received. */
  ids(subscription: string): number[] {
    return this.events(subscription).map((e) => e.id);
  }

  message(type: string, subscription: string): Message | undefined {
    return this.messages.find((m) => m.type === type && m.subscription === subscription);
  }

  /** A ping answered: everything the server sent before handling it has arrived. */
  async roundTrip(): Promise<void> {
    const seen = this.messages.filter((m) => m.type === 'pong').length;
    this.send({ type: 'ping' });
    await this.until((ms) => ms.filter((m) => m.type === 'pong').length > seen, 'pong');
  }

  close(): void {
    this.socket.terminate();
  }
}

interface SseEvent { id: number; type: string; event: EventJson }
interface SseResult { status: number; events: SseEvent[]; ended: boolean; body?: unknown }

/**
 * Reads `url` as server-sent events until the server ends it or `stopWhen` holds. Each read has a
 * connection pool of its own, destroyed at the end: a stream left by the client is closed at once
 * (Node's global fetch leaves a connection behind after a cancel, which holds up server.close).
 */
async function readSse(url: string, options: { headers?: Record<string, string>; stopWhen?: (events: SseEvent[]) => boolean; timeoutMs?: number } = {}): Promise<SseResult> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`timed out reading ${url}`)), options.timeoutMs ?? 60_000);
  const dispatcher = new Agent();
  try {
    const response = await undiciFetch(url, { headers: { accept: 'text/event-stream', ...options.headers }, signal: abort.signal, dispatcher });
    if (response.status !== 200) {
      const text = await response.text();
      return { status: response.status, events: [], ended: true, body: text ? JSON.parse(text) : undefined };
    }
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events: SseEvent[] = [];
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    for (;;) {
      if (options.stopWhen?.(events)) {
        await reader.cancel();
        return { status: 200, events, ended: false };
      }
      const { value, done } = await reader.read();
      if (done) return { status: 200, events, ended: true };
      text += decoder.decode(value, { stream: true });
      for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
        const fields = new Map<string, string>();
        for (const line of text.slice(0, end).split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(': ');
          if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 2));
        }
        text = text.slice(end + 2);
        if (fields.get('event') === 'error') throw new Error(`stream error: ${fields.get('data')}`);
        if (!fields.has('id') || !fields.has('data')) continue;
        const event = JSON.parse(fields.get('data')!) as EventJson;
        assert.equal(Number(fields.get('id')), event.id, 'the SSE id is the event id');
        assert.equal(fields.get('event'), event.type, 'the SSE event name is the event type');
        events.push({ id: event.id, type: event.type, event });
      }
    }
  } finally {
    clearTimeout(timer);
    await dispatcher.destroy();
  }
}

/** Posts one task per input, `parallel` at a time; the ids in input order. */
async function submitAll(baseUrl: string, serviceName: string, inputs: unknown[], parallel = 16): Promise<string[]> {
  const ids: string[] = new Array<string>(inputs.length);
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < inputs.length) {
      const i = next++;
      const { response, json } = await postTask(baseUrl, serviceName, inputs[i]);
      assert.equal(response.status, 201, JSON.stringify(json));
      ids[i] = json.id as string;
    }
  }));
  return ids;
}

/** True once every task in `ids` has its terminal event among `events`. */
function allEnded(events: Array<Pick<EventJson, 'taskId' | 'type'>>, ids: Iterable<string>): boolean {
  const ended = new Set(events.filter((e) => TERMINAL_EVENT_TYPES.has(e.type)).map((e) => e.taskId));
  for (const id of ids) if (!ended.has(id)) return false;
  return true;
}

function assertIncreasing(ids: number[], what: string): void {
  for (let i = 1; i < ids.length; i++) {
    assert.ok(ids[i]! > ids[i - 1]!, `${what}: id ${ids[i]} came after ${ids[i - 1]} (index ${i})`);
  }
}

function filterOf(input: { tasks?: string[]; services?: string[]; types?: EventType[] }): EventFilter {
  return {
    ...(input.tasks ? { tasks: new Set(input.tasks) } : {}),
    ...(input.services ? { services: new Set(input.services) } : {}),
    ...(input.types ? { types: new Set(input.types) } : {}),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

await describeEachBackend('event streams', (kind) => {
  let backend: Backend;
  let stack: Stack;
  let wsUrl: string;

  const storedIds = async (filter: EventFilter, since: number): Promise<number[]> =>
    (await backend.store.readEvents(filter, since, null, 100_000)).map((e) => e.id);
  /** Waits until the store shows every task in `ids` ended. */
  const storeEnded = (ids: string[]): Promise<true> =>
    eventually(async () => allEnded(await backend.store.readEvents(filterOf({ tasks: ids }), 0, null, 100_000), ids) || undefined, `${ids.length} tasks to end`, 60_000);

  // Progress with percent and time remaining: each step waits for the test, so the test sees it
  // running, and no report is coalesced with the next (the test has seen it before the next).
  const startGate = deferred();
  const finishGate = deferred();
  const quarterSeen = deferred();
  const percent = service('percent', async (_input, ctx) => {
    await startGate.promise;
    await sleep(300); // time passes after the recorded start: a rate, so a time remaining
    ctx.progress(50);
    await finishGate.promise;
    ctx.progress({ progress: 25 });
    await quarterSeen.promise;
    ctx.progress('half');
    return 'ok';
  });
  // Volume for the slow consumer: large progress values, spaced past the progress interval.
  const bulky = service('bulky', async (input, ctx) => {
    const { count, size } = input as { count: number; size: number };
    for (let i = 0; i < count; i++) {
      ctx.progress({ progress: i, blob: String(i % 10).repeat(size) });
      await sleep(120);
    }
    return 'ok';
  }, 8);

  before(async () => {
    backend = await kind.create();
    stack = await startStack(backend, { services: [echo('echo', 16), steps('steps'), echo('alpha'), steps('beta'), percent, bulky] });
    wsUrl = `${stack.baseUrl.replace(/^http/, 'ws')}/events`;
  });
  after(async () => {
    await stack.close();
    await backend.close();
  });

  test('one socket, several subscriptions: each gets exactly the events its filter keeps, in id order', async () => {
    const base = await backend.store.lastEventId();
    const alpha = await submitAll(stack.baseUrl, 'alpha', [1, 2, 3, 4, 5].map((n) => ({ n })));
    const beta = await submitAll(stack.baseUrl, 'beta', [{ pauseMs: 60 }, { pauseMs: 60 }, { pauseMs: 60, fail: true }], 1);
    const subscriptions: Record<string, { tasks?: string[]; services?: string[]; types?: EventType[] }> = {
      'by-task': { tasks: [beta[0]!, alpha[1]!] },
      'by-service': { services: ['beta'] },
      'by-type': { types: ['started'] },
      'service-and-type': { services: ['alpha'], types: ['done'] },
    };
    const client = await EventSocket.open(wsUrl);
    try {
      // Subscribed while the beta tasks still run: each stream is part replay, part live.
      for (const [name, filter] of Object.entries(subscriptions)) client.subscribe(name, { filter, since: base });
      await storeEnded([...alpha, ...beta]);
      for (const [name, filter] of Object.entries(subscriptions)) {
        const expected = await storedIds(filterOf(filter), base);
        await client.until(() => client.ids(name).length >= expected.length && client.message('live', name), `${name}: ${expected.length} events and live`);
        await client.roundTrip();
        assert.deepEqual(client.ids(name), expected, `${name} got exactly its events, in order`);
        assertIncreasing(client.ids(name), name);
        const subscribed = client.message('subscribed', name)!;
        assert.equal(subscribed.from, base);
        assert.equal(subscribed.truncated, undefined);
        // Order on the wire: subscribed, then the events (replay, live marker, live).
        const at = (m: Message | undefined): number => client.messages.indexOf(m!);
        const first = client.messages.find((m) => m.type === 'event' && m.subscription === name);
        assert.ok(at(subscribed) < at(first), `${name}: subscribed comes first`);
      }
      const byType = client.events('by-type');
      assert.ok(byType.every((e) => e.type === 'started'));
      assert.deepEqual(new Set(byType.map((e) => e.taskId)), new Set([...alpha, ...beta]));
      assert.ok(client.events('by-service').every((e) => e.service === 'beta'));
      assert.deepEqual(client.events('by-service').filter((e) => TERMINAL_EVENT_TYPES.has(e.type)).map((e) => e.type), ['done', 'done', 'failed']);
      assert.deepEqual(new Set(client.events('by-task').map((e) => e.taskId)), new Set([beta[0], alpha[1]]));
      assert.deepEqual(client.events('service-and-type').map((e) => e.taskId).sort(), [...alpha].sort());
      const started = client.events('by-type')[0]!;
      assert.equal(typeof (started.data as { worker: unknown }).worker, 'string');
      assert.equal((started.data as { attempt: unknown }).attempt, 1);
      const failed = client.events('by-service').find((e) => e.type === 'failed')!;
      assert.match((failed.data as { error: { message: string } }).error.message, /asked to fail/);
    } finally {
      client.close();
    }
  });

  test('replay joins live without a gap or a repeat while hundreds of tasks run', async () => {
    // A history to replay, then more tasks started as the readers join.
    const before = await submitAll(stack.baseUrl, 'echo', Array.from({ length: 200 }, (_, i) => ({ i })));
    await storeEnded(before);
    const history = await storedIds({}, 0);
    const middle = history[Math.floor(history.length / 2)]!;

    const echoing = submitAll(stack.baseUrl, 'echo', Array.from({ length: 200 }, (_, i) => ({ round: 2, i })));
    const stepping = submitAll(stack.baseUrl, 'steps', Array.from({ length: 10 }, () => ({ pauseMs: 10 })), 2);
    const readers = await Promise.all([EventSocket.open(wsUrl), EventSocket.open(wsUrl)]);
    const [fromStart, fromMiddle] = readers as [EventSocket, EventSocket];
    try {
      fromStart.subscribe('all', { since: 0 });
      fromMiddle.subscribe('all', { since: middle });
      const started = [...(await echoing), ...(await stepping)];
      await Promise.all(readers.map((r) => r.until(() => allEnded(r.events('all'), started), 'every task ended', 120_000)));
      for (const [reader, since] of [[fromStart, 0], [fromMiddle, middle]] as const) {
        const ids = reader.ids('all');
        assertIncreasing(ids, `since ${since}`);
        assert.equal(new Set(ids).size, ids.length, 'nothing twice');
        assert.deepEqual(ids, await storedIds({}, since), `since ${since}: exactly the stored events`);
        assert.equal(reader.message('subscribed', 'all')!.from, since);
        // The replay ends at the live position; every later event came live, none twice.
        const live = reader.message('live', 'all')!;
        const split = reader.messages.indexOf(live);
        const eventsBefore = reader.messages.slice(0, split).filter((m) => m.type === 'event').map((m) => m.event!.id);
        const eventsAfter = reader.messages.slice(split).filter((m) => m.type === 'event').map((m) => m.event!.id);
        assert.ok(eventsBefore.every((id) => id <= live.position!), 'replayed events are up to the live position');
        assert.ok(eventsAfter.every((id) => id > live.position!), 'live events are after it');
      }
      // Dense ids: nothing lost between id assignment and commit.
      assert.deepEqual(fromStart.ids('all'), Array.from({ length: fromStart.ids('all').length }, (_, i) => i + 1));
    } finally {
      readers.forEach((r) => r.close());
    }
  });

  test('last: N replays the last N matching events, then live ones', async () => {
    const ids = await submitAll(stack.baseUrl, 'alpha', [1, 2, 3].map((n) => ({ n })));
    await storeEnded(ids);
    const filter = { services: ['alpha'] };
    const expected = await backend.store.lastEvents(filterOf(filter), Number.MAX_SAFE_INTEGER, 4);
    const client = await EventSocket.open(wsUrl);
    try {
      client.subscribe('tail', { filter, last: 4 });
      const live = await client.until(() => client.message('live', 'tail'), 'live');
      assert.deepEqual(client.ids('tail'), expected.map((e) => e.id));
      assert.equal(client.message('subscribed', 'tail')!.from, expected[0]!.id - 1);
      assert.ok(live.position! >= expected.at(-1)!.id);
      const [more] = await submitAll(stack.baseUrl, 'alpha', [{ n: 4 }]);
      await client.until(() => allEnded(client.events('tail'), [more!]), 'the new task live');
      const liveEvents = client.events('tail').slice(4);
      assert.deepEqual(liveEvents.map((e) => e.type), ['queued', 'started', 'done']);
      assert.ok(liveEvents.every((e) => e.taskId === more));
      assertIncreasing(client.ids('tail'), 'last then live');
    } finally {
      client.close();
    }
  });

  test('resume: a WebSocket reconnecting with since = its last id gets the rest once', async () => {
    const base = await backend.store.lastEventId();
    const submitting = submitAll(stack.baseUrl, 'echo', Array.from({ length: 150 }, (_, i) => ({ resume: 'ws', i })), 4);
    const filter = { services: ['echo'] };
    const first = await EventSocket.open(wsUrl);
    first.subscribe('s', { filter, since: base });
    await first.until(() => first.ids('s').length >= 100, '100 events');
    first.close();
    const part1 = first.ids('s');
    const second = await EventSocket.open(wsUrl);
    try {
      second.subscribe('s', { filter, since: part1.at(-1) });
      const ids = await submitting;
      await second.until(() => allEnded([...first.events('s'), ...second.events('s')], ids), 'every task ended', 120_000);
      const union = [...part1, ...second.ids('s')];
      assert.ok(!allEnded(first.events('s'), ids), 'the first socket was cut mid-stream');
      assertIncreasing(union, 'before and after the reconnect');
      assert.deepEqual(union, await storedIds(filterOf(filter), base));
    } finally {
      second.close();
    }
  });

  test('resume: SSE reconnecting with Last-Event-ID gets the rest once', async () => {
    const base = await backend.store.lastEventId();
    const submitting = submitAll(stack.baseUrl, 'echo', Array.from({ length: 150 }, (_, i) => ({ resume: 'sse', i })), 4);
    const url = `${stack.baseUrl}/events?service=echo&since=${base}`;
    const part1 = await readSse(url, { stopWhen: (events) => events.length >= 100 });
    assert.equal(part1.status, 200);
    assert.equal(part1.ended, false);
    const ids = await submitting;
    // Last-Event-ID wins over the query's since, as for a browser's EventSource reconnecting.
    const lastId = part1.events.at(-1)!.id;
    const part2 = await readSse(url, {
      headers: { 'last-event-id': String(lastId) },
      stopWhen: (events) => allEnded([...part1.events, ...events].map((e) => e.event), ids),
    });
    assert.ok(!allEnded(part1.events.map((e) => e.event), ids), 'the first stream was cut mid-stream');
    const union = [...part1.events, ...part2.events].map((e) => e.id);
    assertIncreasing(union, 'before and after the reconnect');
    assert.deepEqual(union, await storedIds(filterOf({ services: ['echo'] }), base));
  });

  test('ack window: at most N unacknowledged events in flight, more after an ack', async () => {
    const base = await backend.store.lastEventId();
    const ids = await submitAll(stack.baseUrl, 'alpha', Array.from({ length: 20 }, (_, i) => ({ i })));
    await storeEnded(ids);
    const expected = await storedIds(filterOf({ services: ['alpha'] }), base);
    assert.equal(expected.length, 60);
    const client = await EventSocket.open(wsUrl);
    try {
      client.subscribe('w', { filter: { services: ['alpha'] }, since: base, window: 5 });
      await client.until(() => client.message('live', 'w'), 'the end of the replay');
      await client.roundTrip();
      assert.deepEqual(client.ids('w'), expected.slice(0, 5), 'five events and no more without an ack');
      client.send({ type: 'ack', subscription: 'w', id: expected[4] });
      await client.until(() => client.ids('w').length >= 10, 'five more after the ack');
      await client.roundTrip();
      assert.deepEqual(client.ids('w'), expected.slice(0, 10), 'an ack of five lets five more through');
      // Acking two of five lets two through.
      client.send({ type: 'ack', subscription: 'w', id: expected[6] });
      await client.until(() => client.ids('w').length >= 12, 'two more');
      await client.roundTrip();
      assert.equal(client.ids('w').length, 12);
      while (client.ids('w').length < expected.length) {
        const seen = client.ids('w').length;
        client.send({ type: 'ack', subscription: 'w', id: client.ids('w').at(-1) });
        await client.until(() => client.ids('w').length > seen || undefined, 'more after an ack');
      }
      assert.deepEqual(client.ids('w'), expected);
      // Live events obey the window too.
      client.send({ type: 'ack', subscription: 'w', id: expected.at(-1) });
      const more = await submitAll(stack.baseUrl, 'alpha', [1, 2, 3].map((n) => ({ more: n })));
      await storeEnded(more);
      await client.until(() => client.ids('w').length >= expected.length + 5, 'five live events');
      await client.roundTrip();
      assert.equal(client.ids('w').length, expected.length + 5, 'still no more than five in flight');
      client.send({ type: 'ack', subscription: 'w', id: client.ids('w').at(-1) });
      await client.until(() => client.ids('w').length >= expected.length + 9, 'the rest');
      assert.deepEqual(client.ids('w'), await storedIds(filterOf({ services: ['alpha'] }), base));
    } finally {
      client.close();
    }
  });

  test('bad subscribe messages are answered with an error naming the field; the socket stays usable', async () => {
    const client = await EventSocket.open(wsUrl);
    try {
      client.subscribe('ok', { filter: { services: ['alpha'] } });
      await client.until(() => client.message('live', 'ok'), 'the good subscription live');
      const errorFor = async (message: unknown): Promise<NonNullable<Message['error']> & { subscription?: string }> => {
        const seen = client.messages.filter((m) => m.type === 'error').length;
        client.send(message);
        const reply = await client.until((ms) => ms.filter((m) => m.type === 'error')[seen], `an error for ${JSON.stringify(message)}`);
        return { ...reply.error!, ...(reply.subscription ? { subscription: reply.subscription } : {}) };
      };
      const unknownType = await errorFor({ type: 'subscribe', subscription: 'a', filter: { types: ['finished'] } });
      assert.deepEqual([unknownType.code, unknownType.field, unknownType.subscription], ['invalid_field', 'filter.types', 'a']);
      assert.match(unknownType.message, /finished/);
      const badTask = await errorFor({ type: 'subscribe', subscription: 'b', filter: { tasks: ['not-a-task'] } });
      assert.deepEqual([badTask.code, badTask.field], ['invalid_id', 'filter.tasks']);
      const both = await errorFor({ type: 'subscribe', subscription: 'c', since: 1, last: 5 });
      assert.deepEqual([both.code, both.field], ['invalid_field', 'last']);
      const badSince = await errorFor({ type: 'subscribe', subscription: 'd', since: -1 });
      assert.equal(badSince.field, 'since');
      const badWindow = await errorFor({ type: 'subscribe', subscription: 'e', window: 0 });
      assert.equal(badWindow.field, 'window');
      const duplicate = await errorFor({ type: 'subscribe', subscription: 'ok', filter: {} });
      assert.deepEqual([duplicate.code, duplicate.field, duplicate.subscription], ['conflict', 'subscription', 'ok']);
      const notJson = await errorFor('{"type": "subscribe", ');
      assert.deepEqual([notJson.code, notJson.field], ['invalid_json', 'type']);
      const unknownMessage = await errorFor({ type: 'subscribe-all' });
      assert.equal(unknownMessage.field, 'type');
      const noSuch = await errorFor({ type: 'unsubscribe', subscription: 'a' });
      assert.deepEqual([noSuch.code, noSuch.field], ['not_found', 'subscription']);
      // None of the bad ones was kept; the good one still delivers.
      assert.equal(client.messages.filter((m) => m.type === 'subscribed').length, 1);
      await client.roundTrip();
      const [id] = await submitAll(stack.baseUrl, 'alpha', [{ after: 'errors' }]);
      await client.until(() => allEnded(client.events('ok'), [id!]), 'the good subscription to see a new task');
      assert.deepEqual(client.events('ok').map((e) => e.type), ['queued', 'started', 'done']);
      client.send({ type: 'unsubscribe', subscription: 'ok' });
      await client.until(() => client.message('unsubscribed', 'ok'), 'unsubscribed');
      client.subscribe('ok', { filter: { tasks: [id] }, since: 0 });
      await client.until(() => client.message('live', 'ok') && client.events('ok').length >= 6, 'the name reused after unsubscribing');
      assert.deepEqual(client.events('ok').slice(3).map((e) => e.type), ['queued', 'started', 'done']);
    } finally {
      client.close();
    }
  });

  test('SSE: a task\'s stream replays it from the start and ends after its terminal event; filters; errors', async () => {
    const [ok, bad] = await submitAll(stack.baseUrl, 'steps', [{ pauseMs: 150 }, { pauseMs: 30, fail: true }], 1);
    // Read while the task runs: the stream ends by itself after done.
    const own = await readSse(`${stack.baseUrl}/task/${ok}/events`);
    assert.equal(own.status, 200);
    assert.equal(own.ended, true, 'the server ends the stream');
    const types = own.events.map((e) => e.type);
    assert.equal(types[0], 'queued');
    assert.equal(types[1], 'started');
    assert.equal(types.at(-1), 'done');
    assert.ok(types.filter((t) => t === 'progress').length >= 2, types.join());
    assert.ok(own.events.every((e) => e.event.taskId === ok && e.event.service === 'steps'));
    assert.deepEqual(own.events.map((e) => e.id), await storedIds(filterOf({ tasks: [ok!] }), 0));

    // Reconnecting with the terminal event's id: nothing more will come (204 stops EventSource).
    const doneId = own.events.at(-1)!.id;
    const again = await readSse(`${stack.baseUrl}/task/${ok}/events`, { headers: { 'last-event-id': String(doneId) } });
    assert.equal(again.status, 204);
    // From an earlier id: the rest, then the end.
    const rest = await readSse(`${stack.baseUrl}/task/${ok}/events`, { headers: { 'last-event-id': String(own.events[1]!.id) } });
    assert.deepEqual(rest.events.map((e) => e.id), own.events.slice(2).map((e) => e.id));
    assert.equal(rest.ended, true);

    const failed = await readSse(`${stack.baseUrl}/task/${bad}/events`);
    assert.equal(failed.events.at(-1)!.type, 'failed');
    assert.equal(failed.ended, true);

    // The general stream with filters.
    const doneOfSteps = await storedIds(filterOf({ services: ['steps'], types: ['done'] }), 0);
    const filtered = await readSse(`${stack.baseUrl}/events?service=steps&type=done&since=0`, { stopWhen: (events) => events.length >= doneOfSteps.length });
    assert.deepEqual(filtered.events.map((e) => e.id), doneOfSteps);
    assert.ok(filtered.events.every((e) => e.type === 'done' && e.event.service === 'steps'));
    assert.ok(!filtered.events.some((e) => e.event.taskId === bad), 'the failed task is filtered out');
    const twoTypes = await readSse(`${stack.baseUrl}/events?task=${ok}&task=${bad}&type=started&type=failed&since=0`, { stopWhen: (events) => events.length >= 3 });
    assert.deepEqual(twoTypes.events.map((e) => `${e.event.taskId === ok ? 'ok' : 'bad'}:${e.type}`), ['ok:started', 'bad:started', 'bad:failed']);

    const badSince = await readSse(`${stack.baseUrl}/events?since=yesterday`);
    assert.equal(badSince.status, 400);
    assert.equal((badSince.body as { error: { field: string } }).error.field, 'since');
    const badType = await readSse(`${stack.baseUrl}/events?type=finished`);
    assert.equal(badType.status, 400);
    assert.equal((badType.body as { error: { field: string } }).error.field, 'type', 'the field is named as in the query string');
    const badTask = await readSse(`${stack.baseUrl}/events?task=xyz`);
    assert.equal(badTask.status, 400);
    assert.equal((badTask.body as { error: { field: string } }).error.field, 'task');
    const badLastId = await readSse(`${stack.baseUrl}/events`, { headers: { 'last-event-id': 'abc' } });
    assert.equal(badLastId.status, 400);
    assert.equal((badLastId.body as { error: { field: string } }).error.field, 'Last-Event-ID');
    const unknown = await readSse(`${stack.baseUrl}/task/00000000000000ff/events`);
    assert.equal(unknown.status, 404);
    assert.equal((unknown.body as { error: { code: string } }).error.code, 'not_found');
  });

  test('progress: percent and time remaining from the reported value; GET /task shows it; Patavi sees the raw value', async () => {
    const { json } = await postTask(stack.baseUrl, 'percent', {});
    const id = json.id as string;
    const client = await EventSocket.open(wsUrl);
    try {
      client.subscribe('p', { filter: { tasks: [id] }, since: 0 });
      await client.until(() => client.events('p').some((e) => e.type === 'started'), 'started');
      // The updates socket listens before the first report.
      const updates = watchUpdates(json._links.updates.href as string);
      await eventually(() => stack.app.websocketServer.clients.size >= 2 || undefined, 'the updates socket');
      startGate.resolve();
      const first = await client.until(() => client.events('p').find((e) => e.type === 'progress'), 'the first progress event');
      const data = first.data as { value: unknown; percent?: number; etaSeconds?: number };
      assert.equal(data.value, 50);
      assert.equal(data.percent, 50);
      assert.ok(typeof data.etaSeconds === 'number' && data.etaSeconds > 0, `etaSeconds ${data.etaSeconds}`);
      const running = await eventually(async () => {
        const task = await (await fetch(`${stack.baseUrl}/task/${id}`)).json() as { status: string; progress?: { value: unknown; percent?: number; etaSeconds?: number; at: string } };
        return task.progress ? task : undefined;
      }, 'GET /task to show progress');
      assert.equal(running.status, 'running');
      assert.equal(running.progress!.value, 50);
      assert.equal(running.progress!.percent, 50);
      assert.equal(running.progress!.etaSeconds, data.etaSeconds);
      assert.ok(!Number.isNaN(Date.parse(running.progress!.at)));
      finishGate.resolve();
      await client.until(() => client.events('p').some((e) => e.type === 'progress' && JSON.stringify((e.data as { value: unknown }).value) === '{"progress":25}'), 'the second progress event');
      quarterSeen.resolve();
      await client.until(() => allEnded(client.events('p'), [id]), 'done');
      const progress = client.events('p').filter((e) => e.type === 'progress').map((e) => e.data as { value: unknown; percent?: number; etaSeconds?: number });
      assert.deepEqual(progress.map((p) => p.value), [50, { progress: 25 }, 'half']);
      assert.equal(progress[1]!.percent, 25);
      assert.ok(progress[1]!.etaSeconds! > progress[0]!.etaSeconds!, 'a quarter done after longer: more time left');
      assert.deepEqual(Object.keys(progress[2]!), ['value'], 'a value that is not a number has no percent or time remaining');
      const done = await (await fetch(`${stack.baseUrl}/task/${id}`)).json() as { status: string; progress?: unknown };
      assert.equal(done.status, 'done');
      assert.equal(done.progress, undefined, 'a finished task shows no progress');
      const patavi = await updates;
      assert.equal(patavi.code, 1000);
      assert.deepEqual(patavi.messages.map((m) => [m.eventType, m.eventData]), [
        ['progress', 50], ['progress', { progress: 25 }], ['progress', 'half'],
        ['done', { href: `${stack.baseUrl}/task/${id}/results` }],
      ]);
    } finally {
      client.close();
    }
  });

  test('slow consumer: a client that does not read is closed with 4008 and told to resume; resuming replays large events', async () => {
    // A second server with a tiny send buffer, reading the same event log.
    const slow = await startStack(backend, { settings: { maxStreamBufferBytes: 16 * 1024 }, recorder: false });
    try {
      const client = await EventSocket.open(`${slow.baseUrl.replace(/^http/, 'ws')}/events`);
      try {
        client.subscribe('big', { filter: { services: ['bulky'] } });
        await client.until(() => client.message('live', 'big'), 'live');
        const base = await backend.store.lastEventId();
        // From here on the client reads nothing (it still could write).
        const raw = (client.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
        raw.pause();
        // About 24 MB of events: more than the kernel's socket buffers on both ends hold.
        const ids = await submitAll(stack.baseUrl, 'bulky', Array.from({ length: 8 }, () => ({ count: 12, size: 256 * 1024 })));
        await storeEnded(ids);
        // The server gives up on the client...
        await eventually(() => [...slow.app.websocketServer.clients].every((c) => c.readyState !== WebSocket.OPEN) || undefined, 'the server to close the slow socket', 60_000);
        // ...and once the client reads again, it finds the close after what was sent before it.
        raw.resume();
        await eventually(() => client.closed, 'the close frame', 60_000);
        assert.equal(client.closed!.code, 4008);
        assert.match(client.closed!.reason, /resume/);
        const got = client.ids('big');
        const all = await storedIds(filterOf({ services: ['bulky'] }), base);
        assert.ok(got.length < all.length, `only part of the stream was sent (${got.length} of ${all.length})`);
        assert.deepEqual(got, all.slice(0, got.length), 'what was sent is a gapless prefix');

        // Resuming from the last id received replays the rest (megabytes of large events) to a
        // client that reads: paced, it is not mistaken for a slow one.
        const again = await EventSocket.open(`${stack.baseUrl.replace(/^http/, 'ws')}/events`);
        try {
          again.subscribe('big', { filter: { services: ['bulky'] }, since: got.at(-1) ?? base });
          await again.until(() => again.message('live', 'big'), 'the rest');
          assert.deepEqual([...got, ...again.ids('big')], all);
        } finally {
          again.close();
        }
        // The same over SSE.
        const sse = await readSse(`${stack.baseUrl}/events?service=bulky&since=${base}`, { stopWhen: (events) => events.length >= all.length });
        assert.deepEqual(sse.events.map((e) => e.id), all);
      } finally {
        client.close();
      }
    } finally {
      await slow.close();
    }
  });
});
