/**
 * HTTP/1.1 as raw bytes over node:net, so that a case reaches the server exactly as written (fetch
 * and undici would refuse or normalise most of what the fuzz suite sends), and a parser for what
 * comes back that assumes nothing of the server.
 */
import { connect } from 'node:net';

export interface RawResponse {
  version: string;
  status: number;
  reason: string;
  /** Lower-case names; a repeated header's values joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** The HTTP part of the connection ended here: a 101 (WebSocket) or an event stream. */
  detached?: 'upgrade' | 'event-stream';
}

export interface Parsed {
  responses: RawResponse[];
  /** Bytes after the last complete response that do not (yet) make a response. */
  pending: boolean;
  malformed?: string;
}

const CRLF2 = Buffer.from('\r\n\r\n');

/** Parses every response in `data`. `firstMethod` matters for HEAD; `closed` says no more bytes will come. */
export function parseResponses(data: Buffer, firstMethod: string, closed: boolean): Parsed {
  const responses: RawResponse[] = [];
  let offset = 0;
  while (offset < data.length) {
    const end = data.indexOf(CRLF2, offset);
    if (end < 0) return closed ? { responses, pending: true, malformed: `incomplete header block: ${preview(data.subarray(offset))}` } : { responses, pending: true };
    const lines = data.subarray(offset, end).toString('latin1').split('\r\n');
    const statusLine = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]!);
    if (!statusLine) return { responses, pending: false, malformed: `bad status line: ${JSON.stringify(lines[0])}` };
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) return { responses, pending: false, malformed: `bad header line: ${JSON.stringify(line)}` };
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const status = Number(statusLine[2]);
    const response: RawResponse = { version: statusLine[1]!, status, reason: statusLine[3] ?? '', headers, body: Buffer.alloc(0) };
    const bodyStart = end + 4;
    if (status >= 100 && status < 200 && status !== 101) { // an interim answer (100 Continue): the real one follows
      offset = bodyStart;
      continue;
    }
    if (status === 101) {
      responses.push({ ...response, detached: 'upgrade' });
      return { responses, pending: false };
    }
    if ((headers['content-type'] ?? '').startsWith('text/event-stream')) {
      responses.push({ ...response, detached: 'event-stream' });
      return { responses, pending: false };
    }
    const method = responses.length === 0 ? firstMethod : 'GET';
    if (method === 'HEAD' || status === 204 || status === 304) {
      responses.push(response);
      offset = bodyStart;
      continue;
    }
    if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
      const chunks: Buffer[] = [];
      let at = bodyStart;
      let complete = false;
      for (;;) {
        const lineEnd = data.indexOf('\r\n', at);
        if (lineEnd < 0) break;
        const size = parseInt(data.subarray(at, lineEnd).toString('latin1').split(';')[0]!.trim(), 16);
        if (Number.isNaN(size)) return { responses, pending: false, malformed: `bad chunk size at byte ${at}` };
        if (size === 0) {
          const trailerEnd = data.subarray(lineEnd, lineEnd + 2).equals(Buffer.from('\r\n')) && data.subarray(lineEnd + 2, lineEnd + 4).equals(Buffer.from('\r\n')) ? lineEnd + 4 : data.indexOf(CRLF2, lineEnd);
          if (trailerEnd < 0 || lineEnd + 4 > data.length) break;
          at = trailerEnd === lineEnd + 4 ? trailerEnd : trailerEnd + 4;
          complete = true;
          break;
        }
        if (lineEnd + 2 + size + 2 > data.length) break;
        chunks.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
      if (!complete) return closed ? { responses, pending: true, malformed: 'chunked body cut short' } : { responses, pending: true };
      responses.push({ ...response, body: Buffer.concat(chunks) });
      offset = at;
      continue;
    }
    if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (!Number.isSafeInteger(length) || length < 0) return { responses, pending: false, malformed: `bad content-length ${JSON.stringify(headers['content-length'])}` };
      if (bodyStart + length > data.length) return closed ? { responses, pending: true, malformed: `body cut short: ${data.length - bodyStart} of ${length} bytes` } : { responses, pending: true };
      responses.push({ ...response, body: data.subarray(bodyStart, bodyStart + length) });
      offset = bodyStart + length;
      continue;
    }
    // Neither length nor chunks: the body runs to the end of the connection.
    if (!closed) return { responses, pending: true };
    responses.push({ ...response, body: data.subarray(bodyStart) });
    offset = data.length;
  }
  return { responses, pending: false };
}

export function preview(bytes: Buffer, max = 200): string {
  const text = JSON.stringify(bytes.subarray(0, max).toString('latin1'));
  return bytes.length > max ? `${text}… (${bytes.length} bytes)` : text;
}

