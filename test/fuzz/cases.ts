/**
 * Hand-written cases, one group per item of issue 11 that a client can reach over HTTP: each
 * reproduces what the issue reports, as raw bytes where a client library would have cleaned it up.
 */
import type { Expectation, FuzzCase } from './oracle.ts';
import type { RawResponse } from './raw-client.ts';
import type { CaseContext } from './requests.ts';
import { linksIn, makeCase, wsHeaders } from './requests.ts';

const ERROR: Expectation = { kind: 'error' };
const HIGH_IDS = ['8000000000000000', '8000000000000001', '9abcdef012345678', 'ffffffffffffffff'];
const LONG_PART = 'a'.repeat(101);
/** Over any sane --max-param-length (Fastify's default is 100, Errand's 255). */
const OVERLONG_PART = 'o'.repeat(300);

/** Item 1: WebSocket upgrades to URLs the router refuses get their 4xx, and the socket is let go of. */
export function socketLeakCases(ctx: CaseContext): FuzzCase[] {
  const cases: FuzzCase[] = [];
  for (let round = 0; round < 15; round++) {
    cases.push(
      makeCase(ctx, '1', 'ws upgrade to /task/%ff/updates', { method: 'GET', target: '/task/%ff/updates', headers: wsHeaders() }, { kind: 'error', status: 400 }),
      makeCase(ctx, '1', 'ws upgrade to /events%zz', { method: 'GET', target: '/events%zz', headers: wsHeaders() }, { kind: 'error', status: [400, 404] }),
      makeCase(ctx, '1', 'ws upgrade with a 101-character path part', { method: 'GET', target: `/task/${LONG_PART}/updates`, headers: wsHeaders() }, { kind: 'error', status: [400, 414] }),
      makeCase(ctx, '1', 'ws upgrade with a 300-character path part', { method: 'GET', target: `/task/${OVERLONG_PART}/updates`, headers: wsHeaders() }, { kind: 'error', status: [400, 414] }),
    );
  }
  return cases;
}

/** Item 2: durations out of range are refused at the edge with their own codes. */
export function durationCases(ctx: CaseContext): FuzzCase[] {
  const post = (query: string): Parameters<typeof makeCase>[3] => ({ method: 'POST', target: `/task?service=echo&${query}`, headers: [['Content-Type', 'application/json'], ['X-API-Key', ctx.apiKey]], body: '{"item":2}' });
  const cases: FuzzCase[] = [];
  for (const ttl of ['P300000Y', 'P999999999Y', 'PT99999999999999999999S', 'P100000000D', 'P99999999999999W', 'P300000Y&deadline=PT1H']) {
    cases.push(makeCase(ctx, '2', `ttl=${ttl}`, post(`ttl=${ttl}`), { kind: 'error', status: 400, code: 'invalid_ttl', field: 'ttl' }));
  }
  for (const deadline of ['P300000Y', 'PT9999999999999H', 'P99999999999D', '99999-01-01T00:00:00Z', '275761-01-01T00:00:00Z', '+275760-09-13T00:00:00Z']) {
    cases.push(makeCase(ctx, '2', `deadline=${deadline}`, post(`deadline=${encodeURIComponent(deadline)}`), { kind: 'error', status: 400, code: 'invalid_deadline', field: 'deadline' }));
  }
  cases.push(
    makeCase(ctx, '2', 'ttl=P1Y is fine', post('ttl=P1Y'), { kind: 'ok', status: 201 }),
    makeCase(ctx, '2', 'deadline=P1D is fine', post('deadline=P1D'), { kind: 'ok', status: 201 }),
  );
  return cases;
}

