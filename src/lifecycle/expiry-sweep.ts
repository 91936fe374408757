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
  /** Objects whose catalog record went but whose removal failed: they stay queued and the next sweep tries again. */
  failures: { key: string; error: string }[];
  /** False when another process was already sweeping. */
  ran: boolean;
}

/**
 * Delete what has expired, a batch at a time: temporary files past their TTL, presigned uploads
 * never completed, and deleted artifacts past their time in the trash. Each batch is claimed
 * atomically in the catalog, so processes sweeping at once never delete the same one; on PostgreSQL
 * only one sweep runs at a time at all. A claim queues the objects for deletion in its transaction;
 * they are deleted after, with any an earlier sweep left (a process killed mid-sweep, a provider
 * that failed), so no object outlives its record for longer than one sweep.
 */
export async function sweepExpired(storage: StorageManager, options: SweepOptions = {}): Promise<SweepReport> {
  const now = options.now ?? (() => new Date());
  const batchSize = options.batchSize ?? parseCleanupConfig(storage.config.cleanup).max_cleanup_batch_size;
  const actor = options.actor ?? 'cleanup';
  const report: SweepReport = { expiredArtifacts: 0, expiredUploads: 0, purgedFromTrash: 0, failures: [], ran: true };
  const claimAll = async (claim: () => Promise<number>) => {
    while (await claim() === batchSize);
  };
  const ran = await storage.catalog.exclusively('expiry-sweep', async () => {
    await claimAll(async () => {
      const batch = await storage.catalog.claimExpired(now(), batchSize, actor);
      report.expiredArtifacts += batch.length;
      return batch.length;
    });
    await claimAll(async () => {
      const batch = await storage.catalog.claimExpiredUploads(now(), batchSize);
      report.expiredUploads += batch.length;
      return batch.length;
    });
    await claimAll(async () => {
      const batch = await storage.catalog.trash.claimPurgeable(now(), batchSize, actor);
      report.purgedFromTrash += batch.length;
      return batch.length;
    });
    await deleteQueuedObjects(storage, now(), batchSize, report);
    return true;
  });
  return { ...report, ran: ran === true };
}

/** Delete the objects queued for deletion by `before`; one that fails stays queued for the next sweep. */
async function deleteQueuedObjects(storage: StorageManager, before: Date, batchSize: number, report: SweepReport): Promise<void> {
  let after: { storageKey: string; provider: string } | undefined;
  for (;;) {
    const batch = await storage.catalog.deletions.due(before, batchSize, after);
    for (const { storageKey, provider } of batch) {
      try {
        // The same key stored again on the same provider since: its object is no longer ours to delete.
        if (!await storage.catalog.deletions.recordedAgain(storageKey, provider)) await storage.provider(provider).delete(storageKey);
        await storage.catalog.deletions.done(storageKey, provider);
      } catch (error) {
        report.failures.push({ key: storageKey, error: (error as Error).message });
      }
    }
    if (batch.length < batchSize) return;
    after = batch.at(-1);
  }
}
