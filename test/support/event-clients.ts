/** Clients of the event streams, as an application would write them: SSE and WS /events. */
import { get } from 'node:http';
import type { ClientRequest } from 'node:http';
import { WebSocket } from 'ws';
import type { EventJson } from '../../src/core/index.ts';

export interface EventCollector {
  events: EventJson[];
  /** Resolves once `done(events)` holds. */
  until(done: (events: EventJson[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
  close(): void;
}

function collector(close: () => void): EventCollector & { push(e: EventJson): void; fail(err: Error): void } {
  const events: EventJson[] = [];
  const waiters = new Set<() => void>();
  let failure: Error | undefined;
  return {
    events,
    push(event) { events.push(event); waiters.forEach((w) => w()); },
    fail(err) { failure = err; waiters.forEach((w) => w()); },
    until(done, what, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (failure) { waiters.delete(check); clearTimeout(timer); reject(failure); }
          else if (done(events)) { waiters.delete(check); clearTimeout(timer); resolve(); }
        };
        const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${events.length} events so far)`)); }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close,
  };
}

/** Reads `GET <url>` as server-sent events (node:http: closing it closes the connection at once). */
export function readEventSource(url: string, headers: Record<string, string> = {}): EventCollector & { status: Promise<number> } {
  let request: ClientRequest | undefined;
  let closed = false;
  const c = collector(() => { closed = true; request?.destroy(); });
  const status = new Promise<number>((resolve) => {
    request = get(url, { headers: { accept: 'text/event-stream', ...headers } }, (response) => {
      resolve(response.statusCode ?? 0);
      response.setEncoding('utf8');
      let text = '';
      // The server ending the stream (a restart, a slow-consumer close) is a drop the client resumes from.
      response.on('close', () => { if (!closed) c.fail(new Error('the server ended the stream')); });
      response.on('data', (chunk: string) => {
        text += chunk;
        let end: number;
        while ((end = text.indexOf('\n\n')) >= 0) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          const data = block.split('\n').find((line) => line.startsWith('data: '));
          const type = block.split('\n').find((line) => line.startsWith('event: '));
          if (data && type !== 'event: error') c.push(JSON.parse(data.slice(6)) as EventJson);
        }
      });
    });
    request.on('error', (err) => { if (!closed) c.fail(err); });
  });
  return Object.assign(c, { status });
}

/** One `WS /events` subscription; `headers` go with the upgrade (credentials). */
export function readEventSocket(url: string, subscribe: Record<string, unknown>, headers: Record<string, string> = {}): EventCollector & { socket: WebSocket } {
  const socket = new WebSocket(url, { headers });
  let closing = false;
  const c = collector(() => { closing = true; socket.close(); });
  socket.on('open', () => socket.send(JSON.stringify({ type: 'subscribe', subscription: 's', ...subscribe })));
  socket.on('message', (raw) => {
    const message = JSON.parse(raw.toString()) as { type: string; event?: EventJson; error?: unknown };
    if (message.type === 'event') c.push(message.event!);
    else if (message.type === 'error') c.fail(new Error(`subscription error: ${JSON.stringify(message.error)}`));
  });
  socket.on('error', (err) => c.fail(err));
  socket.on('close', (code, reason) => { if (!closing) c.fail(new Error(`the server closed the socket: ${code} ${reason.toString()}`)); });
  return Object.assign(c, { socket });
}

/** Ids strictly increasing: nothing twice, nothing out of order. */
export function assertInOrderOnce(events: EventJson[]): string | undefined {
  for (let i = 1; i < events.length; i++) {
    if (events[i]!.id <= events[i - 1]!.id) return `event ${events[i]!.id} came after ${events[i - 1]!.id} (index ${i})`;
  }
  return undefined;
}
