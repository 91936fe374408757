import type { StorageManager } from '../manager/storage-manager.ts';
import type { CatalogArtifact } from '../catalog/catalog.ts';
import { ValidationError } from '../errors.ts';

export interface RetentionOptions {
  /** Artifacts created more than this many seconds ago. */
  olderThanSeconds: number;
  artifactType?: string;
  tenantId?: string;
  /** List what would go, delete nothing. */
  dryRun?: boolean;
  now?: () => Date;
  batchSize?: number;
  /** Recorded in the audit trail of each deletion. */
  actor?: string;
}

export interface RetentionReport {
  /** Every artifact past the retention age (deleted unless dry run). */
  matched: Pick<CatalogArtifact, 'storageKey' | 'storageProvider' | 'size' | 'createdAt' | 'tenantId' | 'artifactType'>[];
  deleted: number;
  bytes: number;
  dryRun: boolean;
}

/** Delete (or, with dryRun, list) artifacts past a retention age; each deletion is audited. */
export async function applyRetention(storage: StorageManager, options: RetentionOptions): Promise<RetentionReport> {
  if (!Number.isFinite(options.olderThanSeconds) || options.olderThanSeconds <= 0) throw new ValidationError('olderThan must be a positive duration');
  const now = options.now ?? (() => new Date());
  const cutoff = new Date(now().getTime() - options.olderThanSeconds * 1000);
  const batchSize = options.batchSize ?? 500;
  const report: RetentionReport = { matched: [], deleted: 0, bytes: 0, dryRun: options.dryRun ?? false };
  let after = '';
  for (;;) {
    const batch = await storage.catalog.createdBefore(cutoff, { ...(options.tenantId ? { tenantId: options.tenantId } : {}), ...(options.artifactType ? { artifactType: options.artifactType } : {}) }, after, batchSize);
    for (const a of batch) {
      report.matched.push({ storageKey: a.storageKey, storageProvider: a.storageProvider, size: a.size, createdAt: a.createdAt, tenantId: a.tenantId, artifactType: a.artifactType });
      report.bytes += a.size;
      if (!report.dryRun && await storage.deleteArtifact(a.storageKey, undefined, { actor: options.actor ?? 'retention' })) report.deleted++;
    }
    if (batch.length < batchSize) break;
    after = batch.at(-1)!.storageKey;
  }
  return report;
}
