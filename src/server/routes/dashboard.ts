/**
 * The dashboard (issue 15). `GET /` answers the page's shell, which loads the bundle scripts/build.js
 * makes from src/dashboard (`GET /dashboard/app.js`, `app.css`). A browser that opens a task's
 * address, `/task/:id` or a task link `/access/<token>/task/:id`, asking for HTML gets the same
 * shell, which shows that task's page; a program asking for JSON gets the task as before.
 *
 * Patavi's clients use `GET /` with their API key as a health check, so a valid key (or none) gets
 * 200 and a key that is not accepted 401. The shell holds no data: the page reads everything
 * through the API with the tab's credential.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteContext } from '../context.ts';

interface Asset { body: Buffer; type: string; version: string }

/** Where the bundle is: dist/dashboard, seen from dist/server/routes (production) or src/server/routes (tests, tsx). */
const BUNDLE_DIRS = ['../../dashboard/', '../../../dist/dashboard/'].map((relative) => fileURLToPath(new URL(relative, import.meta.url)));

const TYPES: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'app.js.map': 'application/json; charset=utf-8',
  'app.css.map': 'application/json; charset=utf-8',
  'app.js.LEGAL.txt': 'text/plain; charset=utf-8',
};

function loadBundle(): Map<string, Asset> | undefined {
  const dir = BUNDLE_DIRS.find((candidate) => existsSync(`${candidate}app.js`));
  if (!dir) return undefined;
  const assets = new Map<string, Asset>();
  for (const [name, type] of Object.entries(TYPES)) {
    if (!existsSync(dir + name)) continue;
    const body = readFileSync(dir + name);
    assets.set(name, { body, type, version: createHash('sha256').update(body).digest('hex').slice(0, 16) });
  }
  return assets;
}

/**
 * The page's script and styles only; data comes from this origin's API and blob: URLs of result
 * files the page fetched. Nothing inline, nothing from elsewhere, no framing.
 */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** `../` back to Errand's root from the address the browser asked for (before /access/<token> was taken off). */
export function pathToRoot(originalUrl: string): string {
  const path = originalUrl.split('?')[0]!.split('#')[0]!;
  const depth = Math.max(0, path.split('/').length - 2);
  return '../'.repeat(depth);
}

function shell(assets: Map<string, Asset> | undefined, root: string): string {
  const js = assets?.get('app.js');
  const css = assets?.get('app.css');
  const body = js
    ? '<div id="app"><noscript>The dashboard needs JavaScript. The API is described at <a href="' + root + 'docs">' + root + 'docs</a>.</noscript></div>'
    : '<div id="app"><p>The dashboard is not built: run <code>npm run build</code> (<code>npm start</code> builds it by itself). The API is described at <a href="' + root + 'docs">' + root + 'docs</a>.</p></div>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Errand</title><link rel="icon" href="data:,">${css ? `<link rel="stylesheet" href="${root}dashboard/app.css?v=${css.version}">` : ''}${js ? `<script type="module" src="${root}dashboard/app.js?v=${js.version}"></script>` : ''}
</head><body>${body}</body></html>`;
}

const TASK_ADDRESS = /^\/task\/[0-9a-f]{16}\/?(\?.*)?$/;

/** Adds Accept to the answer's Vary, keeping what is there (CORS's Origin). */
function varyOnAccept(reply: FastifyReply): void {
  const now = reply.getHeader('vary');
  const names = (Array.isArray(now) ? now.join(',') : String(now ?? '')).split(',').map((n) => n.trim()).filter(Boolean);
  if (!names.some((n) => n.toLowerCase() === 'accept' || n === '*')) reply.header('vary', [...names, 'Accept'].join(', '));
}

/** A browser navigating asks for HTML first; fetch() and programs ask for JSON or anything. */
export function wantsPage(accept: string | undefined): boolean {
  return /^\s*text\/html\b/i.test(accept ?? '');
}

export function registerDashboardRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const assets = loadBundle();
  const sendShell = (request: FastifyRequest, reply: FastifyReply) => {
    varyOnAccept(reply);
    return reply
      .type('text/html; charset=utf-8')
      .headers({ 'content-security-policy': DASHBOARD_CSP, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-cache' })
      .send(shell(assets, pathToRoot(request.originalUrl)));
  };

  const page = async (request: FastifyRequest, reply: FastifyReply) => {
    // A credential that is sent must be good (Patavi's clients check their key this way).
    await ctx.auth.caller(request);
    return sendShell(request, reply);
  };
  const schema = (operationId: string) => ({
    operationId, tags: ['server'], summary: 'The dashboard',
    description: 'The dashboard page (tasks, services, submit). Patavi\'s clients call it with their key as a health check: 200 with a valid credential or none.',
    response: { 200: { description: 'The page.', content: { 'text/html': { schema: { type: 'string' } } } }, 401: { description: 'A credential that is not accepted.', $ref: 'Error#' } },
  });
  app.get('/', { schema: schema('getDashboard') }, page);
  app.get('/index.html', { schema: schema('getDashboardIndexHtml') }, page);

  app.get<{ Params: { file: string }; Querystring: { v?: string } }>('/dashboard/:file', {
    schema: {
      operationId: 'getDashboardAsset', tags: ['server'], summary: 'The dashboard\'s script and styles',
      params: { type: 'object', properties: { file: { type: 'string', maxLength: 64 } }, required: ['file'] },
      querystring: { type: 'object', properties: { v: { type: 'string', maxLength: 64 } } },
      response: {
        200: { description: 'The file; cached for good when asked by its version.', content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } }, 'application/json': { schema: { type: 'string' } } } },
        404: { description: 'No such dashboard file.', $ref: 'Error#' },
      },
    },
  }, async (request, reply) => {
    const asset = assets?.get(request.params.file);
    if (!asset) return reply.code(404).send({ error: { code: 'not_found', message: `no dashboard file ${JSON.stringify(request.params.file)}`, field: 'file' } });
    // Asked by its version (as the shell does): never changes, so kept for good.
    const immutable = request.query.v === asset.version;
    return reply
      .type(asset.type)
      .headers({ 'x-content-type-options': 'nosniff', 'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache', etag: `"${asset.version}"` })
      .send(asset.body);
  });

  // A task's address opened in a browser: the shell, which shows the task. JSON stays JSON.
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'GET' || !TASK_ADDRESS.test(request.url)) return;
    if (wantsPage(request.headers.accept)) return sendShell(request, reply);
  });
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.method === 'GET' && TASK_ADDRESS.test(request.url)) varyOnAccept(reply);
    return payload;
  });
}
