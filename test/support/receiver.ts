/**
 * A callback receiver for the tests (issue 14): a node:http server on 127.0.0.1 that records each
 * request (headers, raw body, path) and answers as its path says:
 *   /ok            200
 *   /fail-twice    500, 500, then 200 (counted per task)
 *   /fail-once     500, then 200 (counted per task)
 *   /always-500    500
 *   /redirect      302 to `redirectTo`
 *   /hang-once     no answer the first time (per task), then 200
 *   /stream        200, then a body that never ends
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ReceivedCallback { path: string; headers: IncomingHttpHeaders; body: string; taskId: string; attempt: number }

export interface Receiver {
  port: number;
  url(path: string): string;
  received: ReceivedCallback[];
  /** Requests for a task, in arrival order. */
  forTask(taskId: string): ReceivedCallback[];
  /** Resolves once a /stream answer's connection was closed by the client. */
  streamClosed: Promise<void>;
  redirectTo?: string;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: ReceivedCallback[] = [];
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();
  let streamClosed!: () => void;
  const closedStream = new Promise<void>((resolve) => { streamClosed = resolve; });
  const seen = (path: string, taskId: string): number => received.filter((r) => r.path === path && r.taskId === taskId).length;
  const receiver: Receiver = {
    port: 0,
    url: (path) => `http://127.0.0.1:${receiver.port}${path}`,
    received,
    forTask: (taskId) => received.filter((r) => r.taskId === taskId),
    streamClosed: closedStream,
    async close() {
      for (const response of hanging) response.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = (request.url ?? '/').split('?')[0]!;
      const taskId = String(request.headers['errand-task'] ?? '');
      const count = seen(path, taskId);
      received.push({ path, headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), taskId, attempt: Number(request.headers['errand-attempt']) });
      const answer = (status: number): void => { response.writeHead(status, { 'content-type': 'text/plain' }).end(String(status)); };
      switch (path) {
        case '/fail-twice': return answer(count < 2 ? 500 : 200);
        case '/fail-once': return answer(count < 1 ? 500 : 200);
        case '/always-500': return answer(500);
        case '/redirect': response.writeHead(302, { location: receiver.redirectTo ?? 'http://127.0.0.1:1/' }).end(); return;
        case '/hang-once':
          if (count < 1) { hanging.add(response); return; }
          return answer(200);
        case '/stream': {
          response.writeHead(200, { 'content-type': 'application/octet-stream' });
          const chunk = Buffer.alloc(64 * 1024, 120);
          const pump = (): void => { while (!response.destroyed && response.write(chunk)); };
          response.on('drain', pump);
          response.on('close', () => streamClosed());
          pump();
          return;
        }
        default: return answer(200);
      }
    });
  });
  server.on('connection', (socket) => { sockets.add(socket); socket.on('close', () => sockets.delete(socket)); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  receiver.port = (server.address() as AddressInfo).port;
  return receiver;
}

/** The receiver's check, as docs/api.md shows it: HMAC-SHA256 of "<t>.<raw body>", and a recent t. */
export { verifyErrandSignature } from './verify-signature.ts';