/** Item 3: ids past 2^63 are unknown tasks on every id route (404), and a NUL in a file name is no 500. */
export function idRangeCases(ctx: CaseContext): FuzzCase[] {
  const cases: FuzzCase[] = [];
  const notFound: Expectation = { kind: 'error', status: 404, code: 'not_found' };
  const key: [string, string] = ['X-API-Key', ctx.apiKey];
  for (const id of HIGH_IDS) {
    for (const suffix of ['', '/task', '/script', '/console', '/results', '/results/', '/results/plot.png', '/events']) {
      cases.push(makeCase(ctx, '3', `GET /task/${id}${suffix}`, { method: 'GET', target: `/task/${id}${suffix}` }, notFound));
    }
    cases.push(
      makeCase(ctx, '3', `HEAD /task/${id}`, { method: 'HEAD', target: `/task/${id}` }, notFound),
      makeCase(ctx, '3', `POST /task/${id}/cancel`, { method: 'POST', target: `/task/${id}/cancel`, headers: [key] }, notFound),
      makeCase(ctx, '3', `DELETE /task/${id}`, { method: 'DELETE', target: `/task/${id}`, headers: [key] }, notFound),
      makeCase(ctx, '3', `ws upgrade to /task/${id}/updates`, { method: 'GET', target: `/task/${id}/updates`, headers: wsHeaders() }, notFound),
      makeCase(ctx, '3', `GET /status?task=${id}`, { method: 'GET', target: `/status?task=${id}` }, { kind: 'ok', status: 200, check: (r) => (r.body.toString() === '[]' ? undefined : `expected [], got ${r.body.toString().slice(0, 100)}`) }),
      makeCase(ctx, '3', `GET /events?task=${id}`, { method: 'GET', target: `/events?task=${id}` }, { kind: 'ok', status: 200 }),
    );
  }
  for (const file of ['%00', 'a%00b', '%00.png', 'plot.png%00', '%00%00%00']) {
    cases.push(makeCase(ctx, '3', `GET /task/<files task>/results/${file}`, { method: 'GET', target: `/task/${ctx.filesTask}/results/${file}` }, { kind: 'error', status: [400, 404] }));
  }
  return cases;
}

/** The result files the files fixture returns, and whether a browser may show each inline. */
export const RESULT_FILES: readonly { name: string; inline: boolean }[] = [
  { name: 'report.html', inline: false },
  { name: 'pic.svg', inline: false },
  { name: 'page.xhtml', inline: false },
  { name: 'blob.bin', inline: false },
  { name: 'plot.png', inline: true },
  { name: 'notes.txt', inline: true },
  { name: 'data.csv', inline: true },
  { name: 'data.json', inline: true },
];

function fileHeadersProblem(inline: boolean) {
  return (response: RawResponse): string | undefined => {
    const h = response.headers;
    if ((h['x-content-type-options'] ?? '').toLowerCase() !== 'nosniff') return `X-Content-Type-Options is ${JSON.stringify(h['x-content-type-options'])}, not nosniff`;
    const csp = h['content-security-policy'] ?? '';
    if (!/\bsandbox\b/.test(csp) || !/default-src 'none'/.test(csp)) return `Content-Security-Policy is ${JSON.stringify(csp)}, not "sandbox; default-src 'none'"`;
    const disposition = (h['content-disposition'] ?? '').toLowerCase();
    if (!inline && !disposition.startsWith('attachment')) return `Content-Disposition is ${JSON.stringify(h['content-disposition'])}: an active type must be an attachment`;
    if (inline && disposition.startsWith('attachment')) return `Content-Disposition is ${JSON.stringify(h['content-disposition'])}: an inert type may be shown inline`;
    return undefined;
  };
}

/** Item 5: result files cannot run in the API's origin. */
export function resultFileCases(ctx: CaseContext): FuzzCase[] {
  const cases: FuzzCase[] = [];
  for (const file of RESULT_FILES) {
    for (const method of ['GET', 'HEAD']) {
      cases.push(makeCase(ctx, '5', `${method} result file ${file.name}`, { method, target: `/task/${ctx.filesTask}/results/${file.name}` }, { kind: 'ok', status: 200, check: fileHeadersProblem(file.inline) }));
    }
  }
  for (const file of ['..', '.', '%2e%2e', '%2E', '..%2f..%2fetc%2fpasswd', '%5c..', 'a%2fb']) {
    cases.push(makeCase(ctx, '5', `GET result file ${file}`, { method: 'GET', target: `/task/${ctx.filesTask}/results/${file}` }, { kind: 'error', status: [400, 404] }));
  }
  return cases;
}

