import pino from 'pino';
import { loadServiceDir } from '../src/worker/index.ts';
const { services, problems } = await loadServiceDir('/work/main/services', { defaultConcurrency: 1, logger: pino({ level: 'warn' }) });
console.log(problems);
const s = services.find((s) => s.name === 'regression')!;
const out = await s.executor.run({ taskId: 'abc', service: 'regression', input: s.manifest.example!.value, signal: new AbortController().signal, progress: () => {} });
console.log(JSON.stringify({ ...out, files: (out as any).files?.map((f: any) => [f.name, f.content.length]) }, null, 1).slice(0, 3000));
await Promise.all(services.map((s) => s.executor.close()));
