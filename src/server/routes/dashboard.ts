/**
 * `GET /`: a small page to submit a task and watch it (the full dashboard comes later). Patavi's
 * clients use `GET /` with their API key as a health check, so a valid key (or none) gets 200.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteContext } from '../context.ts';

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Errand</title>
<style>body{font:15px system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}
label{display:block;margin:.6rem 0 .2rem}input,textarea{width:100%;font:14px ui-monospace,monospace}
progress{width:100%}pre{background:#f4f4f4;padding:.6rem;overflow:auto}</style></head>
<body><h1>Errand is running</h1>
<p>Submit a task to a service and watch it run. API: <code>POST /task?service=NAME</code>; see docs/api.md.</p>
<form id="f"><label>API key or token (when the server asks for one; kept for this tab only) <input id="key" type="password" autocomplete="off"></label>
<label>Service <select id="service"></select></label>
<p id="about"></p>
<label>TTL (ISO 8601, empty keeps the task) <input id="ttl" value="PT1H"></label>
<label>Input JSON <textarea id="input" rows="6">{}</textarea></label>
<p><button>Submit</button></p></form>
<progress id="bar" max="100" value="0"></progress><pre id="log"></pre>
<script>
const log = (x) => { document.getElementById('log').textContent += x + '\\n'; };
// The credential goes in Authorization; the task's own links carry their access token for the socket.
const keyInput = document.getElementById('key');
keyInput.value = sessionStorage.getItem('errand-key') || '';
const auth = () => (keyInput.value ? { authorization: 'Bearer ' + keyInput.value } : {});
const load = () => fetch('/services', { headers: auth() }).then((r) => r.json()).then(({ services, error }) => {
  if (error) return log('error: ' + JSON.stringify(error));
  const select = document.getElementById('service');
  select.length = 0;
  for (const s of services) select.add(new Option(s.name + ' ' + s.version, s.name));
  if (services.some((s) => s.name === 'slow')) select.value = 'slow';
  select.onchange = pick;
  if (services.length) pick();
});
keyInput.onchange = () => { sessionStorage.setItem('errand-key', keyInput.value); load(); };
// The registry fills the list; choosing a service shows its description and example input.
const pick = async () => {
  const name = document.getElementById('service').value;
  const s = await (await fetch('/services/' + encodeURIComponent(name), { headers: auth() })).json();
  document.getElementById('about').textContent = (s.description || '') + (s.online === false ? ' (no worker online)' : '');
  if (s.example !== undefined) document.getElementById('input').value = JSON.stringify(s.example, null, 2);
};
load();
document.getElementById('f').onsubmit = async (e) => {
  e.preventDefault();
  document.getElementById('log').textContent = '';
  const q = new URLSearchParams({ service: document.getElementById('service').value });
  const ttl = document.getElementById('ttl').value; if (ttl) q.set('ttl', ttl);
  const res = await fetch('/task?' + q, { method: 'POST', headers: { 'content-type': 'application/json', ...auth() }, body: document.getElementById('input').value });
  const task = await res.json();
  if (!res.ok) return log('error: ' + JSON.stringify(task.error));
  log('task ' + task.id + ': ' + task.status);
  const ws = new WebSocket(task._links.updates.href);
  ws.onmessage = async (m) => {
    const msg = JSON.parse(m.data);
    if (msg.eventType === 'progress') {
      const p = typeof msg.eventData === 'number' ? msg.eventData : msg.eventData && msg.eventData.progress;
      if (typeof p === 'number') document.getElementById('bar').value = p;
      log('progress ' + JSON.stringify(msg.eventData));
    } else {
      document.getElementById('bar').value = 100;
      log(msg.eventType + ': ' + JSON.stringify(await (await fetch(msg.eventData.href, { headers: auth() })).json()));
    }
  };
};
</script></body></html>`;

export function registerDashboardRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const page = async (request: FastifyRequest, reply: FastifyReply) => {
    // A credential that is sent must be good (Patavi's clients check their key this way).
    await ctx.auth.caller(request);
    return reply.type('text/html; charset=utf-8').send(PAGE);
  };
  const schema = (operationId: string) => ({
    operationId, tags: ['server'], summary: 'A page to submit a task and watch it',
    description: 'Patavi\'s clients call it with their key as a health check: 200 with a valid credential or none.',
    response: { 200: { description: 'The page.', content: { 'text/html': { schema: { type: 'string' } } } }, 401: { description: 'A credential that is not accepted.', $ref: 'Error#' } },
  });
  app.get('/', { schema: schema('getDashboard') }, page);
  app.get('/index.html', { schema: schema('getDashboardIndexHtml') }, page);
}
