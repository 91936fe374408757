/**
 * Where this deployment's service is reached, from the `server:` section (with the
 * BOARDS_STORAGE_PUBLIC_URL / _HOST / _PORT variables already applied): `public_url` when set, else
 * `http://{host}:{port}`. Signed URLs of the providers the service serves itself (local, memory)
 * point here, whoever signs them: the service, the CLI or a library call.
 */
export function serviceBaseUrl(server: { public_url?: unknown; host?: unknown; port?: unknown }): string {
  if (typeof server.public_url === 'string' && server.public_url !== '') return server.public_url.replace(/\/+$/, '');
  const configured = typeof server.host === 'string' && server.host !== '' ? server.host : '127.0.0.1';
  const host = configured === '0.0.0.0' || configured === '::' ? '127.0.0.1' : configured;
  const port = server.port === undefined || server.port === '' ? 8080 : Number(server.port);
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
