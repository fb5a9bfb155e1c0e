/**
 * Server-sent events read from a fetch body, so that one code path serves browsers and Node (which
 * has no EventSource) and the client keeps control of headers, reconnects and Last-Event-ID.
 * The parsing itself is eventsource-parser's.
 */
import { createParser } from 'eventsource-parser';
import type { EventSourceMessage } from 'eventsource-parser';
import { ErrandConnectionError } from './errors.ts';

export type ServerSentEvent = EventSourceMessage;

/**
 * Yields each event of the stream as it arrives, until the stream ends. Comments (`: keep-alive`)
 * and `retry:` lines are not events. Cancelling the iteration cancels the body. A body that breaks
 * off (the connection dropped) is an ErrandConnectionError, which a caller may retry.
 */
export async function* readServerSentEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const pending: ServerSentEvent[] = [];
  const parser = createParser({ onEvent: (event) => pending.push(event) });
  const reader = body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (err) {
        throw new ErrandConnectionError(`the event stream broke off: ${(err as Error).message ?? err}`, { cause: err });
      }
      const { done, value } = chunk;
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
      while (pending.length > 0) yield pending.shift()!;
    }
  } finally {
    // On break or error: tell the server we are gone rather than leave the stream open.
    await reader.cancel().catch(() => {});
  }
}
