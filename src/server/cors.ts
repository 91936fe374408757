import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import type { ServerConfig } from './server-config.ts';

/** What browsers may send: the API's own headers and the TUS protocol's. */
const ALLOWED_HEADERS = [
  'Authorization', 'Content-Type', 'Range', 'If-None-Match', 'If-Range', 'X-Tenant-Id', 'X-Requested-With',
  'Tus-Resumable', 'Upload-Length', 'Upload-Offset', 'Upload-Metadata', 'Upload-Defer-Length', 'Upload-Concat', 'X-HTTP-Method-Override',
];

/** What browser code may read: downloads (ETag, ranges), creation (Location), TUS, rate limits. */
export const EXPOSED_HEADERS = [
  'ETag', 'Content-Range', 'Content-Length', 'Content-Disposition', 'Accept-Ranges', 'Location',
  'Upload-Offset', 'Upload-Length', 'Upload-Expires', 'Upload-Metadata', 'Tus-Resumable', 'Tus-Version', 'Tus-Extension', 'Tus-Max-Size',
  'Storage-Key', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset',
];

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * Cross-origin access through @fastify/cors, answered before authentication (a preflight carries
 * no token). With no `server.cors.origins` nothing is registered: no response carries
 * Access-Control-Allow-Origin, so browsers allow no cross-origin access at all.
 */
export async function registerCors(app: FastifyInstance, config: ServerConfig['cors']): Promise<void> {
  if (config.origins.length === 0) return;
  const base = {
    origin: config.origins.includes('*') ? '*' : config.origins,
    credentials: config.credentials,
    maxAge: config.maxAgeSeconds,
    methods: METHODS,
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    strictPreflight: true,
  };
  await app.register(cors, {
    // An OPTIONS without Access-Control-Request-Method is not a preflight (TUS clients ask the
    // server's capabilities with one): it goes on to its route instead of being refused.
    delegator: (request, callback) => callback(null, { ...base, preflight: request.method !== 'OPTIONS' || request.headers['access-control-request-method'] !== undefined }),
  });
}
