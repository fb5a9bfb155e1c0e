/**
 * What a running task prints, passed on as it is printed (issue 15): text gathered over one
 * interval and sent together, each message at most MAX_CONSOLE_CHUNK_BYTES, and at most `limit`
 * bytes a task in all. Past that, one line says the rest comes with the result (whose console is
 * the end of what was printed), so a script that prints without pause cannot flood the broker,
 * the event log or its watchers.
 */
import { MAX_CONSOLE_CHUNK_BYTES } from '../core/index.ts';

export interface ConsoleStream {
  /** Text the script printed. */
  report(text: string): void;
  /** Sends what is gathered now; resolves once every send so far has settled. */
  flush(): Promise<void>;
}

/** `text` in pieces of at most `size` bytes, never splitting a character (a character longer than `size` ends it). */
export function splitByBytes(text: string, size: number): string[] {
  const bytes = Buffer.from(text, 'utf8');
  const pieces: string[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(bytes.length, start + Math.max(0, size));
    while (end < bytes.length && end > start && (bytes[end]! & 0xc0) === 0x80) end--;
    if (end === start) break;
    pieces.push(bytes.subarray(start, end).toString('utf8'));
    start = end;
  }
  return pieces;
}

export function createConsoleStream(send: (text: string) => Promise<void>, intervalMs: number, limit: number): ConsoleStream {
  let gathered = '';
  let sentBytes = 0;
  let full = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let sending: Promise<void> = Promise.resolve();

  const sendNow = (): void => {
    timer = undefined;
    if (gathered === '') return;
    let text = gathered;
    gathered = '';
    const room = limit - sentBytes;
    const size = Buffer.byteLength(text, 'utf8');
    if (size > room) {
      text = `${splitByBytes(text, Math.max(0, room))[0] ?? ''}\n[… live output stops here, at ${limit} bytes; the end of it is kept with the task's result]\n`;
      full = true;
    }
    sentBytes += Math.min(size, room);
    for (const piece of splitByBytes(text, MAX_CONSOLE_CHUNK_BYTES)) sending = sending.then(() => send(piece)).catch(() => {});
  };

  return {
    report(text) {
      if (full || text === '') return;
      gathered += text;
      timer ??= setTimeout(sendNow, intervalMs);
    },
    flush() {
      if (timer) clearTimeout(timer);
      sendNow();
      return sending;
    },
  };
}
