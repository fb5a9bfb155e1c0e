import { writeFileSync } from 'node:fs';
const mod = await import('../src/server/routes/dashboard.ts');
let html = '';
const app: any = { get: (_p: string, h: any) => { html ||= 'x'; app.h = h; } };
mod.registerDashboardRoutes(app, { authorize: () => ({}) } as any);
const reply: any = { type: () => reply, send: (b: string) => { html = b; return reply; } };
await app.h({ headers: {} }, reply);
writeFileSync('.scratch/page.js', html.slice(html.indexOf('<script>') + 8, html.indexOf('</script>')));
