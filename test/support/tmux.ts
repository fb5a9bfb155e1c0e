/**
 * A real terminal for tests of what a person sees: a command run in a tmux pane on a private tmux
 * server, its screen read back, keys typed into it (Ctrl-C included).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pane {
  /** The text on screen now. */
  screen(): Promise<string>;
  /** Waits until the screen matches; fails with the screen's text if it never does. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Keys as tmux names them: 'C-c', 'Enter', or literal text. */
  keys(...keys: string[]): Promise<void>;
  close(): Promise<void>;
}

/** Runs `command` (a shell command line) in a new pane `columns` wide; the pane stays after it exits. */
export async function openPane(command: string, options: { columns?: number; rows?: number; env?: Record<string, string> } = {}): Promise<Pane> {
  const socket = `errand-test-${randomBytes(4).toString('hex')}`;
  const tmux = (...args: string[]) => run('tmux', ['-L', socket, ...args], { env: { ...process.env, ...options.env } });
  // The command's exit is followed by its status and a long sleep, so the screen can still be read.
  await tmux('new-session', '-d', '-s', 'test', '-x', String(options.columns ?? 100), '-y', String(options.rows ?? 20), `${command}; echo EXIT=$?; sleep 600`);
  const screen = async () => (await tmux('capture-pane', '-p', '-t', 'test')).stdout;
  return {
    screen,
    async waitFor(pattern, timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const text = await screen();
        const match = text.match(pattern);
        if (match) return match;
        if (Date.now() > until) throw new Error(`the terminal never showed ${pattern}; it shows:\n${text}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async keys(...keys) {
      await tmux('send-keys', '-t', 'test', ...keys);
    },
    async close() {
      await tmux('kill-server').catch(() => {});
    },
  };
}
