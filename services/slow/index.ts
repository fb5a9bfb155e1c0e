/**
 * Like Patavi's slow.R: counts to 100 over `duration` seconds (default 3) reporting
 * `{progress: i}`, unless `silent`; fails when `fail` is true; returns its input.
 */
import type { NodeServiceContext } from '../../src/worker/index.ts';

interface SlowInput { duration?: number; silent?: boolean; fail?: boolean }

export async function run(input: SlowInput | null, ctx: NodeServiceContext): Promise<unknown> {
  const params = input ?? {};
  const duration = typeof params.duration === 'number' && params.duration >= 0 ? Math.min(params.duration, 3600) : 3;
  for (let i = 1; i <= 100; i++) {
    await new Promise((resolve) => setTimeout(resolve, (duration * 1000) / 100));
    if (ctx.signal.aborted) throw new Error('stopped');
    if (!params.silent) ctx.progress({ progress: i });
  }
  if (params.fail) throw new Error('failed because the input asked for it (fail: true)');
  return params;
}
