// Public surface of boards-storage/server: the HTTP service. Kept apart from the package root so
// that the library loads no Fastify, Swagger, prom-client or jose.
export { createServer, createServer as buildApp } from './app.ts';
export type { CreateServerOptions, BoardsStorageServer } from './app.ts';
export { startServer } from './start.ts';
export type { StartServerOptions, RunningServer } from './start.ts';
export { resolveServerConfig } from './server-config.ts';
export type { ServerConfig, AuthSettings } from './server-config.ts';
export { mintToken, resolveJwtSecret } from './auth.ts';
export type { MintTokenOptions, Principal } from './auth.ts';
export type { LeadershipStatus } from '../cluster/leader-lease.ts';
export type { HealthSnapshot } from './health-monitor.ts';
