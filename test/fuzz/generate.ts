/**
 * Generated cases: random methods, paths from the route table with mutated ids, parameters and
 * escapes, query strings, headers, framing and bodies. Every choice comes from the seeded PRNG,
 * so one seed gives one sequence of cases.
 */
import type { FuzzCase } from './oracle.ts';
import type { Rng } from './prng.ts';
import type { CaseContext, RequestSpec } from './requests.ts';
import { buildRequest, wsHeaders } from './requests.ts';

/** The server's body limit (--body-limit's default): bodies over it may be cut off unanswered. */
export const BODY_LIMIT = 5 * 1024 * 1024;

interface Route { method: string; path: string; weight: number; write?: boolean }

const ROUTES: readonly Route[] = [
  { method: 'POST', path: '/task', weight: 40, write: true },
  { method: 'GET', path: '/task/:id', weight: 8 },
  { method: 'GET', path: '/task/:id/task', weight: 3 },
  { method: 'GET', path: '/task/:id/script', weight: 2 },
  { method: 'GET', path: '/task/:id/console', weight: 2 },
  { method: 'GET', path: '/task/:id/results', weight: 4 },
  { method: 'GET', path: '/task/:id/results/', weight: 1 },
  { method: 'GET', path: '/task/:id/results/:file', weight: 5 },
  { method: 'GET', path: '/task/:id/events', weight: 4 },
  { method: 'GET', path: '/task/:id/updates', weight: 4 },
  { method: 'POST', path: '/task/:id/cancel', weight: 3, write: true },
  { method: 'DELETE', path: '/task/:id', weight: 2, write: true },
  { method: 'GET', path: '/status', weight: 6 },
  { method: 'GET', path: '/events', weight: 6 },
  { method: 'GET', path: '/services', weight: 3 },
  { method: 'GET', path: '/services/:name', weight: 4 },
  { method: 'GET', path: '/', weight: 1 },
  { method: 'GET', path: '/index.html', weight: 1 },
  { method: 'GET', path: '/healthz', weight: 2 },
  { method: 'GET', path: '/no/such/route', weight: 1 },
];

const ODD_METHODS = ['PUT', 'PATCH', 'TRACE', 'OPTIONS', 'HEAD', 'get', 'Post', 'FOO', 'M-SEARCH', 'PROPFIND', 'CONNECT', 'G\x00T', 'GET\t', 'X'.repeat(300), 'DELETE', 'POST', 'GET'];
/** Mostly services that run (so that many tasks are accepted and must end), then names that cannot be. */
const SERVICES = [...Array(12).fill('echo'), 'echo', 'regression', 'files', 'files', 'env', 'slow', 'nope', 'amq.gen', 'errand.x', 'rpc_result', 'a'.repeat(129), 'ECHO', 'e cho', 'echo/x', '..', '%ff', '%00', ''] as string[];
const TTLS = ['PT5M', 'P1D', 'P1Y2M3DT4H', 'PT1.5S', 'P300000Y', 'P99999999999Y', 'PT99999999999999999999S', 'abc', '', '-P1D', 'P', 'PT', 'P1W', 'p1d', 'PT0S', 'P0D', 'P1D ', '%00', 'P1Y'.repeat(50)];
const DEADLINES = ['PT2H', 'P1D', 'P300000Y', 'PT0S', '2030-01-01T12:00:00Z', '2000-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '99999-01-01T00:00:00Z', '2030-13-45T99:99:99Z', '+275760-09-13T00:00:00Z', 'tomorrow', '', '2030-01-01', '1e10'];
const CACHE = ['true', 'false', 'yes', '', 'TRUE', '0', '%00'];
const EVENT_TYPES = ['queued', 'started', 'progress', 'done', 'failed', 'canceled', 'expired', 'deleted', 'finished', ''];
const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'a/b/c', '', ';;;', 'application/json; charset=latin1', 'APPLICATION/JSON', `application/${'j'.repeat(3000)}`, 'text/html\x01'];
const ORIGINS = ['https://example.org', 'null', 'http://evil.example', 'file://', 'https://a.example:99999', 'x'.repeat(2000), 'http://[::1]'];
const HOSTS = [null, 'evil.example', '', 'a b', 'x'.repeat(300), '[::1]:1', '127.0.0.1:1', 'localhost', '@@@'];
const FILES = ['plot.png', 'report.html', 'data.csv', 'pic.svg', 'notes.txt', '..', '.', '%00', '%2e%2e', 'a%2fb', '%zz', 'x'.repeat(150), 'no-such-file', '%E2%98%83', 'a b', '%20', 'results'];
const INVALID_JSON = ['{', '{"a":}', "{'a':1}", 'NaN', '[1,2,]', '{"a":1}}', 'undefined', '{"a":1,}', 'tru', '"unterminated', '01', '.5', '+1', '{"a" 1}', '[', ']', '/* */{}', '\u00a0{}', '{"\\x41":1}', '"\\ud800\\u0000"'];