export interface ExchangeOptions {
  host: string;
  port: number;
  request: Buffer;
  /** The request's method (how to read the first answer: HEAD has no body). */
  method: string;
  /** Send the request a few bytes at a time (a slow client); stops as soon as the server answers or closes. */
  trickle?: { bytes: number; intervalMs: number; after?: number };
  /** End the client's side once everything is sent (a request cut short is then answered by the parser). */
  halfClose?: boolean;
  /** How long to wait for an answer before giving up on it. */
  patienceMs: number;
  /** How long the server has to close the connection after the client has ended its side. */
  releasePatienceMs: number;
}

export type Outcome = 'answered' | 'closed-without-answer' | 'no-answer' | 'malformed';

export interface Exchange {
  outcome: Outcome;
  answer?: RawResponse;
  malformed?: string;
  /** Every byte of the request was written before the server answered or closed. */
  sentAll: boolean;
  /** A socket error seen on the way (ECONNRESET, EPIPE): information, not a verdict. */
  socketError?: string;
  /** Settles when the connection is gone: every response it carried, and whether the server let go of it. */
  tail: Promise<{ responses: RawResponse[]; released: boolean; malformed?: string }>;
}

export function exchange(options: ExchangeOptions): Promise<Exchange> {
  return new Promise((resolveAnswer) => {
    const socket = connect({ host: options.host, port: options.port });
    const received: Buffer[] = [];
    let sentAll = false;
    let socketError: string | undefined;
    let answered = false;
    let closed = false;
    let resolveTail!: (value: Awaited<Exchange['tail']>) => void;
    const tail = new Promise<Awaited<Exchange['tail']>>((resolve) => { resolveTail = resolve; });
    let releaseTimer: NodeJS.Timeout | undefined;

    const data = (): Buffer => Buffer.concat(received);
    const settle = (outcome: Outcome, answer?: RawResponse, malformed?: string): void => {
      if (answered) return;
      answered = true;
      clearTimeout(patience);
      resolveAnswer({ outcome, ...(answer ? { answer } : {}), ...(malformed ? { malformed } : {}), sentAll, ...(socketError ? { socketError } : {}), tail });
      if (outcome === 'no-answer') {
        socket.destroy();
        return;
      }
      if (closed) return;
      // The client is done: the server must now let go of the connection.
      socket.end();
      releaseTimer = setTimeout(() => {
        const parsed = parseResponses(data(), options.method, true);
        resolveTail({ responses: parsed.responses, released: false, ...(parsed.malformed ? { malformed: parsed.malformed } : {}) });
        socket.destroy();
      }, options.releasePatienceMs);
    };
    // No answer is the verdict: the connection's end says nothing more (it is destroyed here).
    const patience = setTimeout(() => {
      resolveTail({ responses: [], released: true });
      settle('no-answer');
    }, options.patienceMs);

    const check = (): void => {
      if (answered) return;
      const parsed = parseResponses(data(), options.method, closed);
      if (parsed.responses.length > 0) settle('answered', parsed.responses[0]);
      else if (parsed.malformed && !parsed.pending) settle('malformed', undefined, parsed.malformed);
      else if (closed) settle(received.length === 0 ? 'closed-without-answer' : 'malformed', undefined, parsed.malformed ?? `bytes that are no response: ${preview(data())}`);
    };

    socket.on('data', (chunk: Buffer) => { received.push(chunk); check(); });
    socket.on('error', (err: NodeJS.ErrnoException) => { socketError = err.code ?? err.message; });
    socket.on('close', () => {
      closed = true;
      check();
      clearTimeout(releaseTimer);
      clearTimeout(patience);
      const parsed = parseResponses(data(), options.method, true);
      resolveTail({ responses: parsed.responses, released: true, ...(parsed.malformed ? { malformed: parsed.malformed } : {}) });
    });
    socket.once('connect', () => {
      if (!options.trickle) {
        socket.write(options.request, () => { sentAll = true; });
        if (options.halfClose) socket.end();
        return;
      }
      const { bytes, intervalMs, after = 0 } = options.trickle;
      if (after > 0) socket.write(options.request.subarray(0, after));
      let at = after;
      const tick = (): void => {
        if (answered || closed || socket.destroyed) return;
        socket.write(options.request.subarray(at, at + bytes));
        at += bytes;
        if (at >= options.request.length) {
          sentAll = true;
          if (options.halfClose) socket.end();
          return;
        }
        setTimeout(tick, intervalMs);
      };
      tick();
    });
  });
}
