import { ArtifactChangeListener } from '../cluster/artifact-changes.ts';
import type { StorageManager } from '../manager/storage-manager.ts';
import type { Authenticator } from './auth.ts';
import type { ContentCache } from './content-cache.ts';
import type { ServerMetrics } from './metrics.ts';

/**
 * Keep this node's caches in step with every other node on the same PostgreSQL catalog: a deleted
 * artifact, or one whose visibility or provider changed, leaves the small-object cache as soon as
 * the catalog announces it; while the announcements cannot reach this node, the small-object
 * cache is off and the token cache is emptied (and both again when they reach it once more), so a
 * missed announcement never leaves stale data behind. Returns a function that stops listening;
 * undefined on SQLite (one node: its own reads are the catalog's).
 */
export async function keepCachesCoherent(storage: StorageManager, parts: { cache: ContentCache; authenticator: Authenticator; metrics: ServerMetrics; pingIntervalMs: number; onError: (error: unknown) => void }): Promise<(() => Promise<void>) | undefined> {
  const databaseUrl = storage.config.databaseUrl;
  if (storage.catalog.dialect !== 'postgres' || !databaseUrl) return undefined;
  const { cache, authenticator, metrics } = parts;
  const listener = new ArtifactChangeListener(databaseUrl, {
    changed: (storageKey) => {
      if (cache.forget(storageKey)) metrics.cacheInvalidations.inc({ reason: 'changed' });
    },
    deaf: () => {
      cache.suspend();
      authenticator.forgetVerified();
      metrics.cacheListening.set(0);
      metrics.cacheInvalidations.inc({ reason: 'resync' });
    },
    listening: () => {
      cache.resume();
      authenticator.forgetVerified();
      metrics.cacheListening.set(1);
    },
  }, { pingIntervalMs: parts.pingIntervalMs, onError: parts.onError });
  await listener.start();
  return () => listener.close();
}
