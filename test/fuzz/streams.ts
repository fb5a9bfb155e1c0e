/** Held-open event streams and sockets, to see the per-client caps of item 9 act. */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { RawResponse } from './raw-client.ts';
import { parseResponses } from './raw-client.ts';

export interface HeldStream { response?: RawResponse; socket: Socket; problem?: string }

/** Opens GET `path` and keeps the connection once the answer's head (an event stream) or whole answer is in. */
export function holdStream(host: string, port: number, path: string, apiKey: string, patienceMs = 10_000): Promise<HeldStream> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (held: Omit<HeldStream, 'socket'>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ ...held, socket });
    };
    const timer = setTimeout(() => finish({ problem: `no answer to GET ${path} within ${patienceMs} ms` }), patienceMs);
    const check = (closed: boolean): void => {
      const parsed = parseResponses(Buffer.concat(chunks), 'GET', closed);
      if (parsed.responses[0]) finish({ response: parsed.responses[0] });
      else if (closed) finish({ problem: `GET ${path}: connection closed without an answer` });
    };
    socket.on('data', (chunk: Buffer) => { chunks.push(chunk); check(false); });
    socket.on('close', () => check(true));
    socket.on('error', () => undefined);
    socket.once('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nX-API-Key: ${apiKey}\r\nAccept: text/event-stream\r\n\r\n`));
  });
}

export type SocketOutcome =
  | { kind: 'open'; ws: WebSocket }
  | { kind: 'refused'; status: number; contentType: string; body: string }
  | { kind: 'closed'; code: number; reason: string }
  | { kind: 'error'; message: string };

/** Opens a WebSocket; a refused handshake gives its status and body. */
export function openSocket(url: string, apiKey: string, patienceMs = 10_000): Promise<SocketOutcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: { 'x-api-key': apiKey } });
    let done = false;
    const finish = (outcome: SocketOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const timer = setTimeout(() => { ws.terminate(); finish({ kind: 'error', message: `no handshake within ${patienceMs} ms` }); }, patienceMs);
    ws.on('open', () => finish({ kind: 'open', ws }));
    ws.on('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => finish({ kind: 'refused', status: response.statusCode ?? 0, contentType: String(response.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', () => finish({ kind: 'refused', status: response.statusCode ?? 0, contentType: '', body: '' }));
    });
    ws.on('close', (code, reason) => finish({ kind: 'closed', code, reason: reason.toString() }));
    ws.on('error', (err) => { if (!done) setTimeout(() => finish({ kind: 'error', message: err.message }), 50); });
  });
}

/** What the server did next on an open socket: a close (with its code) or nothing within `patienceMs`. */
export function closeOf(ws: WebSocket, patienceMs = 5_000): Promise<{ code: number; reason: string } | undefined> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: 1006, reason: '' });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), patienceMs);
    ws.once('close', (code, reason) => { clearTimeout(timer); resolve({ code, reason: reason.toString() }); });
  });
}

/** Sends `count` subscribe messages and collects the answer to each (subscribed or error), or the close. */
export function subscribeMany(ws: WebSocket, count: number, patienceMs = 10_000): Promise<{ answers: Record<string, any>[]; closed?: { code: number; reason: string } }> {
  return new Promise((resolve) => {
    const answers: Record<string, any>[] = [];
    let closed: { code: number; reason: string } | undefined;
    const finish = (): void => {
      clearTimeout(timer);
      ws.off('message', onMessage);
      resolve({ answers, ...(closed ? { closed } : {}) });
    };
    const timer = setTimeout(finish, patienceMs);
    const onMessage = (data: Buffer): void => {
      const message = JSON.parse(data.toString()) as Record<string, any>;
      if (message.type === 'subscribed' || message.type === 'error') answers.push(message);
      if (answers.length >= count) finish();
    };
    ws.on('message', onMessage);
    ws.once('close', (code, reason) => { closed = { code, reason: reason.toString() }; finish(); });
    for (let i = 0; i < count; i++) ws.send(JSON.stringify({ type: 'subscribe', subscription: `s${i}`, filter: { services: ['echo'] } }));
  });
}
