import { spawnErrand } from '../test/support/processes.ts';
import { WebSocket } from 'ws';
const dev = spawnErrand(['dev', '--port', '0', '--data-dir', '/tmp/rgap-dev', '--services', 'bench/services', '--log-level', 'info']);
const deadline = Date.now() + 60000;
while (!/Open (\S+)\//.test(dev.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
const base = /Open (\S+)\//.exec(dev.output())![1]!;
async function one(service: string): Promise<number> {
  const t = performance.now();
  const res = await fetch(`${base}/task?service=${service}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
  const task = (await res.json()) as any;
  await new Promise<void>((resolve) => { const ws = new WebSocket(task._links.updates.href); ws.on('message', (d) => { const m = JSON.parse(d.toString()); if (m.eventType !== 'progress') { ws.close(); resolve(); } }); });
  return performance.now() - t;
}
for (const service of ['noop', 'rnoop', 'noop', 'rnoop']) {
  const xs: number[] = [];
  for (let i = 0; i < 200; i++) xs.push(await one(service));
  xs.sort((a, b) => a - b);
  console.log(service, 'p50', xs[100]!.toFixed(2));
}
const lines = dev.output().split('\n').filter((l) => l.includes('task finished')).map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean);
for (const service of ['noop', 'rnoop']) {
  const ms = lines.filter((l: any) => l.service === service).map((l: any) => l.ms).sort((a: number, b: number) => a - b);
  console.log(service, 'worker ms p50', ms[Math.floor(ms.length / 2)], 'n', ms.length);
}
await dev.stop();
