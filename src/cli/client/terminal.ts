/**
 * The terminal the client commands talk to: where output goes, whether a person is watching
 * (progress is drawn on stderr only when it is a terminal, so stdout carries the result alone),
 * how to ask a yes/no question, and Ctrl-C. The one place these commands touch process I/O.
 */
import { openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { ReadStream } from 'node:tty';

export interface Terminal {
  out: { write(text: string): unknown };
  err: { write(text: string): unknown };
  /** A person watches stderr: draw and redraw the progress line. */
  interactive: boolean;
  /** stdout is a terminal: what a script wrote is shown there without its control characters. */
  outInteractive: boolean;
  columns(): number;
  /** The answer typed, or null when there is nobody to ask or the question was interrupted. */
  ask(question: string): Promise<string | null>;
  /** Calls `handler` on each Ctrl-C instead of exiting; the returned function restores the default. */
  onInterrupt(handler: () => void): () => void;
}

/** A terminal to read the answer from: stdin when it is one, else /dev/tty (stdin may be the input JSON). */
function questionInput(): NodeJS.ReadableStream | undefined {
  if (process.stdin.isTTY) return process.stdin;
  try {
    return new ReadStream(openSync('/dev/tty', 'r'));
  } catch {
    return undefined;
  }
}

export function processTerminal(): Terminal {
  return {
    out: process.stdout,
    err: process.stderr,
    interactive: Boolean(process.stderr.isTTY),
    outInteractive: Boolean(process.stdout.isTTY),
    columns: () => process.stderr.columns || 80,
    ask(question) {
      const input = questionInput();
      if (!input) return Promise.resolve(null);
      return new Promise((resolve) => {
        const rl = createInterface({ input, output: process.stderr, terminal: true });
        let answered = false;
        const finish = (answer: string | null) => {
          if (answered) return;
          answered = true;
          rl.close();
          if (input === process.stdin) process.stdin.pause();
          else (input as ReadStream).destroy();
          resolve(answer);
        };
        // Ctrl-C while asked: readline hears it, not the process.
        rl.on('SIGINT', () => {
          process.stderr.write('\n');
          finish(null);
        });
        rl.on('close', () => finish(null));
        rl.question(question, (answer) => finish(answer));
      });
    },
    onInterrupt(handler) {
      process.on('SIGINT', handler);
      return () => process.off('SIGINT', handler);
    },
  };
}
