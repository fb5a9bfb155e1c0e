/** Node services for tests, each a real executor behind the real worker. */
import { inlineManifest } from '../../src/core/index.ts';
import type { Manifest } from '../../src/core/index.ts';
import { createNodeExecutor } from '../../src/worker/index.ts';
import type { NodeServiceRun, ServiceDefinition } from '../../src/worker/index.ts';

export function service(name: string, run: NodeServiceRun, concurrency = 1, manifest: Partial<Manifest> = {}): ServiceDefinition {
  return {
    manifest: inlineManifest(name, { version: '1.0.0', description: `test service ${name}`, concurrency, ...manifest }),
    name,
    concurrency,
    executor: createNodeExecutor(run),
    docs: null,
  };
}

export const echo = (name = 'echo', concurrency = 8): ServiceDefinition => service(name, (input) => input, concurrency);

/** Reports three progress values, saves a file when asked, fails when asked. */
export const steps = (name = 'steps'): ServiceDefinition =>
  service(name, async (input, ctx) => {
    const params = (input ?? {}) as { fail?: boolean; file?: boolean; pauseMs?: number };
    for (const progress of [10, 50, 90]) {
      ctx.progress({ progress });
      await new Promise((resolve) => setTimeout(resolve, params.pauseMs ?? 20));
    }
    if (params.fail) throw new Error('asked to fail');
    if (params.file) {
      ctx.saveFile('plot.svg', '<svg xmlns="http://www.w3.org/2000/svg"/>', 'image/svg+xml');
      return { plot: { href: 'plot.svg', 'content-type': 'image/svg+xml' } };
    }
    return { ok: true, input: params };
  });

/** Holds each task until released; records the tasks it saw. */
export function gate(name = 'gate'): { definition: ServiceDefinition; started: string[]; finished: string[]; release(): void; whenStarted(n: number): Promise<void> } {
  const started: string[] = [];
  const finished: string[] = [];
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const definition = service(name, async (input, ctx) => {
    started.push(ctx.taskId);
    waiters.filter((w) => started.length >= w.n).forEach((w) => w.resolve());
    await opened;
    finished.push(ctx.taskId);
    return input;
  }, 4);
  return {
    definition,
    started,
    finished,
    release: () => open(),
    whenStarted: (n) => new Promise<void>((resolve) => (started.length >= n ? resolve() : waiters.push({ n, resolve }))),
  };
}
