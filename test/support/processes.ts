/** Runs the real `errand` command (bin/errand.js, the build in dist/) as a child process, as an operator would. */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureBuilt } from './build.ts';

export const ERRAND_BIN = fileURLToPath(new URL('../../bin/errand.js', import.meta.url));

export interface RunningErrand {
  child: ChildProcess;
  output(): string;
  /** Resolves with the first log line (JSON) for which `match` holds. */
  waitForLog(match: (line: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function spawnErrand(args: string[], env: Record<string, string> = {}): RunningErrand {
  ensureBuilt();
  // ERRAND_NODE_ARGS: flags for node itself (such as --cpu-prof, which NODE_OPTIONS refuses), for profiling.
  const nodeArgs = (env.ERRAND_NODE_ARGS ?? process.env.ERRAND_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, ERRAND_BIN, ...args], { env: { ...process.env, ERRAND_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    listeners.forEach((l) => l());
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    output: () => text,
    exited,
    waitForLog(match, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (const line of text.split('\n')) {
            if (!line.startsWith('{')) continue;
            try {
              const parsed = JSON.parse(line) as Record<string, any>;
              if (match(parsed)) {
                cleanup();
                return resolve(parsed);
              }
            } catch { /* a partial line */ }
          }
        };
        const timer = setTimeout(() => { cleanup(); reject(new Error(`no matching log line in ${timeoutMs} ms; output:\n${text}`)); }, timeoutMs);
        const onExit = () => { cleanup(); reject(new Error(`errand exited; output:\n${text}`)); };
        const cleanup = () => { clearTimeout(timer); listeners.delete(check); child.off('exit', onExit); };
        listeners.add(check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Stops every process; one that has not stopped 10 s after SIGTERM is killed, so a suite never hangs on it. */
export async function stopAll(processes: RunningErrand[]): Promise<void> {
  await Promise.all(processes.map((p) => Promise.race([p.stop(), new Promise((resolve) => setTimeout(resolve, 10_000))]).then(() => p.stop('SIGKILL'))));
}

/**
 * A port free at the moment of asking, for a child process to listen on once it has started.
 * Drawn from below the kernel's ephemeral range, which port 0 and outgoing connections draw
 * from: while the child starts, no socket of another test running beside this one is given it.
 */
export async function freePort(): Promise<number> {
  const low = await ephemeralLow();
  for (;;) {
    const port = PRIVATE_FLOOR + Math.floor(Math.random() * (low - PRIVATE_FLOOR));
    if (await canListen(port)) return port;
  }
}

const PRIVATE_FLOOR = 10_000;

/** The first port of the kernel's ephemeral range (Linux's default when it cannot be read). */
async function ephemeralLow(): Promise<number> {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '32768 60999');
  const low = Number(range.trim().split(/\s+/)[0]);
  return Number.isInteger(low) && low > PRIVATE_FLOOR + 1000 ? low : 32_768;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** `--port P --public-url http://127.0.0.1:P` for an `errand serve` (which requires a public URL) on a free port. */
export async function serveAddressArgs(): Promise<string[]> {
  const port = await freePort();
  return ['--port', String(port), '--public-url', `http://127.0.0.1:${port}`];
}

/** True while a process with this pid exists (signal 0 checks without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
