import { selectProvider } from '../manager/routing.ts';
import type { StorageManager } from '../manager/storage-manager.ts';
import { copyVerified } from './copy-object.ts';
import { mirrorsOf } from '../operations/sync-mirrors.ts';

export interface RebalanceReport {
  moves: { key: string; from: string; to: string }[];
  moved: number;
  failed: { key: string; error: string }[];
  /** Mirror copies the moved artifacts got on their new provider's mirrors (copied and verified by this run). */
  mirrored: number;
  dryRun: boolean;
}

/**
 * Move artifacts that are not where the routing rules would put them today (written to a fallback
 * during an outage, or routed by rules since changed) to that provider: copy, verify the SHA-256,
 * re-point the catalog, then delete the old object. A moved artifact then gets a copy on each of
 * its new provider's mirrors, as if it had been stored there (queued with the move, copied before
 * this returns; a copy that fails stays queued for the mirror task).
 */
export async function rebalance(storage: StorageManager, options: { dryRun?: boolean; actor?: string } = {}): Promise<RebalanceReport> {
  const report: RebalanceReport = { moves: [], moved: 0, failed: [], mirrored: 0, dryRun: options.dryRun ?? false };
  let queued = false;
  const { routingRules, defaultProvider } = storage.config;
  let after = '';
  for (;;) {
    const batch = await storage.catalog.artifactsAfter(after, 500);
    for (const artifact of batch) {
      const home = selectProvider(routingRules, defaultProvider, { artifactType: artifact.artifactType, contentType: artifact.contentType, tenantId: artifact.tenantId, size: artifact.size });
      if (home === artifact.storageProvider) continue;
      report.moves.push({ key: artifact.storageKey, from: artifact.storageProvider, to: home });
      if (report.dryRun) continue;
      try {
        await copyVerified(storage, artifact, artifact.storageProvider, home);
        await storage.catalog.moveTo(artifact.storageKey, artifact.tenantId, home, options.actor ?? 'rebalance');
        const mirrors = mirrorsOf(storage.config, { ...artifact, storageProvider: home });
        await storage.catalog.queueCopies(artifact.storageKey, mirrors);
        queued ||= mirrors.length > 0;
        await storage.provider(artifact.storageProvider).delete(artifact.storageKey);
        report.moved++;
      } catch (error) {
        report.failed.push({ key: artifact.storageKey, error: (error as Error).message });
      }
    }
    if (batch.length < 500) break;
    after = batch.at(-1)!.storageKey;
  }
  if (queued) {
    const copies = await storage.flushMirrors();
    report.mirrored = copies.copied;
    for (const f of copies.failed) report.failed.push({ key: f.key, error: `copying to its mirror ${f.provider}: ${f.error}` });
  }
  return report;
}
