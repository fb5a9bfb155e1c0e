import pino from 'pino';
import { inlineManifest } from '../src/core/index.ts';
import { createRExecutor } from '../src/worker/index.ts';
const ex = createRExecutor({ manifest: inlineManifest('chatty', { runtime: 'r', entry: 'chatty.R' }), folder: '/work/main/test/fixtures/r-services/chatty', size: 1, rscript: 'Rscript', logger: pino({ level: 'debug' }) });
await ex.warm();
for (const lines of [10, 300, 3000]) {
  const t = performance.now();
  const out = await ex.run({ taskId: 'aaaaaaaaaaaaaaaa', service: 'chatty', input: { lines }, signal: new AbortController().signal, progress: () => {} });
  console.log(lines, performance.now() - t, out.status, out.console?.length);
}
await ex.close();
