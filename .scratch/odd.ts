import pino from 'pino';
import { inlineManifest } from '../src/core/index.ts';
import { createRExecutor } from '../src/worker/index.ts';
const ex = createRExecutor({ manifest: inlineManifest('odd', { runtime: 'r', entry: 'odd.R' }), folder: '/work/main/test/fixtures/r', size: 1, rscript: 'Rscript', logger: pino({ level: 'debug' }) });
await ex.warm();
for (const input of [{ action: 'bytes' }, null, { action: 'null' }]) {
  const out = await ex.run({ taskId: 'aaaaaaaaaaaaaaaa', service: 'odd', input, signal: new AbortController().signal, progress: () => {} });
  console.log(JSON.stringify(out));
}
await ex.close();
