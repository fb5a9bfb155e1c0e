/** Links in responses come from the configured public URL, else from the request's own host. */
import type { FastifyRequest } from 'fastify';
import type { Links } from '../core/index.ts';

export function linksFor(request: FastifyRequest, publicUrl: string | undefined): Links {
  const http = publicUrl ? publicUrl.replace(/\/+$/, '') : `${request.protocol}://${request.host}`;
  return { http, ws: http.replace(/^http/, 'ws') };
}
