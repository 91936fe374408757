import type { StorageManager } from '../manager/storage-manager.ts';
import { parseCleanupConfig } from '../config/cleanup-config.ts';

export interface SweepOptions {
  /** The clock; injectable so tests control time. */
  now?: () => Date;
  batchSize?: number;
  /** Who deletes, in the audit trail: `cleanup` by default; `serve` names its node (`cleanup:{node id}`). */
  actor?: string;
}

export interface SweepReport {
  /** Temporary artifacts past their expiry, deleted. */
  expiredArtifacts: number;
  /** Presigned uploads never completed, removed (with whatever had landed). */
  expiredUploads: number;
  /** Deleted artifacts past `trash_retention`, purged with their mirror copies. */
  purgedFromTrash: number;
  /** Objects whose catalog record went but whose removal failed: `cleanup --orphans` finds them. */
  failures: { key: string; error: string }[];
  /** False when another process was already sweeping. */
  ran: boolean;
}

/**
 * Delete what has expired, a batch at a time: temporary files past their TTL, presigned uploads
 * never completed, and deleted artifacts past their time in the trash. Each batch is claimed atomically in the catalog, so processes sweeping at once
 * never delete the same one; on PostgreSQL only one sweep runs at a time at all.
 */
export async function sweepExpired(storage: StorageManager, options: SweepOptions = {}): Promise<SweepReport> {
  const now = options.now ?? (() => new Date());
  const batchSize = options.batchSize ?? parseCleanupConfig(storage.config.cleanup).max_cleanup_batch_size;
  const actor = options.actor ?? 'cleanup';
  const report: SweepReport = { expiredArtifacts: 0, expiredUploads: 0, purgedFromTrash: 0, failures: [], ran: true };
  const ran = await storage.catalog.exclusively('expiry-sweep', async () => {
    for (;;) {
      const batch = await storage.catalog.claimExpired(now(), batchSize, actor);
      for (const artifact of batch) {
        await removeObject(storage, artifact.storageProvider, artifact.storageKey, report);
        report.expiredArtifacts++;
      }
      if (batch.length < batchSize) break;
    }
    for (;;) {
      const batch = await storage.catalog.claimExpiredUploads(now(), batchSize);
      for (const upload of batch) {
        await removeObject(storage, upload.provider, upload.storage_key, report);
        report.expiredUploads++;
      }
      if (batch.length < batchSize) break;
    }
    for (;;) {
      const batch = await storage.catalog.trash.claimPurgeable(now(), batchSize, actor);
      for (const { artifact, copies } of batch) {
        for (const provider of [artifact.storageProvider, ...copies]) await removeObject(storage, provider, artifact.storageKey, report);
        report.purgedFromTrash++;
      }
      if (batch.length < batchSize) break;
    }
    return true;
  });
  return { ...report, ran: ran === true };
}

async function removeObject(storage: StorageManager, provider: string, key: string, report: SweepReport): Promise<void> {
  try {
    await storage.provider(provider).delete(key);
  } catch (error) {
    report.failures.push({ key, error: (error as Error).message });
  }
}
