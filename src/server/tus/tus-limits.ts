import type { IncomingMessage } from 'node:http';

/**
 * Whether a TUS request carries upload bytes (every PATCH, and a creation-with-upload POST): those
 * hold an upload slot (server.max_concurrent_uploads[_per_tenant]) while their bodies stream, as
 * every upload route's do; the TUS handlers read those bodies, not our clientBytes.
 */
export function carriesUploadBytes(request: IncomingMessage): boolean {
  if (request.method === 'PATCH') return true;
  if (request.method !== 'POST') return false;
  const length = Number(request.headers['content-length'] ?? 0);
  return request.headers['transfer-encoding'] !== undefined || (Number.isFinite(length) && length > 0);
}
