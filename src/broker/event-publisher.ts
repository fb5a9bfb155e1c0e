/**
 * The process's one event pipeline: after a writer commits events (already numbered by their
 * transaction, see store/sql-events.ts), each terminal one leaves Patavi's `<id>.end` message on
 * `rpc_status`, and the events are announced on `errand.events`, those committed by the same
 * burst of callbacks in one broadcast. Writers do not wait for any of it, and neither message
 * waits for the broker's confirm (Announcement.unconfirmed): a lost one costs nothing but time,
 * since servers read what they miss from the database (server/event-hub.ts), and a failed one was
 * only ever logged.
 *
 * Both leave on the tick after the writer's callbacks (process.nextTick), not on a later turn of
 * the loop: the broker adapter gathers a tick's frames into one socket write (amqp/index.ts), so
 * a recorder's end message, broadcast and acknowledgement of the result cost one write, and a
 * server's broadcast rides with the task's message. On a virtual machine a write that wakes
 * another process costs about 0.3 ms of CPU (docs/benchmarks.md).
 */
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import { endMessage, endRoutingKey, eventToJson, TERMINAL_EVENT_TYPES } from '../core/index.ts';
import type { TaskEvent, TaskStatus } from '../core/index.ts';
import type { Broker } from './broker.ts';
import { ORIGINS } from './origin-routing.ts';

export interface EventPublisher {
  /** Called once `events` are committed. */
  written(events: TaskEvent[]): void;
  /**
   * Hands `listener` every batch this process commits, as it is announced: a server's own event
   * hub hears its own recorder at once, without the broker's round trip (about 1 ms, and a
   * process's wake-up, per task). Returns the way to stop.
   */
  onAnnounce(listener: (events: TaskEvent[]) => void): () => void;
  /** This pipeline's origin on `errand.events` (origin-routing.ts): its own hub need not hear the broker's copy. */
  readonly origin: number;
  /** Resolves when everything written so far has been announced (or failed and logged). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface EventPublisherOptions {
  /** Base for the results href in `<id>.end` (a function: read when sent); without it no end message is sent. */
  publicUrl?: string | (() => string);
}

export function createEventPublisher(broker: Broker, logger: Logger, options: EventPublisherOptions = {}): EventPublisher {
  const inFlight = new Set<Promise<void>>();
  let waiting: TaskEvent[] = [];
  let scheduled = false;
  const local = new Set<(events: TaskEvent[]) => void>();
  const origin = randomInt(ORIGINS);

  const track = (work: Promise<void>): void => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };

  function announce(): void {
    scheduled = false;
    const events = waiting.sort((a, b) => a.id - b.id);
    waiting = [];
    if (events.length === 0) return;
    endMessages(events);
    track(broker.broadcast('events', Buffer.from(JSON.stringify(events.map(eventToJson))), { unconfirmed: true, origin }).catch((err: Error) => {
      logger.warn({ err: err.message, events: events.length }, 'could not broadcast events; servers will read them from the database');
    }));
    for (const listener of local) {
      try {
        listener(events);
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'a local event listener failed');
      }
    }
  }

  function endMessages(events: TaskEvent[]): void {
    if (options.publicUrl === undefined) return;
    const base = typeof options.publicUrl === 'function' ? options.publicUrl() : options.publicUrl;
    for (const event of events) {
      if (!TERMINAL_EVENT_TYPES.has(event.type)) continue;
      const message = endMessage(event.taskId, event.type as TaskStatus, `${base}/task/${event.taskId}/results`);
      track(broker.publishStatus(endRoutingKey(event.taskId), Buffer.from(JSON.stringify(message)), {}, { unconfirmed: true }).catch((err: Error) => {
        logger.debug({ taskId: event.taskId, err: err.message }, 'could not publish the end message');
      }));
    }
  }

  return {
    written(events) {
      if (events.length === 0) return;
      waiting.push(...events);
      // Batches committed by the same burst of callbacks (submissions whose confirms arrived
      // together, a recorder's batch) share one broadcast.
      if (!scheduled) {
        scheduled = true;
        process.nextTick(announce);
      }
    },
    origin,
    onAnnounce(listener) {
      local.add(listener);
      return () => { local.delete(listener); };
    },
    async flush() {
      if (scheduled) announce();
      await Promise.allSettled([...inFlight]);
    },
    async close() {
      await this.flush();
    },
  };
}
