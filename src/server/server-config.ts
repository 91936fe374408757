import { z } from 'zod';
import { ConfigError } from '../errors.ts';
import type { StorageConfig } from '../config/load.ts';
import { formatIssues } from '../config/provider-config.ts';
import { parseDuration, parseSize } from '../config/sizes.ts';
import { serviceBaseUrl } from '../config/public-url.ts';

/**
 * The `server:` and `auth:` sections of the configuration, parsed once at start-up. The storage
 * config keeps both as free-form records; this module owns their shape.
 */

const size = z.union([z.number().int().nonnegative(), z.string().min(1)]);
const duration = z.union([z.number().positive(), z.string().min(1)]);
const oneOrMany = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

export const serverSectionSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  /** `boards-storage serve` runs this many processes on the port (node:cluster); one process uses one core. */
  workers: z.coerce.number().int().min(1).max(64).default(1),
  /** The base URL clients reach this server at (behind a proxy); signed URLs of local/memory providers point here. */
  public_url: z.string().url().optional(),
  /** How long in-flight requests may take to finish on SIGTERM/SIGINT before connections are cut. */
  shutdown_timeout: duration.default('10s'),
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Small artifacts kept in memory by storage key, only once their bytes matched the recorded SHA-256. */
  cache: z.object({
    max_object_size: size.default('256KB'),
    max_total_size: size.default('64MB'),
  }).strict().default({ max_object_size: '256KB', max_total_size: '64MB' }),
  /** Most keys in one POST /v1/urls. */
  max_batch_urls: z.number().int().positive().max(10_000).default(1000),
  /** Resumable uploads (TUS 1.0) at /v1/uploads/tus. */
  tus: z.object({
    /** Where partial uploads are kept until they finish; several nodes must share it. Default `{data_dir}/tus`. */
    directory: z.string().min(1).optional(),
    /** An upload not finished this long after its creation expires and is swept. */
    expiration: duration.default('24h'),
    /** How often expired uploads are swept. */
    sweep_interval: duration.default('1h'),
  }).strict().default({ expiration: '24h', sweep_interval: '1h' }),
  /** Requests per window, per tenant and per client address (429 + Retry-After); off unless configured. Shared through Redis when `redis_url` is set. */
  rate_limit: z.object({
    per_tenant: z.object({ max: z.number().int().positive(), window: duration.default('1m') }).strict().optional(),
    per_address: z.object({ max: z.number().int().positive(), window: duration.default('1m') }).strict().optional(),
    /** Client addresses never limited. */
    allow: z.array(z.string().min(1)).default([]),
  }).strict().default({ allow: [] }),
  /** Behind a proxy or load balancer: trust its X-Forwarded-For for the client address (true, a hop count, or the proxies' addresses/CIDRs). */
  trust_proxy: z.union([z.boolean(), z.number().int().min(1), z.array(z.string().min(1))]).default(false),
  /** Cross-origin access for browsers; with no origins, none is allowed. */
  cors: z.object({
    /** Exact origins (`https://app.example.com`), or `*` for any (then credentials must be false). */
    origins: z.array(z.string().min(1)).default([]),
    /** Let browsers send cookies / Authorization with credentialed requests. */
    credentials: z.boolean().default(false),
    /** How long browsers may cache a preflight answer. */
    max_age: duration.default('10m'),
  }).strict().default({ origins: [], credentials: false, max_age: '10m' }),
  /** An upload body that sends nothing for this long is answered 408 and its connection closed. */
  body_idle_timeout: duration.default('30s'),
  /** Uploads in progress at once (POST /v1/artifacts and signed PUTs); more are answered 503 with Retry-After. */
  max_concurrent_uploads: z.coerce.number().int().positive().default(256),
  /** Uploads in progress at once for one tenant; more are answered 429 with Retry-After. */
  max_concurrent_uploads_per_tenant: z.coerce.number().int().positive().default(32),
}).strict();

