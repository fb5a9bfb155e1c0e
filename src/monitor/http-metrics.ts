/**
 * HTTP request durations by route (issue 14): one histogram observation per request, in Fastify's
 * onResponse hook, with the route's pattern (`/task/:id`, never the URL), the method and the
 * status class. Streams (WebSockets, SSE) are left out: their "duration" is how long a client
 * watched, which would drown the request times; open streams are a gauge instead.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Histogram } from 'prom-client';
import type { Metrics } from './metrics.ts';

/** Seconds: from a cache hit (well under a millisecond) to a slow database (seconds). */
export const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

type Label = 'route' | 'method' | 'status';

/** What the server's stream counter tells: open streams of each kind. */
export interface OpenStreams { open(kind?: 'websocket' | 'sse'): number }

export function instrumentHttp(app: FastifyInstance, metrics: Metrics, streams: OpenStreams): void {
  const durations = metrics.histogram<Label>('errand_http_request_duration_seconds', 'HTTP requests by route pattern, method and status class, from the request\'s arrival to the end of its answer. Streams are left out.', ['route', 'method', 'status'], HTTP_BUCKETS);
  // Children are looked up once per label set: an observation is then a few additions.
  const children = new Map<string, ReturnType<Histogram<Label>['labels']>>();
  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    if (!request.ws && !isEventStream(reply)) {
      // The pattern Fastify matched; every request no route matched is one label value.
      const route = request.routeOptions.url ?? 'unmatched';
      const method = METHODS.has(request.method) ? request.method : 'other';
      const status = STATUS_CLASSES[Math.floor(reply.statusCode / 100) - 1] ?? 'other';
      const key = `${method} ${status} ${route}`;
      let child = children.get(key);
      if (!child) children.set(key, (child = durations.labels({ route, method, status })));
      child.observe(reply.elapsedTime / 1000);
    }
    done();
  });
  // Read from the stream counter when scraped: the routes count nothing more.
  metrics.readAtScrape({ name: 'errand_open_streams', help: 'WebSockets and SSE streams open now.', labelNames: ['kind'] }, () => [
    { labels: { kind: 'websocket' }, value: streams.open('websocket') },
    { labels: { kind: 'sse' }, value: streams.open('sse') },
  ]);
}

function isEventStream(reply: FastifyReply): boolean {
  const type = reply.getHeader('content-type');
  return typeof type === 'string' && type.startsWith('text/event-stream');
}
