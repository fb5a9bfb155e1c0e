/**
 * What every answer must be (issue 11): a 4xx JSON error in Errand's shape, or a documented 2xx
 * for valid input; never a 5xx, never a connection dropped without an answer (an early close on
 * an oversize body aside), and the connection let go of once the client is done.
 */
import type { Exchange, RawResponse } from './raw-client.ts';
import { preview } from './raw-client.ts';

export interface Expectation {
  /** 'error': must be a 4xx; 'ok': must be a 2xx (or 101/304 when allowed); 'any': either. */
  kind?: 'error' | 'ok' | 'any';
  status?: number | readonly number[];
  code?: string | readonly string[];
  field?: string;
  /** The server may close before answering (a body over the limit). */
  allowEarlyClose?: boolean;
  /** A 101 is a right answer (a valid WebSocket handshake). */
  allowUpgrade?: boolean;
  /** Anything else to check of the answer; returns what is wrong. */
  check?: (answer: RawResponse) => string | undefined;
}

export interface FuzzCase {
  /** Which part of issue 11 this case covers ('gen' for generated ones). */
  item: string;
  name: string;
  request: Buffer;
  method: string;
  expect: Expectation;
  trickle?: { bytes: number; intervalMs: number; after?: number };
  halfClose?: boolean;
  patienceMs?: number;
}

/** Errand's one error shape, with a JSON content type. */
export function errorShapeProblem(response: RawResponse, method: string): string | undefined {
  const type = response.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) return `content type ${JSON.stringify(type)}, not application/json`;
  if (method === 'HEAD') return undefined;
  let body: unknown;
  try {
    body = JSON.parse(response.body.toString('utf8'));
  } catch {
    return `body is not JSON: ${preview(response.body)}`;
  }
  const error = (body as { error?: unknown } | null)?.error as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).join() !== 'error' || !error || typeof error !== 'object') {
    return `body is not {"error":{...}}: ${preview(response.body)}`;
  }
  if (typeof error.code !== 'string' || typeof error.message !== 'string') return `error without a string code and message: ${preview(response.body)}`;
  const extra = Object.keys(error).filter((k) => !['code', 'message', 'field'].includes(k));
  if (extra.length > 0 || (error.field !== undefined && typeof error.field !== 'string')) return `error with other keys (${extra.join(', ')}): ${preview(response.body)}`;
  return undefined;
}

function errorOf(response: RawResponse): { code?: string; field?: string } {
  try {
    return (JSON.parse(response.body.toString('utf8')) as { error: { code?: string; field?: string } }).error ?? {};
  } catch {
    return {};
  }
}

const asList = <T>(value: T | readonly T[] | undefined): readonly T[] | undefined => (value === undefined ? undefined : Array.isArray(value) ? value : [value as T]);

/** What is wrong with one answer (undefined: nothing). */
export function answerProblem(c: Pick<FuzzCase, 'expect' | 'method'>, response: RawResponse): string | undefined {
  const { expect } = c;
  const { status } = response;
  const statuses = asList(expect.status);
  if (statuses && !statuses.includes(status)) return `status ${status}, expected ${statuses.join(' or ')}${status >= 400 ? ` (${preview(response.body)})` : ''}`;
  if (status >= 500) return `a ${status} (${preview(response.body)})`;
  if (status === 101) {
    if (!expect.allowUpgrade) return 'a 101 upgrade for a request that should have been refused';
  } else if (status >= 400) {
    if (expect.kind === 'ok') return `status ${status}, expected a 2xx (${preview(response.body)})`;
    const shape = errorShapeProblem(response, c.method);
    if (shape) return `a ${status} not in Errand's error shape: ${shape}`;
    const error = errorOf(response);
    const codes = asList(expect.code);
    if (codes && c.method !== 'HEAD' && !codes.includes(error.code ?? '')) return `error code ${JSON.stringify(error.code)}, expected ${codes.join(' or ')}`;
    if (expect.field !== undefined && c.method !== 'HEAD' && error.field !== expect.field) return `error field ${JSON.stringify(error.field)}, expected ${JSON.stringify(expect.field)}`;
  } else if (status >= 300) {
    if (status !== 304) return `an undocumented ${status}`;
  } else if (status >= 200) {
    if (expect.kind === 'error') return `status ${status}, expected a 4xx error (${preview(response.body)})`;
    const type = response.headers['content-type'] ?? '';
    if (/^application\/json\b/i.test(type) && c.method !== 'HEAD' && response.body.length > 0) {
      try { JSON.parse(response.body.toString('utf8')); } catch { return `a ${status} whose JSON body does not parse: ${preview(response.body)}`; }
    }
  } else {
    return `an unexpected status ${status}`;
  }
  return expect.check?.(response);
}

/** The verdict on a whole exchange, before its connection is gone. */
export function exchangeProblem(c: FuzzCase, result: Exchange): string | undefined {
  if (c.trickle && result.sentAll) return 'the server waited for the whole slow request: no timeout cut it';
  switch (result.outcome) {
    case 'answered':
      return answerProblem(c, result.answer!);
    case 'closed-without-answer':
      return c.expect.allowEarlyClose ? undefined : `connection closed without an answer${result.socketError ? ` (${result.socketError})` : ''}`;
    case 'no-answer':
      return `no answer within ${c.patienceMs ?? 'the patience'} ms`;
    case 'malformed':
      return `a malformed answer: ${result.malformed}`;
  }
}

/** The verdict once the connection is gone: later (pipelined) answers, and whether the server let go of it. */
export function tailProblem(c: FuzzCase, tail: Awaited<Exchange['tail']>): string | undefined {
  if (!tail.released) return 'the server did not close the connection after the client ended its side (socket leak)';
  for (const response of tail.responses.slice(1)) {
    if (response.status >= 500) return `a later answer on the connection was a ${response.status}`;
    if (response.status >= 400) {
      const shape = errorShapeProblem(response, 'GET');
      if (shape) return `a later answer on the connection (${response.status}) not in Errand's shape: ${shape}`;
    }
  }
  void c;
  return undefined;
}