export const authSectionSchema = z.object({
  /** HS256 secret; BOARDS_STORAGE_JWT_SECRET. Without it (and without jwks_url) one is generated into data_dir as jwt.key. */
  jwt_secret: z.string().min(32, 'use at least 32 characters').optional(),
  /** RS256/ES256 keys of an identity provider (Supabase Auth, Auth0, Keycloak ...). */
  jwks_url: z.string().url().optional(),
  issuer: oneOrMany.optional(),
  audience: oneOrMany.optional(),
  /** The claim naming the caller's tenant; a dotted path reaches into objects (`app_metadata.tenant_id`). */
  tenant_claim: z.string().min(1).default('tenant_id'),
  role_claim: z.string().min(1).default('role'),
  /** Roles that may act for any tenant by naming it (`X-Tenant-Id` or `?tenantId=`). */
  service_roles: z.array(z.string().min(1)).default(['service']),
  /** Seconds of clock skew tolerated on `exp`/`nbf`. */
  clock_tolerance: z.number().int().min(0).max(300).default(5),
}).strict();

export interface AuthSettings {
  jwtSecret?: string;
  jwksUrl?: string;
  issuer?: string | string[];
  audience?: string | string[];
  tenantClaim: string;
  roleClaim: string;
  serviceRoles: string[];
  clockToleranceSeconds: number;
}

/** Everything the HTTP service needs besides the storage manager. */
export interface ServerConfig {
  host: string;
  port: number;
  /** Processes `serve` runs (workers.ts). */
  workers: number;
  publicUrl?: string;
  shutdownTimeoutMs: number;
  logLevel: string;
  cache: { maxObjectBytes: number; maxTotalBytes: number };
  maxBatchUrls: number;
  tus: { directory?: string; expirationMs: number; sweepIntervalMs: number };
  cors: { origins: string[]; credentials: boolean; maxAgeSeconds: number };
  rateLimit: { perTenant?: { max: number; windowMs: number }; perAddress?: { max: number; windowMs: number }; allow: string[] };
  trustProxy: boolean | number | string[];
  /** 0: no idle limit. */
  bodyIdleTimeoutMs: number;
  maxConcurrentUploads: number;
  maxConcurrentUploadsPerTenant: number;
  auth: AuthSettings;
}

/**
 * Parse `server:` and `auth:` with `BOARDS_STORAGE_HOST`, `BOARDS_STORAGE_PORT`, `BOARDS_STORAGE_WORKERS`,
 * `BOARDS_STORAGE_PUBLIC_URL`, `BOARDS_STORAGE_JWT_SECRET`, `BOARDS_STORAGE_JWKS_URL` on top.
 * Throws a ConfigError naming the offending path.
 */