/** Item 7: what Node's parser, Fastify's router, the WebSocket handshake and CORS refuse, in Errand's shape. */
export function edgeCases(ctx: CaseContext): FuzzCase[] {
  const addr = `${ctx.host}:${ctx.port}`;
  const raw = (name: string, text: string, expect: Expectation = ERROR, extra: Partial<FuzzCase> = {}): FuzzCase => ({ item: '7', name, request: Buffer.from(text, 'latin1'), method: text.split(' ')[0]!, expect, ...extra });
  const c = (name: string, spec: Parameters<typeof makeCase>[3], expect: Expectation = ERROR, extra: Partial<FuzzCase> = {}) => makeCase(ctx, '7', name, spec, expect, extra);
  const post = `POST /task?service=echo HTTP/1.1\r\nHost: ${addr}\r\nX-API-Key: ${ctx.apiKey}\r\nContent-Type: application/json\r\n`;
  const ids700 = Array.from({ length: 700 }, () => `task=${ctx.doneTask}`).join('&');
  return [
    raw('unknown method FOO', `FOO /healthz HTTP/1.1\r\nHost: ${addr}\r\n\r\n`),
    raw('CONNECT', `CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n`),
    raw('lower-case method', `get /healthz HTTP/1.1\r\nHost: ${addr}\r\n\r\n`),
    raw('method with a control character', `G\x01T /healthz HTTP/1.1\r\nHost: ${addr}\r\n\r\n`),
    raw('Content-Length: abc', `${post}Content-Length: abc\r\n\r\n{}`),
    raw('Content-Length: -1', `${post}Content-Length: -1\r\n\r\n{}`),
    raw('two different Content-Lengths', `${post}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}`),
    raw('Content-Length and Transfer-Encoding', `${post}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`),
    raw('a bad chunk size', `${post}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`),
    raw('Transfer-Encoding: gzip', `${post}Transfer-Encoding: gzip\r\n\r\n{}`),
    raw('Transfer-Encoding twice', `${post}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`, { kind: 'any' }),
    raw('a control character in a header value', `GET /healthz HTTP/1.1\r\nHost: ${addr}\r\nX-Test: a\x01b\r\n\r\n`),
    raw('DEL in a header value', `GET /healthz HTTP/1.1\r\nHost: ${addr}\r\nX-Test: a\x7fb\r\n\r\n`),
    raw('a space in a header name', `GET /healthz HTTP/1.1\r\nHost: ${addr}\r\nX Test: a\r\n\r\n`),
    raw('a header line without a colon', `GET /healthz HTTP/1.1\r\nHost: ${addr}\r\nno colon here\r\n\r\n`),
    raw('an obsolete folded header', `GET /healthz HTTP/1.1\r\nHost: ${addr}\r\nX-Test: a\r\n b\r\n\r\n`),
    raw('bare LF line endings', `GET /healthz HTTP/1.1\nHost: ${addr}\n\n`),
    raw('bare LF inside the header block', `GET /healthz HTTP/1.1\r\nHost: ${addr}\nX-Test: a\r\n\r\n`),
    raw('bare CR', `GET /healthz HTTP/1.1\rHost: ${addr}\r\r`),
    raw('a NUL in the path', `GET /hea\x00lthz HTTP/1.1\r\nHost: ${addr}\r\n\r\n`),
    raw('a space in the path', `GET /task/a b HTTP/1.1\r\nHost: ${addr}\r\n\r\n`),
    raw('HTTP/2.0 in the request line', `GET /healthz HTTP/2.0\r\nHost: ${addr}\r\n\r\n`, { kind: 'any' }),
    raw('HTTP/9.9', `GET /healthz HTTP/9.9\r\nHost: ${addr}\r\n\r\n`),
    raw('an HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
    raw('junk instead of a request', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS hello\r\n\r\n'),
    raw('missing Host', 'GET /healthz HTTP/1.1\r\n\r\n', { kind: 'error', status: 400 }),
    raw('HTTP/1.0 without Host is fine', 'GET /healthz HTTP/1.0\r\n\r\n', { kind: 'ok', status: 200 }),
    c('a 20 KB header', { method: 'GET', target: '/healthz', headers: [['X-Big', 'b'.repeat(20_000)]] }, { kind: 'error', status: 431 }),
    c('a 20 KB URL', { method: 'GET', target: `/task/${'c'.repeat(20_000)}` }, { kind: 'error', status: [414, 431] }),
    c('a 101-character id', { method: 'GET', target: `/task/${LONG_PART}` }, { kind: 'error', status: [400, 414] }),
    c('a 300-character id', { method: 'GET', target: `/task/${OVERLONG_PART}` }, { kind: 'error', status: 414 }),
    c('a 300-character file name', { method: 'GET', target: `/task/${ctx.filesTask}/results/${OVERLONG_PART}` }, { kind: 'error', status: 414 }),
    c('a 101-character file name', { method: 'GET', target: `/task/${ctx.filesTask}/results/${LONG_PART}` }, { kind: 'error', status: [400, 404, 414] }),
    c('a bad percent-escape in the id', { method: 'GET', target: '/task/%zz' }, { kind: 'error', status: 400 }),
    c('a bad percent-escape in a service name', { method: 'GET', target: '/services/%ff' }, { kind: 'error', status: 400 }),
    c('a bad percent-escape in the query', { method: 'GET', target: '/status?task=%zz' }, { kind: 'error', status: 400 }),
    c('ws handshake without a key', { method: 'GET', target: '/events', headers: [['Connection', 'Upgrade'], ['Upgrade', 'websocket'], ['Sec-WebSocket-Version', '13']] }),
    c('ws handshake with a bad key', { method: 'GET', target: '/events', headers: wsHeaders('not a key') }),
    c('ws handshake with version 12', { method: 'GET', target: '/events', headers: wsHeaders(undefined, '12') }),
    c('ws handshake with version x', { method: 'GET', target: '/events', headers: wsHeaders(undefined, 'x') }),
    c('ws handshake without Upgrade', { method: 'GET', target: '/events', headers: [['Connection', 'Upgrade'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ['Sec-WebSocket-Version', '13']] }, { kind: 'any' }),
    c('ws handshake to the updates of a done task with version 7', { method: 'GET', target: `/task/${ctx.doneTask}/updates`, headers: wsHeaders(undefined, '7') }),
    c('ws handshake by POST', { method: 'POST', target: '/events', headers: wsHeaders() }),
    c('Upgrade: h2c', { method: 'GET', target: '/healthz', headers: [['Connection', 'Upgrade, HTTP2-Settings'], ['Upgrade', 'h2c'], ['HTTP2-Settings', 'AAMAAABkAAQAAP__']] }, { kind: 'any' }),
    c('OPTIONS without Origin', { method: 'OPTIONS', target: '/task' }, { kind: 'any' }),
    c('OPTIONS without Access-Control-Request-Method', { method: 'OPTIONS', target: '/task', headers: [['Origin', 'https://example.org']] }, { kind: 'any' }),
    c('a preflight from the server\'s own origin', { method: 'OPTIONS', target: '/task', headers: [['Origin', `http://${addr}`], ['Access-Control-Request-Method', 'POST']] }, { kind: 'ok' }),
    // CORS and browsers (issue 12): other pages are refused in Errand's shape.
    c('a preflight from an unlisted origin', { method: 'OPTIONS', target: '/task', headers: [['Origin', 'https://example.org'], ['Access-Control-Request-Method', 'POST']] }, { kind: 'error', status: 403, code: 'forbidden_origin' }),
    c('a POST from origin null', { method: 'POST', target: '/task?service=echo', headers: [['X-API-Key', ctx.apiKey], ['Origin', 'null']], body: '{}' }, { kind: 'error', status: 403, code: 'forbidden_origin' }),
    c('ws handshake from an unlisted origin', { method: 'GET', target: '/events', headers: [...wsHeaders(), ['Origin', 'https://example.org']] }, { kind: 'error', status: 403, code: 'forbidden_origin' }),
    c('a plain GET on /updates', { method: 'GET', target: `/task/${ctx.doneTask}/updates` }),
    c('GET /status with 700 ids', { method: 'GET', target: `/status?${ids700}` }, { kind: 'error', status: 400, field: 'task' }),
    c('Content-Length larger than the body, then the client ends', { method: 'POST', target: '/task?service=echo', headers: [['X-API-Key', ctx.apiKey], ['Content-Length', '100']], body: '{}' }, ERROR, { halfClose: true }),
    c('Content-Length shorter than the body', { method: 'POST', target: '/task?service=echo', headers: [['X-API-Key', ctx.apiKey], ['Content-Length', '2']], body: '{}{"a":1} garbage' }, { kind: 'any' }),
    c('a body on GET', { method: 'GET', target: '/healthz', body: '{"a":1}' }, { kind: 'any' }),
  ];
}

/** Item 8: a request that trickles in is cut once the short timeouts pass (it may be answered 408 first). */
export function trickleCases(ctx: CaseContext): FuzzCase[] {
  const cut: Expectation = { kind: 'error', status: 408, allowEarlyClose: true };
  const slowBody = (i: number) => makeCase(ctx, '8', `a body trickling in (${i})`, { method: 'POST', target: '/task?service=echo', headers: [['X-API-Key', ctx.apiKey], ['Content-Type', 'application/json'], ['Content-Length', '102']], body: `{"s":"${'x'.repeat(94)}"}` }, cut);
  // 400 ms a byte: about 40 s for a request, longer than Node's 30 s between timeout checks, so a
  // server with a short timeout cuts it even where the check interval was left alone.
  const slowHeaders = makeCase(ctx, '8', 'headers trickling in', { method: 'GET', target: '/healthz', headers: [['X-Slow', 'y'.repeat(80)]] }, cut);
  const cases: FuzzCase[] = [];
  for (let i = 0; i < 4; i++) {
    const c = slowBody(i);
    // The head at once, then the body a byte at a time.
    const head = c.request.indexOf('\r\n\r\n') + 4;
    cases.push({ ...c, trickle: { bytes: 1, intervalMs: 400, after: head }, patienceMs: 60_000 });
  }
  cases.push({ ...slowHeaders, trickle: { bytes: 1, intervalMs: 400 }, patienceMs: 60_000 });
  cases.push({ item: '8', name: 'a connection that sends nothing', request: Buffer.alloc(0), method: 'GET', expect: cut, patienceMs: 45_000 });
  return cases;
}

/** Item 11: a spoofed Host or X-Forwarded-Host changes no link. */
export function hostSpoofCases(ctx: CaseContext): FuzzCase[] {
  const check = (response: RawResponse): string | undefined => {
    let body: unknown;
    try { body = JSON.parse(response.body.toString('utf8')); } catch { return `not JSON: ${response.body.toString().slice(0, 100)}`; }
    const links = linksIn(body);
    if (response.headers.location) links.push(response.headers.location);
    if (links.length === 0) return 'no links in the answer';
    const bad = links.find((href) => !ctx.linkBases.some((base) => href.startsWith(base)) || !/^[a-z]+:\/\/[^/]+\/(access\/[A-Za-z0-9_-]+\/)?(task|services|events)\b/.test(href));
    return bad ? `link ${JSON.stringify(bad)} is not one of the server's own (${ctx.linkBases.join(', ')} + /task, /services or /events)` : undefined;
  };
  const ok: Expectation = { kind: 'ok', check };
  const evil: [string, string][] = [['X-API-Key', ctx.apiKey], ['Content-Type', 'application/json']];
  const forwarded: [string, string][] = [['X-Forwarded-Host', 'evil.example'], ['X-Forwarded-Proto', 'https'], ['Forwarded', 'host=evil.example;proto=https']];
  const cases: FuzzCase[] = [];
  for (const [label, host, headers] of [
    ['Host: evil.example', 'evil.example', []],
    ['Host: evil.example:666', 'evil.example:666', []],
    ['X-Forwarded-Host', undefined, forwarded],
    ['Host with a path', `${ctx.host}:${ctx.port}/@evil.example`, []],
  ] as const) {
    const spec = { host, headers: [...headers] };
    cases.push(
      makeCase(ctx, '11', `POST /task with ${label}`, { method: 'POST', target: '/task?service=echo', ...spec, headers: [...evil, ...headers], body: '{"item":11}' }, { ...ok, status: 201 }),
      makeCase(ctx, '11', `GET /task/:id with ${label}`, { method: 'GET', target: `/task/${ctx.doneTask}`, ...spec }, { ...ok, status: 200 }),
      makeCase(ctx, '11', `GET /status with ${label}`, { method: 'GET', target: `/status?task=${ctx.doneTask}`, ...spec }, { ...ok, status: 200 }),
      makeCase(ctx, '11', `GET /services with ${label}`, { method: 'GET', target: '/services', ...spec }, { ...ok, status: 200 }),
    );
  }
  return cases;
}

/** Item 4: a formula whose check by a backtracking engine would take minutes is refused at once. */
export function redosCase(ctx: CaseContext, spaces = 200_000): FuzzCase {
  const body = `{"formula":"y ~${' '.repeat(spaces)}!","data":{"x":[1,2,3],"y":[2,4,7]}}`;
  return makeCase(ctx, '4', `regression formula "y ~" + ${spaces} spaces + "!"`, { method: 'POST', target: '/task?service=regression', headers: [['X-API-Key', ctx.apiKey], ['Content-Type', 'application/json']], body }, { kind: 'error', status: 400, code: 'invalid_input' }, { patienceMs: 15_000 });
}
