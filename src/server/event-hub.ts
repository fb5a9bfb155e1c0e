/**
 * One feed of the event log per server process: a single `errand.events` subscription, fanned
 * out in memory to every stream that listens. Events reach listeners exactly once and in id
 * order: the hub hands out only the event right after the last one it handed out, holds any that
 * arrive early, and reads from the database whatever the broadcasts did not bring (a gap that
 * stays open, or a last id in the database beyond its own). Ids are committed in order (see
 * 003_events.sql), so what the database shows after id N is all there is after N.
 */
import type { Logger } from 'pino';
import type { Broker, EventPublisher, Subscription } from '../broker/index.ts';
import { eventFromJson, matchesFilter, statusAfter } from '../core/index.ts';
import type { EventFilter, EventJson, TaskEvent, TaskStatus } from '../core/index.ts';
import type { EventLog } from '../store/index.ts';

export type EventListener = (event: TaskEvent) => void;

export interface HubListener {
  /** The last event id before this listener's first: everything after it reaches the listener. */
  readonly from: number;
  close(): void;
}

/** A task as its events describe it, as of the hub's position. */
export interface KnownTask { status: TaskStatus | 'deleted'; owner: string | null }

export interface EventHub {
  /** Events after the hub's current position that pass `filter` go to `onEvent`, in order. */
  listen(filter: EventFilter, onEvent: EventListener): HubListener;
  /**
   * The task as of `position`, when the hub has handed out its events from its `queued` one on
   * (the latest KNOWN_TASKS such tasks). Every change of a task's status is an event, but one: an
   * ended task's removal at its ttl (the janitor's sweep) writes none. So a task known as queued
   * or running is what a read would say of its status and owner; an ended one may be gone since.
   * Undefined when the hub cannot tell.
   */
  known(taskId: string): KnownTask | undefined;
  /** The id of the last event handed out. */
  readonly position: number;
  readonly listeners: number;
}

export interface EventHubOptions {
  store: EventLog;
  broker: Broker;
  logger: Logger;
  /** How long an early event waits for the ones before it before the database is asked (default 50 ms). */
  gapWaitMs?: number;
  /** How often the hub compares its position with the database's last id (default 1 s). */
  pollIntervalMs?: number;
  /** Told of each event as it is handed out (the delivery-lag metric, issue 14). */
  onDelivered?: (event: TaskEvent) => void;
  /**
   * This process's own event pipeline: what it commits (a server's submissions, its recorder's
   * results) reaches the hub at once, and the broker does not send the hub its copy (the hub
   * listens ignoring the pipeline's origin). Events of other processes still come by broadcast,
   * in the same id order.
   */
  local?: Pick<EventPublisher, 'onAnnounce' | 'origin'>;
}

const PAGE = 1000;
/** Tasks the hub keeps the state of (known()): the latest queued, about 100 bytes each. */
export const KNOWN_TASKS = 10_000;

interface Entry { filter: EventFilter; onEvent: EventListener }

export async function startEventHub(options: EventHubOptions): Promise<EventHub & { close(): Promise<void> }> {
  const { store, logger } = options;
  const log = logger.child({ part: 'event-hub' });
  const gapWaitMs = options.gapWaitMs ?? 50;
  let position = -1; // unknown until the database has said where the log ends
  const early = new Map<number, TaskEvent>();
  const byTask = new Map<string, Set<Entry>>();
  const general = new Set<Entry>();
  let listenerCount = 0;
  let gapTimer: NodeJS.Timeout | undefined;
  let catchingUp: Promise<void> | undefined;
  let closed = false;

  const onDelivered = options.onDelivered;

  const knownTasks = new Map<string, KnownTask>();
  function remember(event: TaskEvent): void {
    if (event.type === 'queued') {
      knownTasks.delete(event.taskId);
      knownTasks.set(event.taskId, { status: 'queued', owner: event.owner ?? null });
      if (knownTasks.size > KNOWN_TASKS) knownTasks.delete(knownTasks.keys().next().value!);
      return;
    }
    const task = knownTasks.get(event.taskId);
    const status = statusAfter(event.type);
    if (task && status) task.status = status;
  }

  function deliver(event: TaskEvent): void {
    position = event.id;
    remember(event);
    onDelivered?.(event);
    const targets = [...(byTask.get(event.taskId) ?? []), ...general];
    for (const entry of targets) {
      if (!matchesFilter(entry.filter, event)) continue;
      try {
        entry.onEvent(event);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'an event listener failed');
      }
    }
  }

  function drain(): void {
    if (position < 0) return;
    for (let next = early.get(position + 1); next; next = early.get(position + 1)) {
      early.delete(next.id);
      deliver(next);
    }
    for (const id of early.keys()) if (id <= position) early.delete(id);
    if (early.size > 0 && !gapTimer) {
      gapTimer = setTimeout(() => { gapTimer = undefined; if (early.size > 0) void catchUp(); }, gapWaitMs);
    }
  }

  /** Reads every event after the position from the database (one reader at a time). */
  function catchUp(): Promise<void> {
    catchingUp ??= (async () => {
      try {
        for (;;) {
          const page = await store.readEvents({}, position, null, PAGE);
          for (const event of page) if (event.id > position) deliver(event);
          if (page.length < PAGE) break;
        }
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'could not read events from the database; will retry');
      } finally {
        catchingUp = undefined;
      }
      drain();
    })();
    return catchingUp;
  }

  /** Committed events, from this process or another: queued by id, handed out without gaps. */
  function offer(events: TaskEvent[]): void {
    for (const event of events) if (event.id > position) early.set(event.id, event);
    drain();
  }

  function onBroadcast(body: Buffer): void {
    let events: EventJson[];
    try {
      events = JSON.parse(body.toString('utf8')) as EventJson[];
    } catch {
      return;
    }
    if (!Array.isArray(events)) return;
    offer(events.filter((json) => typeof json?.id === 'number' && json.id > position).map(eventFromJson));
  }

  // Listen first, then ask where the log ends: nothing committed in between can be missed.
  // The broker's copies of what the local pipeline announces are not sent here at all.
  const subscription: Subscription = await options.broker.listen('events', onBroadcast, options.local ? { ignoreOrigin: options.local.origin } : {});
  const stopLocal = options.local?.onAnnounce(offer);
  position = await store.lastEventId();
  drain();

  const poll = setInterval(() => {
    if (closed || catchingUp) return;
    store.lastEventId().then(
      (last) => { if (last > position) void catchUp(); },
      (err: Error) => log.debug({ err: err.message }, 'could not read the last event id'),
    );
  }, options.pollIntervalMs ?? 1000);
  poll.unref();

  return {
    listen(filter, onEvent) {
      const entry: Entry = { filter, onEvent };
      const sets = filter.tasks ? [...filter.tasks].map((id) => {
        let set = byTask.get(id);
        if (!set) byTask.set(id, (set = new Set()));
        return set;
      }) : [general];
      for (const set of sets) set.add(entry);
      listenerCount++;
      let open = true;
      return {
        from: position,
        close() {
          if (!open) return;
          open = false;
          listenerCount--;
          if (!filter.tasks) general.delete(entry);
          else for (const id of filter.tasks) {
            const set = byTask.get(id);
            set?.delete(entry);
            if (set?.size === 0) byTask.delete(id);
          }
        },
      };
    },
    known: (taskId) => knownTasks.get(taskId),
    get position() { return position; },
    get listeners() { return listenerCount; },
    async close() {
      closed = true;
      stopLocal?.();
      clearInterval(poll);
      clearTimeout(gapTimer);
      await subscription.close();
      await catchingUp;
    },
  };
}