export function resolveServerConfig(config: Pick<StorageConfig, 'server' | 'auth'>, env: Record<string, string | undefined> = process.env): ServerConfig {
  const server: Record<string, unknown> = { ...config.server };
  const auth: Record<string, unknown> = { ...config.auth };
  const set = (name: string, apply: (value: string) => void) => {
    const value = env[name];
    if (value !== undefined && value !== '') apply(value);
  };
  set('BOARDS_STORAGE_HOST', (v) => { server.host = v; });
  set('BOARDS_STORAGE_PORT', (v) => { server.port = v; });
  set('BOARDS_STORAGE_WORKERS', (v) => { server.workers = v; });
  set('BOARDS_STORAGE_PUBLIC_URL', (v) => { server.public_url = v; });
  set('BOARDS_STORAGE_JWT_SECRET', (v) => { auth.jwt_secret = v; });
  set('BOARDS_STORAGE_JWKS_URL', (v) => { auth.jwks_url = v; });

  const s = serverSectionSchema.safeParse(server);
  if (!s.success) throw new ConfigError(formatIssues(s.error, 'storage.server'), { cause: s.error });
  const a = authSectionSchema.safeParse(auth);
  if (!a.success) throw new ConfigError(formatIssues(a.error, 'storage.auth'), { cause: a.error });
  const parsed = s.data;
  const authParsed = a.data;
  return {
    host: parsed.host,
    port: parsed.port,
    workers: parsed.workers,
    ...(parsed.public_url === undefined ? {} : { publicUrl: parsed.public_url.replace(/\/+$/, '') }),
    shutdownTimeoutMs: parseDuration(parsed.shutdown_timeout, 'storage.server.shutdown_timeout') * 1000,
    logLevel: parsed.log_level,
    cache: {
      maxObjectBytes: parseSize(parsed.cache.max_object_size, 'storage.server.cache.max_object_size'),
      maxTotalBytes: parseSize(parsed.cache.max_total_size, 'storage.server.cache.max_total_size'),
    },
    maxBatchUrls: parsed.max_batch_urls,
    tus: {
      ...(parsed.tus.directory === undefined ? {} : { directory: parsed.tus.directory }),
      expirationMs: parseDuration(parsed.tus.expiration, 'storage.server.tus.expiration') * 1000,
      sweepIntervalMs: parseDuration(parsed.tus.sweep_interval, 'storage.server.tus.sweep_interval') * 1000,
    },
    rateLimit: {
      ...(parsed.rate_limit.per_tenant ? { perTenant: { max: parsed.rate_limit.per_tenant.max, windowMs: parseDuration(parsed.rate_limit.per_tenant.window, 'storage.server.rate_limit.per_tenant.window') * 1000 } } : {}),
      ...(parsed.rate_limit.per_address ? { perAddress: { max: parsed.rate_limit.per_address.max, windowMs: parseDuration(parsed.rate_limit.per_address.window, 'storage.server.rate_limit.per_address.window') * 1000 } } : {}),
      allow: parsed.rate_limit.allow,
    },
    trustProxy: parsed.trust_proxy,
    cors: checkCors(parsed.cors.origins, parsed.cors.credentials, parseDuration(parsed.cors.max_age, 'storage.server.cors.max_age')),
    bodyIdleTimeoutMs: parseDuration(parsed.body_idle_timeout, 'storage.server.body_idle_timeout') * 1000,
    maxConcurrentUploads: parsed.max_concurrent_uploads,
    maxConcurrentUploadsPerTenant: parsed.max_concurrent_uploads_per_tenant,
    auth: {
      ...(authParsed.jwt_secret === undefined ? {} : { jwtSecret: authParsed.jwt_secret }),
      ...(authParsed.jwks_url === undefined ? {} : { jwksUrl: authParsed.jwks_url }),
      ...(authParsed.issuer === undefined ? {} : { issuer: authParsed.issuer }),
      ...(authParsed.audience === undefined ? {} : { audience: authParsed.audience }),
      tenantClaim: authParsed.tenant_claim,
      roleClaim: authParsed.role_claim,
      serviceRoles: authParsed.service_roles,
      clockToleranceSeconds: authParsed.clock_tolerance,
    },
  };
}

function checkCors(origins: string[], credentials: boolean, maxAgeSeconds: number): ServerConfig['cors'] {
  for (const origin of origins) {
    if (origin === '*') continue;
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new ConfigError(`storage.server.cors.origins: "${origin}" is not an origin (scheme://host[:port])`);
    }
    if (parsed.origin !== origin) throw new ConfigError(`storage.server.cors.origins: "${origin}" is not an origin; write it as ${parsed.origin}`);
  }
  // Browsers refuse a wildcard with credentials; say so at start-up rather than fail in every browser.
  if (credentials && origins.includes('*')) throw new ConfigError('storage.server.cors: credentials: true needs the exact origins, not "*"');
  return { origins, credentials, maxAgeSeconds: Math.round(maxAgeSeconds) };
}

/** The URL clients use to reach a server listening on host:port (or the configured public_url). */
export function serverBaseUrl(config: Pick<ServerConfig, 'host' | 'port' | 'publicUrl'>): string {
  return serviceBaseUrl({ public_url: config.publicUrl, host: config.host, port: config.port });
}