function randomJson(rng: Rng, depth: number): unknown {
  const kind = depth <= 0 ? rng.int(0, 4) : rng.int(0, 6);
  switch (kind) {
    case 0: return rng.pick([0, -0, 1, -1, 3.14, 1e308, -1e-308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER]);
    case 1: return rng.pick(['', 'a', 'héllo', '☃', '😀', '\u2028', '<script>alert(1)</script>', '\t\n', 'x'.repeat(rng.int(0, 500))]);
    case 2: return rng.pick([true, false]);
    case 3: return null;
    case 4: return rng.hex(rng.int(1, 20));
    case 5: return Array.from({ length: rng.int(0, 5) }, () => randomJson(rng, depth - 1));
    default: return Object.fromEntries(Array.from({ length: rng.int(0, 5) }, () => [rng.pick(['a', 'b', 'duration', 'formula', 'data', 'text', 'title', '__proto__', 'constructor', '', '☃', rng.hex(4)]), randomJson(rng, depth - 1)]));
  }
}

function nested(depth: number, open: string, close: string, inner = '1'): string {
  return open.repeat(depth) + inner + close.repeat(depth);
}

/** A body: mostly JSON, valid or not, some deep, some not UTF-8, a few over the body limit. */
function body(rng: Rng, service: string | undefined): Buffer | undefined {
  const kind = rng.weighted<string>([[40, 'value'], [18, 'random'], [14, 'invalid'], [6, 'deep'], [7, 'bytes'], [8, 'empty'], [8, 'service'], [2, 'large'], [0.6, 'huge']]);
  const text = (s: string) => Buffer.from(s, 'utf8');
  switch (kind) {
    case 'value': return text(rng.pick(['{}', '{"a":1}', '[]', '[1,2,3]', '"str"', '0', '-0', '1e308', '1e400', 'true', 'null', '"\\u2603"', '"😀"', '123456789012345678901234567890', '{"a":1,"a":2}', '{"__proto__":{"polluted":1}}', `{"s":"${'z'.repeat(10_000)}"}`, '  {"spaced" : [ 1 , 2 ] }  ', '"\\u0000"', '{"k\\u0000":1}']));
    case 'random': return text(JSON.stringify(randomJson(rng, 5)) ?? 'null');
    case 'invalid': return text(rng.pick(INVALID_JSON));
    case 'deep': {
      const depth = rng.pick([100, 255, 256, 257, 300, 1000, 100_000]);
      return text(rng.chance(0.5) ? nested(depth, '[', ']') : nested(depth, '{"a":', '}'));
    }
    case 'bytes': return rng.pick([
      Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
      Buffer.concat([text('{"a":"'), Buffer.from([0xc0, 0xaf]), text('"}')]),
      Buffer.concat([text('{"a":"'), Buffer.from([0xed, 0xa0, 0x80]), text('"}')]),
      Buffer.concat([text('"'), Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]), text('"')]),
      text('"\\ud800"'),
      rng.bytes(rng.int(1, 64)),
      Buffer.from([0]),
    ]);
    case 'empty': return undefined;
    case 'service':
      if (service === 'regression') {
        return text(JSON.stringify({ formula: rng.pick(['y ~ x', 'y ~ x * g', 'y ~ log(x)', 'y ~', `y ~ ${'x + '.repeat(rng.int(1, 200))}x`, `y ~${' '.repeat(rng.int(0, 2000))}!`, '']), data: rng.chance(0.7) ? { x: [1, 2, 3], y: [2, 4, 7] } : randomJson(rng, 2) }));
      }
      if (service === 'files') {
        return text(JSON.stringify(rng.pick([{}, { name: rng.pick(['ok.txt', '..', '.', 'a/b', 'a\\b', 'x\u0001y', 'x'.repeat(300), '', 'CON', '.htaccess']) }, { count: rng.int(0, 30) }, { bytes: rng.int(0, 2 * 1024 * 1024) }, { title: '<img src=x onerror=alert(1)>' }])));
      }
      return text(JSON.stringify({ duration: rng.int(-1, 5), silent: rng.chance(0.5) }));
    case 'large': return text(`{"s":"${'l'.repeat(1024 * 1024)}"}`);
    default: return Buffer.alloc(BODY_LIMIT + rng.int(1, 1024 * 1024), 0x20);
  }
}

