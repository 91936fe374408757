import type { FastifyRequest } from 'fastify';
import { NotFoundError } from '../errors.ts';
import { assertSafeKey } from '../keys.ts';
import type { ArtifactReference } from '../manager/artifact-reference.ts';
import type { StorageManager } from '../manager/storage-manager.ts';
import { actingTenant } from './auth.ts';
import type { Principal } from './auth.ts';
import type { ArtifactRows } from './artifact-rows.ts';
import type { ContentCache } from './content-cache.ts';
import { AuthenticationError } from './errors.ts';
import type { ServerMetrics } from './metrics.ts';
import type { ServerConfig } from './server-config.ts';
import type { UploadSlots } from './upload-slots.ts';
import type { HealthMonitor } from './health-monitor.ts';
import type { LeadershipStatus } from '../cluster/leader-lease.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook on every /v1 route except the signed ones. */
    principal: Principal | null;
  }
}

/** What every route is built from. */
export interface RouteContext {
  storage: StorageManager;
  config: ServerConfig;
  metrics: ServerMetrics;
  cache: ContentCache;
  /** Secrets that sign the local/memory providers' URLs (the manager's, and any provider's own). */
  signingSecrets: string[];
  /** Uploads in progress, capped in total and per tenant. */
  uploads: UploadSlots;
  /** The catalog and providers, checked in the background; /readyz answers from the latest check. */
  health: HealthMonitor;
  /** Catalog references the raw GET path answers from (fast-get.ts); the route keeps the variants it finds there. Absent without that path. */
  rows?: ArtifactRows;
  /** Whether this node runs the background work (absent: an app without background work, as buildApp makes). */
  leadership?: { status(): LeadershipStatus };
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AuthenticationError('UNAUTHENTICATED', 'send Authorization: Bearer <token>');
  return request.principal;
}

/** The tenant a service token names for this request: `X-Tenant-Id`, else `?tenantId=`. */
function namedTenant(request: FastifyRequest): string | undefined {
  const header = request.headers['x-tenant-id'];
  if (typeof header === 'string' && header !== '') return header;
  const query = (request.query as { tenantId?: unknown } | undefined)?.tenantId;
  return typeof query === 'string' && query !== '' ? query : undefined;
}

/** The tenant this request acts for (see actingTenant). */
export function tenantOf(request: FastifyRequest, fallback?: string): string {
  return actingTenant(principalOf(request), namedTenant(request), fallback);
}

/** The storage key of a wildcard route, checked: unsafe keys are a 400 before anything is looked up. */
export function keyParam(request: FastifyRequest): string {
  return assertSafeKey((request.params as { '*'?: string })['*'] ?? '', 'storageKey');
}

/**
 * A key the caller's tenant may address: its first segment is the tenant. Another tenant's key is
 * answered exactly like a missing one (404), so that nobody learns what exists elsewhere.
 */
export function ownKey(request: FastifyRequest, key: string): { key: string; tenantId: string } {
  const keyTenant = key.split('/', 1)[0]!;
  const tenantId = tenantOf(request, keyTenant);
  if (keyTenant !== tenantId) throw notFound(key);
  return { key, tenantId };
}

/** The reference of an artifact of the caller's tenant; 404 for anything else. */
export async function ownArtifact(storage: StorageManager, request: FastifyRequest, key: string, opts: { variants?: boolean; lineage?: boolean } = {}): Promise<ArtifactReference> {
  const { tenantId } = ownKey(request, key);
  let ref: ArtifactReference;
  try {
    ref = await storage.getArtifact(key, opts);
  } catch (error) {
    if (error instanceof NotFoundError) throw notFound(key);
    throw error;
  }
  if (ref.tenantId !== tenantId) throw notFound(key);
  return ref;
}

function notFound(key: string): NotFoundError {
  return new NotFoundError(`artifact ${key} not found`);
}
