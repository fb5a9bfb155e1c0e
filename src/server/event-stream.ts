/**
 * A client's stream: the events after `since` (or the last N) that pass its filter, read from the
 * database, then the live ones from the hub, without a gap or a repeat. The hub listener is in
 * place before the replay is read, and the replay stops at the hub's position at that moment:
 * what is older comes from the database, what is newer from the hub (held until the replay ends).
 */
import type { EventFilter, TaskEvent } from '../core/index.ts';
import type { EventLog } from '../store/index.ts';
import type { EventHub } from './event-hub.ts';

export interface StreamStart {
  /** Replay the events after this id. */
  since?: number;
  /** Replay the last `last` events. Neither given: live events only. */
  last?: number;
}

export interface StreamSink {
  /** Hands events to the client in order (it may end the stream if the client is too slow). */
  write(events: TaskEvent[]): void;
  /** Resolves when the client can take more (paces the replay). */
  ready(): Promise<void>;
  readonly open: boolean;
}

export interface EventStream {
  /** The id the stream starts after. */
  readonly from: number;
  /** True when events after `from` were already trimmed from the log by age. */
  readonly truncated: boolean;
  /**
   * Sends the replay, then switches to live; resolves with the hub position the replay reached.
   * `onReplayed` is told that position between the last replayed event and the first live one.
   */
  replay(onReplayed?: (position: number) => void): Promise<number>;
  close(): void;
}

const PAGE = 500;
/** Live events held while a replay runs; more means the client cannot keep up. */
export const MAX_HELD_EVENTS = 10_000;

export class SlowConsumerError extends Error {}

export async function openEventStream(hub: EventHub, store: EventLog, filter: EventFilter, start: StreamStart, sink: StreamSink): Promise<EventStream> {
  const held: TaskEvent[] = [];
  let live = false;
  let overflow = false;
  // A client resuming from an id this server has not reached yet must not get what it has.
  const floor = start.since ?? -1;
  const listener = hub.listen(filter, (event) => {
    if (event.id <= floor) return;
    if (live) sink.write([event]);
    else if (held.length < MAX_HELD_EVENTS) held.push(event);
    else overflow = true;
  });
  const target = listener.from;
  let from = target;
  let lastPage: TaskEvent[] | undefined;
  if (start.last !== undefined) {
    lastPage = await store.lastEvents(filter, target, start.last);
    from = lastPage.length > 0 ? lastPage[0]!.id - 1 : target;
  } else if (start.since !== undefined) {
    from = start.since;
  }
  let truncated = false;
  if (start.since !== undefined && start.since < target) {
    const oldest = await store.oldestEventId();
    truncated = oldest !== undefined && oldest > start.since + 1;
  }

  /**
   * One event at a time, each once the client has room: a page written at once could exceed the
   * client's buffer limit by itself (500 large progress values) and end a client that reads fast.
   */
  async function send(events: TaskEvent[]): Promise<void> {
    for (const event of events) {
      if (!sink.open) return;
      sink.write([event]);
      await sink.ready();
    }
  }

  return {
    from,
    truncated,
    async replay(onReplayed) {
      try {
        if (lastPage) await send(lastPage);
        else if (start.since !== undefined) {
          for (let cursor = from; cursor < target && sink.open;) {
            const page = await store.readEvents(filter, cursor, target, PAGE);
            if (page.length === 0) break;
            await send(page);
            cursor = page[page.length - 1]!.id;
            if (page.length < PAGE) break;
          }
        }
        if (overflow) throw new SlowConsumerError('too many live events arrived during the replay');
        onReplayed?.(target);
        sink.write(held.splice(0));
        live = true;
        return target;
      } catch (err) {
        listener.close();
        throw err;
      }
    },
    close: () => listener.close(),
  };
}

/** Each event's JSON is built once, however many streams send it. */
const jsonText = new WeakMap<TaskEvent, string>();
export function eventText(event: TaskEvent): string {
  let text = jsonText.get(event);
  if (text === undefined) {
    text = JSON.stringify({ id: event.id, taskId: event.taskId, service: event.service, type: event.type, data: event.data, at: event.at.toISOString() });
    jsonText.set(event, text);
  }
  return text;
}