function mutatePath(rng: Rng, path: string): string {
  switch (rng.int(0, 11)) {
    case 0: return `${path}/`;
    case 1: return `/${path}`;
    case 2: return path.replace(/\/([^/]*)$/, '%2F$1');
    case 3: return path.toUpperCase();
    case 4: return `${path};x=1`;
    case 5: return `${path}#frag`;
    case 6: { const at = rng.int(1, path.length); return `${path.slice(0, at)}%${rng.pick(['ff', 'zz', '0', '00', 'c0%af', 'e2%82'])}${path.slice(at)}`; }
    case 7: return `${path}/..`;
    case 8: return path.replace(/^\//, '/./');
    case 9: return `${path}%252e`;
    case 10: return `${path}/${'p'.repeat(rng.int(100, 400))}`;
    default: return `http://${rng.pick(['evil.example', '127.0.0.1'])}${path}`;
  }
}

function randomId(rng: Rng, known: readonly string[]): string {
  return rng.weighted<() => string>([
    [30, () => rng.pick(known)],
    [14, () => rng.hex(16)],
    [10, () => rng.pick(['8000000000000000', 'ffffffffffffffff', '7fffffffffffffff', 'c000000000000001'])],
    [5, () => rng.pick(known).toUpperCase()],
    [5, () => rng.hex(rng.pick([15, 17, 1, 32]))],
    [8, () => `%${rng.pick(['ff', 'zz', '00', 'e2%98%83', '2e%2e', 'c0%ae'])}`],
    [7, () => 'a'.repeat(rng.int(90, 300))],
    [3, () => ''],
    [3, () => '0000000000000000'],
    [3, () => rng.pick(['null', 'undefined', '-1', '1e3', '0x1f', ' 0000000000000001'])],
    [3, () => '..'],
  ])();
}

function query(rng: Rng, route: Route, known: readonly string[]): { text: string; service?: string } {
  const params: [string, string][] = [];
  let service: string | undefined;
  if (route.path === '/task' && route.method === 'POST') {
    if (rng.chance(0.92)) { service = rng.pick(SERVICES); params.push(['service', service]); }
    if (rng.chance(0.05)) params.push(['service', rng.pick(SERVICES)]);
    if (rng.chance(0.3)) params.push(['ttl', rng.pick(TTLS)]);
    if (rng.chance(0.2)) params.push(['deadline', rng.pick(DEADLINES)]);
    if (rng.chance(0.15)) params.push(['cache', rng.pick(CACHE)]);
  } else if (route.path === '/status') {
    const n = rng.weighted<number>([[10, 0], [50, 1], [30, 3], [8, 20], [2, 150]]);
    for (let i = 0; i < n; i++) params.push(['task', randomId(rng, known)]);
  } else if (route.path.endsWith('/events')) {
    if (route.path === '/events' && rng.chance(0.4)) params.push(['task', randomId(rng, known)]);
    if (route.path === '/events' && rng.chance(0.3)) params.push(['service', rng.pick(SERVICES)]);
    if (rng.chance(0.3)) params.push(['type', rng.pick(EVENT_TYPES)]);
    if (rng.chance(0.3)) params.push(['since', rng.pick(['0', '1', '-1', 'abc', '99999999999999999999', '9007199254740993', ''])]);
    if (rng.chance(0.2)) params.push(['last', rng.pick(['1', '0', '10000', '10001', 'x', '5'])]);
  }
  if (rng.chance(0.08)) params.push([rng.pick(['x', 'service', 'task', 'ttl', '__proto__', 'a[b]', '%ff']), rng.pick(['1', '', '%zz', 'é', 'y'.repeat(1000)])]);
  if (params.length === 0) return { text: '', ...(service !== undefined ? { service } : {}) };
  const raw = rng.chance(0.1);
  const text = params.map(([k, v]) => (raw ? `${k}=${v}` : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)).join('&');
  return { text: `?${text}`, ...(service !== undefined ? { service } : {}) };
}

/** Builds case number `index` of a run. */
export function generateCase(rng: Rng, ctx: CaseContext, index: number, known: readonly string[]): FuzzCase {
  const route = rng.weighted(ROUTES.map((r) => [r.weight, r] as const));
  const method = rng.chance(0.86) ? route.method : rng.pick(ODD_METHODS);
  let path = route.path
    .replace(':id', () => randomId(rng, known))
    .replace(':file', () => rng.pick(FILES))
    .replace(':name', () => rng.pick(SERVICES));
  if (rng.chance(0.18)) path = mutatePath(rng, path);
  const q = query(rng, route, known);
  const headers: [string, string][] = [];
  let host: string | null | undefined;
  if (rng.chance(0.08)) host = rng.pick(HOSTS);
  if (host === '127.0.0.1:1') headers.push(['Host', `${ctx.host}:${ctx.port}`]); // a second Host
  // Every route asks for a credential (issue 12): mostly the right key, sometimes a wrong one or none.
  const key = rng.weighted<string | undefined>([[85, ctx.apiKey], [7, rng.pick(['wrong-key', ''])], [8, undefined]]);
  if (key !== undefined) headers.push(['X-API-Key', key]);
  let upgrade = false;
  if (rng.chance(route.path.endsWith('/updates') || route.path === '/events' ? 0.5 : 0.05)) {
    upgrade = true;
    const broken = rng.chance(0.3);
    headers.push(...(broken ? wsHeaders(rng.pick(['', 'short', 'dGhlIHNhbXBsZSBub25jZQ', '!!!!!!!!!!!!!!!!!!!!!!!!']), rng.pick(['13', '8', '', 'x', '14'])) : wsHeaders()));
    if (rng.chance(0.2)) headers.push(['Sec-WebSocket-Protocol', rng.pick(['patavi', 'a, b', '', '\x01'])]);
  } else if (rng.chance(0.01)) headers.push(['Connection', 'Upgrade, HTTP2-Settings'], ['Upgrade', 'h2c'], ['HTTP2-Settings', 'AAMAAABkAAQAAP__']);
  else if (rng.chance(0.3)) headers.push(['Connection', rng.pick(['close', 'close', 'keep-alive', 'Upgrade', 'foo, bar'])]);
  if (rng.chance(0.15)) headers.push(['Origin', rng.pick(ORIGINS)]);
  if (method === 'OPTIONS' && rng.chance(0.6)) headers.push(['Access-Control-Request-Method', rng.pick(['POST', 'GET', 'DELETE', 'FOO', ''])], ['Access-Control-Request-Headers', rng.pick(['x-api-key', 'content-type, x-client-name', 'x-evil', ''])]);
  if (rng.chance(0.05)) headers.push(['Last-Event-ID', rng.pick(['1', 'abc', '-1', '99999999999999999999', '', '0'])]);
  if (rng.chance(0.05)) headers.push(['If-None-Match', rng.pick(['*', '"x"', `"${known[0]}-task"`, ''])]);
  if (rng.chance(0.05)) headers.push(['Cache-Control', rng.pick(['no-cache', 'no-store', 'max-age=0', 'x'.repeat(100)])]);
  if (rng.chance(0.05)) headers.push(['X-Client-Name', rng.pick(['fuzz', '', '☃'.repeat(10), 'x'.repeat(5000)])]);
  if (rng.chance(0.04)) headers.push(['Accept', rng.pick(['text/event-stream', '*/*', 'application/xml', ''])]);
  if (rng.chance(0.02)) headers.push(['X-Forwarded-Host', 'evil.example'], ['X-Forwarded-Proto', rng.pick(['https', 'javascript', ''])]);
  const huge = rng.chance(0.01);
  if (huge) headers.push(['X-Huge', 'h'.repeat(20_000)]);
  if (rng.chance(0.01)) for (let i = 0; i < 500; i++) headers.push([`X-Many-${i}`, String(i)]);
  if (rng.chance(0.02)) headers.push(['X-Control', `a${String.fromCharCode(rng.pick([0, 1, 8, 0x1b, 0x7f]))}b`]);

  const wantsBody = method === 'POST' || rng.chance(0.05);
  const payload = wantsBody ? body(rng, q.service) : undefined;
  if (payload !== undefined || rng.chance(0.02)) {
    if (rng.chance(0.85)) headers.push(['Content-Type', rng.pick(CONTENT_TYPES)]);
  }
  if (method === 'POST' && rng.chance(0.03)) headers.push(['Expect', rng.pick(['100-continue', 'nonsense'])]);
  let framed: Buffer | undefined = payload;
  let halfClose = false;
  const framing = payload === undefined ? 'auto' : rng.weighted<string>([[86, 'auto'], [4, 'chunked'], [3, 'longer'], [2, 'shorter'], [1, 'nan'], [1, 'twice'], [1, 'both'], [2, 'none']]);
  switch (framing) {
    case 'chunked': {
      headers.push(['Transfer-Encoding', 'chunked']);
      const parts: Buffer[] = [];
      for (let at = 0; at < payload!.length; at += 4096) {
        const piece = payload!.subarray(at, at + 4096);
        parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
      }
      parts.push(Buffer.from('0\r\n\r\n'));
      framed = Buffer.concat(parts);
      break;
    }
    case 'longer': headers.push(['Content-Length', String(payload!.length + rng.int(1, 100))]); halfClose = true; break;
    case 'shorter': headers.push(['Content-Length', String(rng.int(0, Math.max(0, payload!.length - 1)))]); break;
    case 'nan': headers.push(['Content-Length', rng.pick(['abc', '-1', '1.5', '0x10', ' ', '99999999999999999999'])]); halfClose = true; break;
    case 'twice': headers.push(['Content-Length', String(payload!.length)], ['Content-Length', String(payload!.length + 1)]); break;
    case 'both': headers.push(['Content-Length', String(payload!.length)], ['Transfer-Encoding', 'chunked']); halfClose = true; break;
    case 'none': break;
  }
  const version = rng.weighted<string>([[95, 'HTTP/1.1'], [3, 'HTTP/1.0'], [2, rng.pick(['HTTP/1.2', 'HTTP/2.0', 'HTTP/1.1x', 'http/1.1', 'HTTP/01.1'])]]);
  const spec: RequestSpec = {
    method, target: `${path}${q.text}`, version, headers, ...(host !== undefined ? { host } : {}),
    ...(framed !== undefined ? { body: framed } : {}),
    contentLength: framing === 'auto',
    eol: rng.chance(0.03) ? '\n' : '\r\n',
    credential: false, // chosen above
  };
  const oversize = (payload?.length ?? 0) > BODY_LIMIT || huge;
  return {
    item: 'gen',
    name: `#${index} ${JSON.stringify(`${method} ${spec.target}`.slice(0, 120))}`,
    request: buildRequest(spec, ctx),
    method,
    expect: { kind: 'any', allowUpgrade: upgrade && method === 'GET', allowEarlyClose: oversize },
    halfClose,
    patienceMs: 20_000,
  };
}
