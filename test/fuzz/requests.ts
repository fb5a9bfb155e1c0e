/** Writes HTTP/1.1 requests byte for byte, including the malformed ones a client library would refuse to send. */
import type { Expectation, FuzzCase } from './oracle.ts';

export interface CaseContext {
  host: string;
  port: number;
  apiKey: string;
  /** An echo task that is done. */
  doneTask: string;
  /** A files task that is done, with its files. */
  filesTask: string;
  /** What every link must start with. */
  linkBases: readonly string[];
}

export interface RequestSpec {
  method: string;
  target: string;
  version?: string;
  headers?: readonly (readonly [string, string])[];
  body?: Buffer | string;
  /** The Host header: the server's address by default; null leaves it out. */
  host?: string | null;
  /** Content-Length from the body unless the headers give one or a Transfer-Encoding (false: never). */
  contentLength?: boolean;
  /** The line ending (CRLF unless a case is about bare LF). */
  eol?: string;
  /**
   * Since issue 12 every route asks for a credential: the target's API key is sent unless the
   * headers carry one (a wrong one, on purpose) or this is false (a case about having none).
   */
  credential?: boolean;
}

export function buildRequest(spec: RequestSpec, ctx: Pick<CaseContext, 'host' | 'port'> & Partial<Pick<CaseContext, 'apiKey'>>): Buffer {
  const eol = spec.eol ?? '\r\n';
  const headers: (readonly [string, string])[] = [];
  const host = spec.host === undefined ? `${ctx.host}:${ctx.port}` : spec.host;
  if (host !== null) headers.push(['Host', host]);
  headers.push(...(spec.headers ?? []));
  const credentialGiven = headers.some(([name]) => /^(x-api-key|authorization)$/i.test(name));
  if (spec.credential !== false && !credentialGiven && ctx.apiKey !== undefined) headers.push(['X-API-Key', ctx.apiKey]);
  const body = spec.body === undefined ? undefined : Buffer.isBuffer(spec.body) ? spec.body : Buffer.from(spec.body, 'utf8');
  const framed = headers.some(([name]) => /^(content-length|transfer-encoding)$/i.test(name));
  if (body !== undefined && !framed && spec.contentLength !== false) headers.push(['Content-Length', String(body.length)]);
  const head = `${spec.method} ${spec.target} ${spec.version ?? 'HTTP/1.1'}${eol}${headers.map(([n, v]) => `${n}: ${v}${eol}`).join('')}${eol}`;
  return body === undefined ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** A valid WebSocket handshake's headers (RFC 6455), parts of which cases then break. */
export function wsHeaders(key = 'dGhlIHNhbXBsZSBub25jZQ==', version = '13'): [string, string][] {
  return [['Connection', 'Upgrade'], ['Upgrade', 'websocket'], ['Sec-WebSocket-Key', key], ['Sec-WebSocket-Version', version]];
}

export function makeCase(ctx: Pick<CaseContext, 'host' | 'port'> & Partial<Pick<CaseContext, 'apiKey'>>, item: string, name: string, spec: RequestSpec, expect: Expectation, extra: Partial<FuzzCase> = {}): FuzzCase {
  return { item, name, request: buildRequest(spec, ctx), method: spec.method, expect, ...extra };
}

/** Every href in a JSON value, and the Location header: what item 11 checks. */
export function linksIn(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => linksIn(v, found));
  else if (value && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === 'href' && typeof v === 'string') found.push(v);
      else linksIn(v, found);
    }
  }
  return found;
}
