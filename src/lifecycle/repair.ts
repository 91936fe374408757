import { createHash } from 'node:crypto';
import { NotFoundError } from '../errors.ts';
import type { StorageManager } from '../manager/storage-manager.ts';
import type { CatalogArtifact } from '../catalog/catalog.ts';
import { copyVerified } from './copy-object.ts';

/** What reading one copy of an artifact found. */
export type CopyState = 'ok' | 'corrupt' | 'missing' | 'size_mismatch';

export interface RepairOutcome {
  repaired: boolean;
  /** The provider whose verified copy was used. */
  from?: string;
  /** Why nothing could be restored (no other copy, or none of them good). */
  error?: string;
}

/** Where the catalog records an artifact's bytes: its provider, then its finished mirror copies. */
export async function recordedCopies(storage: StorageManager, artifact: CatalogArtifact): Promise<string[]> {
  const names = [artifact.storageProvider];
  for (const copy of await storage.catalog.copiesOf(artifact.storageKey)) if (copy.status === 'done') names.push(copy.provider);
  return [...new Set(names)].filter((name) => storage.providerNames().includes(name));
}

/**
 * Every provider that may hold a good copy of an artifact: the recorded copies, and the
 * provider's fallback (which holds it when it was written there during an outage and the record
 * moved home since). Candidates only: a check or a verified copy proves each one.
 */
export async function copyLocations(storage: StorageManager, artifact: CatalogArtifact): Promise<string[]> {
  const names = await recordedCopies(storage, artifact);
  const fallback = storage.config.providers[artifact.storageProvider]?.fallback;
  if (fallback && !names.includes(fallback) && storage.providerNames().includes(fallback)) names.push(fallback);
  return names;
}

/**
 * Read one copy whole and compare its size and SHA-256 with the record. `pace` is awaited after
 * each chunk (a scrub's rate limit). Errors other than a missing object are thrown.
 */
export async function checkCopy(storage: StorageManager, artifact: CatalogArtifact, provider: string, pace?: (bytes: number) => Promise<void>): Promise<CopyState> {
  let stream;
  try {
    stream = await storage.provider(provider).openDownload(artifact.storageKey);
  } catch (error) {
    if (error instanceof NotFoundError) return 'missing';
    throw error;
  }
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    hash.update(chunk as Buffer);
    if (pace) await pace((chunk as Buffer).length);
  }
  if (size !== artifact.size) return 'size_mismatch';
  return hash.digest('hex') === artifact.sha256 ? 'ok' : 'corrupt';
}

/**
 * Restore the copy of an artifact on `bad` from another copy: each other location in turn is
 * copied over it with its bytes verified on the way (a corrupt source is refused before the
 * target commits), and the restored copy is read back and checked again.
 */
export async function repairCopy(storage: StorageManager, artifact: CatalogArtifact, bad: string): Promise<RepairOutcome> {
  const sources = (await copyLocations(storage, artifact)).filter((name) => name !== bad);
  if (sources.length === 0) return { repaired: false, error: `no other copy of ${artifact.storageKey} is recorded (configure mirrors to keep one)` };
  const failures: string[] = [];
  for (const source of sources) {
    try {
      await copyVerified(storage, artifact, source, bad);
      const state = await checkCopy(storage, artifact, bad);
      if (state === 'ok') return { repaired: true, from: source };
      failures.push(`${source}: the restored copy on ${bad} reads back as ${state}`);
    } catch (error) {
      failures.push(`${source}: ${(error as Error).message}`);
    }
  }
  return { repaired: false, error: `no good copy could be restored (${failures.join('; ')})` };
}
