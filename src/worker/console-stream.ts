/**
 * What a running task prints, passed on as it is printed (issue 15): text gathered over one
 * interval and sent together, each message at most MAX_CONSOLE_CHUNK_BYTES, and at most `limit`
 * bytes a task in all. Past that, one line says the rest comes with the result (whose console is
 * the end of what was printed), so a script that prints without pause cannot flood the broker,
 * the event log or its watchers.
 */
import { firstBytes, MAX_CONSOLE_CHUNK_BYTES, splitByBytes } from '../core/index.ts';

export interface ConsoleStream {
  /** Text the script printed; false once the task's live output is full (more is dropped). */
  report(text: string): boolean;
  /** Sends what is gathered now; resolves once every send so far has settled. */
  flush(): Promise<void>;
}

export function createConsoleStream(send: (text: string) => Promise<void>, intervalMs: number, limit: number): ConsoleStream {
  let gathered = '';
  /** Bytes gathered or sent: past `limit`, the rest is not even held. */
  let taken = 0;
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
      text = `${firstBytes(text, room)}\n[… live output stops here, at ${limit} bytes; the end of it is kept with the task's result]\n`;
      full = true;
    }
    sentBytes += Math.min(size, room);
    for (const piece of splitByBytes(text, MAX_CONSOLE_CHUNK_BYTES)) sending = sending.then(() => send(piece)).catch(() => {});
  };

  return {
    report(text) {
      if (full || taken > limit) return false;
      if (text === '') return true;
      // Held up to one byte past the limit: enough to know the output went over it.
      const bytes = Buffer.byteLength(text, 'utf8');
      gathered += bytes <= limit + 1 - taken ? text : firstBytes(text, limit + 1 - taken);
      taken += bytes;
      timer ??= setTimeout(sendNow, intervalMs);
      return true;
    },
    flush() {
      if (timer) clearTimeout(timer);
      sendNow();
      return sending;
    },
  };
}
