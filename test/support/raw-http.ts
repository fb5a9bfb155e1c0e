/**
 * Talks HTTP/1.1 as raw bytes over node:net, for requests a client library would refuse to send
 * or would normalise (bad methods, bare LF, control characters, broken handshakes), and reports
 * what came back and whether the server closed the connection.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Every byte the server sent. */
  raw: string;
  /** The server ended or reset the connection (after its answer, or without one). */
  closedByServer: boolean;
}

export interface RawOptions {
  /** Ends the client's side after sending (a half-close), as a client that is done would. */
  halfClose?: boolean;
  /**
   * Resolve once a whole answer has arrived, without waiting for the server to close (for
   * connections the server keeps open). By default the exchange ends only when the server closes.
   */
  untilAnswer?: boolean;
}

function parseHead(raw: string): { status: number; headers: Record<string, string>; headerEnd: number } | undefined {
  const headerEnd = raw.indexOf('\r\n\r\n');
  if (headerEnd < 0) return undefined;
  const [statusLine = '', ...lines] = raw.slice(0, headerEnd).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, headerEnd: headerEnd + 4 };
}

function complete(raw: string): boolean {
  const head = parseHead(raw);
  if (!head) return false;
  const length = Number(head.headers['content-length'] ?? NaN);
  return Number.isFinite(length) && Buffer.byteLength(raw.slice(head.headerEnd)) >= length;
}

function toResponse(raw: string, closedByServer: boolean): RawResponse {
  const head = parseHead(raw);
  return { status: head?.status ?? 0, headers: head?.headers ?? {}, body: head ? raw.slice(head.headerEnd) : '', raw, closedByServer };
}

/** Opens a connection; the caller writes to it. Resolves with the exchange as described in RawOptions. */
export function rawExchange(port: number, write: (socket: Socket) => void, options: RawOptions = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let raw = '';
    let settled = false;
    const settle = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      resolve(toResponse(raw, closed));
      if (!closed) socket.destroy();
    };
    socket.on('connect', () => {
      write(socket);
      if (options.halfClose) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      raw += chunk.toString('latin1');
      if (options.untilAnswer && complete(raw)) settle(false);
    });
    socket.on('end', () => { settle(true); socket.destroy(); });
    socket.on('close', () => settle(true));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') settle(true);
      else if (!settled) { settled = true; reject(err); }
    });
  });
}

/** Sends bytes as they are and waits for the server's answer and its close. */
export function rawRequest(port: number, bytes: string | Buffer, options: RawOptions = {}): Promise<RawResponse> {
  return rawExchange(port, (socket) => socket.write(bytes), options);
}

/** A well-formed WebSocket handshake for `path`, with headers added or overridden (undefined drops one). */
export function upgradeRequest(path: string, headers: Record<string, string | undefined> = {}): string {
  const all: Record<string, string | undefined> = {
    Host: 'localhost',
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  const lines = Object.entries(all).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}`);
  return `GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}
