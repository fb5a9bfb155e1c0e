/**
 * After a writer commits events: each terminal one leaves Patavi's `<id>.end` message on
 * `rpc_status` at once, and the events are numbered (the store's sequencer, run here, one pass
 * at a time per process) and announced on `errand.events`, one broadcast per pass. Writers do
 * not wait for any of it. Whatever a lost broadcast or a crash between commit and numbering
 * leaves behind is caught up: servers read missing ids from the database, and every publisher
 * numbers what is still pending once a second.
 */
import type { Logger } from 'pino';
import { endMessage, endRoutingKey, eventToJson, TERMINAL_EVENT_TYPES } from '../core/index.ts';
import type { NewEvent, TaskEvent, TaskStatus } from '../core/index.ts';
import type { Broker } from './broker.ts';

export interface EventPublisher {
  /** Called once `events` are committed. */
  written(events: NewEvent[]): void;
  /** Numbers and announces everything pending now; resolves when done (or failed and logged). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** What the publisher needs of the store. */
export interface EventSequencing {
  sequenceEvents(limit?: number): Promise<TaskEvent[]>;
  hasPendingEvents(): Promise<boolean>;
}

export interface EventPublisherOptions {
  /** Base for the results href in `<id>.end` (a function: read when sent); without it no end message is sent. */
  publicUrl?: string | (() => string);
  /** How often leftovers are numbered (default 1 s). */
  sweepIntervalMs?: number;
}

export function createEventPublisher(store: EventSequencing, broker: Broker, logger: Logger, options: EventPublisherOptions = {}): EventPublisher {
  const inFlight = new Set<Promise<void>>();
  let running: Promise<void> | undefined;
  let again = false;

  const track = (work: Promise<void>): void => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };

  function announce(events: TaskEvent[]): void {
    track(broker.broadcast('events', Buffer.from(JSON.stringify(events.map(eventToJson)))).catch((err: Error) => {
      logger.warn({ err: err.message, events: events.length }, 'could not broadcast events; servers will read them from the database');
    }));
  }

  /** One pass at a time; a request during a pass makes one more pass after it. */
  function sequence(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          for (;;) {
            const events = await store.sequenceEvents();
            if (events.length > 0) announce(events);
            if (events.length < 10_000) break;
          }
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'could not number events; will retry');
        }
      } while (again);
    })().finally(() => { running = undefined; });
    return running;
  }

  function endMessages(events: NewEvent[]): void {
    if (options.publicUrl === undefined) return;
    const base = typeof options.publicUrl === 'function' ? options.publicUrl() : options.publicUrl;
    for (const event of events) {
      if (!TERMINAL_EVENT_TYPES.has(event.type)) continue;
      const message = endMessage(event.taskId, event.type as TaskStatus, `${base}/task/${event.taskId}/results`);
      track(broker.publishStatus(endRoutingKey(event.taskId), Buffer.from(JSON.stringify(message))).catch((err: Error) => {
        logger.debug({ taskId: event.taskId, err: err.message }, 'could not publish the end message');
      }));
    }
  }

  const sweep = setInterval(() => {
    if (running) return;
    store.hasPendingEvents().then((pending) => { if (pending) void sequence(); }, () => undefined);
  }, options.sweepIntervalMs ?? 1000);
  sweep.unref();

  return {
    written(events) {
      if (events.length === 0) return;
      endMessages(events);
      void sequence();
    },
    async flush() {
      await sequence();
      await Promise.allSettled([...inFlight]);
    },
    async close() {
      clearInterval(sweep);
      await this.flush();
    },
  };
}
