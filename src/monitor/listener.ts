/**
 * `--metrics-port` (issue 14): a small HTTP listener beside a role's work, serving GET /health,
 * /ready and /metrics and nothing else. Workers and recorders have no HTTP server of their own;
 * `serve` and `dev` answer the same routes on their API port and may open this one too, to keep
 * scraping off the public port. It binds --metrics-host (127.0.0.1 unless told otherwise) and
 * asks for no credential: expose it only where Prometheus and the orchestrator's probes reach.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrandError } from '../core/index.ts';
import type { Metrics } from './metrics.ts';
import { HEALTH_BODY, readyAnswer } from './readiness.ts';
import type { Readiness } from './readiness.ts';

export interface MonitorListener {
  /** http://host:port, as bound (a port of 0 is the one the system gave). */
  readonly url: string;
  close(): Promise<void>;
}

export interface MonitorListenerOptions {
  host: string;
  port: number;
  readiness: Readiness;
  metrics: Metrics;
  /** Answers slower than this are cut (ms): a probe must never hold a socket open for long. */
  requestTimeoutMs?: number;
}

function send(response: ServerResponse, status: number, contentType: string, body: string, head: boolean): void {
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...(status === 503 ? { 'retry-after': '5' } : {}) });
  response.end(head ? undefined : body);
}

const json = (value: object): string => JSON.stringify(value);
const JSON_TYPE = 'application/json; charset=utf-8';

async function answer(request: IncomingMessage, response: ServerResponse, options: MonitorListenerOptions): Promise<void> {
  const path = (request.url ?? '/').split('?')[0];
  const known = path === '/health' || path === '/ready' || path === '/metrics';
  if (!known) {
    send(response, 404, JSON_TYPE, json(new ErrandError('not_found', `no route ${request.method} ${path?.slice(0, 200)}: this listener serves /health, /ready and /metrics`).toJSON()), false);
    return;
  }
  const head = request.method === 'HEAD';
  if (request.method !== 'GET' && !head) {
    response.setHeader('allow', 'GET, HEAD');
    send(response, 405, JSON_TYPE, json(new ErrandError('method_not_allowed', `${path} answers GET and HEAD only`).toJSON()), false);
    return;
  }
  if (path === '/health') return send(response, 200, JSON_TYPE, json(HEALTH_BODY), head);
  if (path === '/ready') {
    const { status, body } = readyAnswer(await options.readiness.check());
    return send(response, status, JSON_TYPE, json(body), head);
  }
  const { contentType, body } = await options.metrics.text();
  send(response, 200, contentType, body, head);
}

export async function startMonitorListener(options: MonitorListenerOptions): Promise<MonitorListener> {
  const server = createServer((request, response) => {
    // A request body is not read: none of these routes takes one.
    answer(request, response, options).catch((err: unknown) => {
      if (!response.headersSent) send(response, 500, JSON_TYPE, json(new ErrandError('internal', `could not answer: ${(err as Error).message}`).toJSON()), false);
      else response.destroy();
    });
  });
  server.requestTimeout = options.requestTimeoutMs ?? 10_000;
  server.headersTimeout = Math.min(server.requestTimeout, 10_000);
  await new Promise<void>((resolve, reject) => {
    const refused = (err: Error): void => reject(new ErrandError('invalid_field', `--metrics-port: cannot listen on ${options.host}:${options.port}: ${err.message}`, 'metrics-port'));
    server.once('error', refused);
    server.listen(options.port, options.host, () => { server.off('error', refused); resolve(); });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
