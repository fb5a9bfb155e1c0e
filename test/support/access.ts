/**
 * What the access suites (issue 12) share: a service whose task leaves marked data in every place
 * a task has data (input, result, result file, console, script), stored API keys of every kind,
 * and clients that report what a refused request got back (status, headers, body), for plain
 * requests, event streams and WebSocket upgrades alike.
 */
import { createHash } from 'node:crypto';
import { WebSocket } from 'ws';
import { composeTaskId, decomposeTaskId, hashApiKey, inlineManifest, newApiKey } from '../../src/core/index.ts';
import type { ServiceDefinition } from '../../src/worker/index.ts';
import type { Store } from '../../src/store/index.ts';
import { service } from './services.ts';

/** In the script of every task of the marked service. */
export const SCRIPT_MARKER = 'script-marker-c0ffee';

/** The marker a marked task's result carries for input marker `marker` (a string of its own). */
export function resultMarkerOf(marker: string): string {
  return `result-${createHash('sha256').update(marker).digest('hex').slice(0, 24)}`;
}

/** The marker in a marked task's result file. */
export function fileMarkerOf(marker: string): string {
  return `file-${createHash('sha256').update(`file:${marker}`).digest('hex').slice(0, 24)}`;
}

/** Every string whose appearance in an answer means the task `marker` leaked. */
export function markersOf(marker: string): string[] {
  return [marker, resultMarkerOf(marker), fileMarkerOf(marker)];
}

/**
 * Input `{ marker }`; the result holds resultMarkerOf(marker) and links plot.svg (which holds
 * fileMarkerOf(marker)); the console prints the input marker; the script holds SCRIPT_MARKER.
 */
export function markedService(name = 'marked'): ServiceDefinition {
  return {
    manifest: inlineManifest(name, { version: '1.0.0', description: `test service ${name}`, concurrency: 8 }),
    name,
    concurrency: 8,
    docs: null,
    executor: {
      async run(task) {
        const marker = String((task.input as { marker?: unknown } | null)?.marker ?? '');
        return {
          status: 'done',
          index: { secret: resultMarkerOf(marker), plot: { href: 'plot.svg', 'content-type': 'image/svg+xml' } },
          files: [{ name: 'plot.svg', contentType: 'image/svg+xml', content: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg"><!-- ${fileMarkerOf(marker)} --></svg>`) }],
          console: `working on ${marker}\n`,
        };
      },
      script: () => `# the script of ${name}: ${SCRIPT_MARKER}\n`,
      async close() {},
    },
  };
}

/** Runs until it is told to stop: a task that stays cancelable. */
export const hold = (name = 'hold'): ServiceDefinition =>
  service(name, (_input, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(null), { once: true })), 32);

export interface KeySpec {
  scopes: string[];
  /** Revoked before it is ever used; expired an hour ago. */
  state?: 'revoked' | 'expired';
}

/** Creates the keys (in order) and returns each one's text by name. */
export async function createKeys(store: Store, specs: Array<[label: string, name: string, spec: KeySpec]>): Promise<Record<string, string>> {
  const keys: Record<string, string> = {};
  for (const [label, name, spec] of specs) {
    const key = newApiKey();
    const expires = spec.state === 'expired' ? { at: new Date(Date.now() - 3_600_000) } : null;
    await store.createApiKey({ name, scopes: spec.scopes, secretSha256: hashApiKey(key), expires });
    if (spec.state === 'revoked') await store.revokeApiKey(name);
    keys[label] = key;
  }
  return keys;
}

export const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

/** What a client got back. Streams that were accepted are closed at once: their body is ''. */
export interface Answer {
  status: number;
  wwwAuthenticate: string | undefined;
  contentType: string | undefined;
  body: string;
}

export async function httpAnswer(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers: { ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  return {
    status: response.status,
    wwwAuthenticate: response.headers.get('www-authenticate') ?? undefined,
    contentType: response.headers.get('content-type') ?? undefined,
    body: await response.text(),
  };
}

/** An SSE request: the status (and, when refused, the body); an accepted stream is closed once it starts. */
export async function sseAnswer(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const answer = {
    status: response.status,
    wwwAuthenticate: response.headers.get('www-authenticate') ?? undefined,
    contentType: response.headers.get('content-type') ?? undefined,
  };
  if (response.status === 200) {
    abort.abort();
    return { ...answer, body: '' };
  }
  return { ...answer, body: await response.text() };
}

/** A WebSocket upgrade: 101 once it opens (then closed), else the HTTP answer that refused it. */
export function upgradeAnswer(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    let settled = false;
    const settle = (answer: Answer): void => {
      if (settled) return;
      settled = true;
      resolve(answer);
    };
    socket.on('open', () => {
      settle({ status: 101, wwwAuthenticate: undefined, contentType: undefined, body: '' });
      socket.terminate();
    });
    socket.on('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => {
        settle({ status: response.statusCode ?? 0, wwwAuthenticate: header(response.headers['www-authenticate']), contentType: header(response.headers['content-type']), body });
        socket.terminate();
      });
    });
    socket.on('error', (err) => { if (!settled) { settled = true; reject(err); } });
  });
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `/access/<token>/task/<id>...` → the token. */
export function tokenOfLink(href: string): string {
  const token = /\/access\/([^/]+)\/task\//.exec(href)?.[1];
  if (token === undefined) throw new Error(`no access token in ${href}`);
  return decodeURIComponent(token);
}

/** A well-formed id of the same millisecond and sequence as `id` that no test stack issues (node 999). */
export function missingTwinOf(id: string): string {
  const { millis, sequence } = decomposeTaskId(id);
  return composeTaskId(millis, 999, sequence);
}

/** `token` (for some task) rewritten to name `taskId`, its signature left as it was: what an attacker could try. */
export function retargetedToken(token: string, taskId: string): string {
  const bytes = Buffer.from(token, 'base64url');
  bytes.write(taskId, 11, 8, 'hex'); // version 1 + key id 4 + expiry 6
  return bytes.toString('base64url');
}

export const wsUrl = (httpUrl: string): string => httpUrl.replace(/^http/, 'ws');
