import type { StorageConfig } from '../config/load.ts';
import type { CatalogArtifact } from '../catalog/catalog.ts';
import { copyVerified } from '../lifecycle/copy-object.ts';
import type { MirrorContext } from '../lifecycle/mirrors.ts';

export interface SyncMirrorsOptions {
  /** Only artifacts stored on this provider, and copies to it (a mirror added later). */
  provider?: string;
  /** After each artifact: how many were looked at, and the bytes copied so far. */
  onProgress?: (progress: { artifacts: number; bytes: number }) => void;
}

export interface SyncMirrorsReport {
  /** Artifacts looked at. */
  artifacts: number;
  /** Copies made (and verified, and recorded) by this run. */
  copied: number;
  /** Copies that were already done. */
  alreadyDone: number;
  bytes: number;
  /** Copies that failed; they stay queued and the background mirror task (or the next sync) retries them. */
  failed: { storageKey: string; provider: string; error: string }[];
}

const PAGE = 500;
const MAX_BACKOFF_MS = 3600_000;

/**
 * Backfill mirrors: every artifact gets a finished copy on each mirror its provider has today, as
 * a store would have made (an artifact written to a fallback and moved home, a mirror added
 * later). Each copy is queued in the catalog first, then streamed, checked against the recorded
 * SHA-256 and size on its way, and recorded as done. The catalog is the checkpoint: a run that
 * stops is resumed by running it again, which skips every copy already done.
 */
export async function syncMirrors(storage: MirrorContext & { readonly config: StorageConfig }, options: SyncMirrorsOptions = {}): Promise<SyncMirrorsReport> {
  const report: SyncMirrorsReport = { artifacts: 0, copied: 0, alreadyDone: 0, bytes: 0, failed: [] };
  let after = '';
  for (;;) {
    const batch = await storage.catalog.artifactsAfter(after, PAGE);
    for (const artifact of batch) {
      const wanted = mirrorsOf(storage.config, artifact, options.provider);
      if (wanted.length === 0) continue;
      report.artifacts++;
      await syncArtifact(storage, artifact, wanted, report);
      options.onProgress?.({ artifacts: report.artifacts, bytes: report.bytes });
    }
    if (batch.length < PAGE) return report;
    after = batch.at(-1)!.storageKey;
  }
}

/** The mirrors an artifact should have on its provider as configured now (limited to `only`, when given). */
export function mirrorsOf(config: StorageConfig, artifact: CatalogArtifact, only?: string): string[] {
  const mirrors = (config.providers[artifact.storageProvider]?.mirrors ?? []).filter((m) => m !== artifact.storageProvider && m in config.providers);
  if (only === undefined || artifact.storageProvider === only) return mirrors;
  return mirrors.filter((m) => m === only);
}

async function syncArtifact(storage: MirrorContext, artifact: CatalogArtifact, wanted: string[], report: SyncMirrorsReport): Promise<void> {
  const copies = new Map((await storage.catalog.copiesOf(artifact.storageKey)).map((c) => [c.provider, c.status]));
  const missing = wanted.filter((m) => copies.get(m) !== 'done');
  report.alreadyDone += wanted.length - missing.length;
  // Queued before copying: a run that dies mid-copy leaves the copy for the next run or the background task.
  await storage.catalog.queueCopies(artifact.storageKey, missing.filter((m) => !copies.has(m)));
  for (const mirror of missing) {
    try {
      await copyVerified(storage, artifact, artifact.storageProvider, mirror);
      await storage.catalog.finishCopy(artifact.storageKey, mirror);
      report.copied++;
      report.bytes += artifact.size;
    } catch (error) {
      const message = (error as Error).message;
      // The failure is in the report either way; a copy not rescheduled is found again by the next pass.
      await storage.catalog.retryCopyLater(artifact.storageKey, mirror, 1, new Date(Date.now() + Math.min(60_000, MAX_BACKOFF_MS)), message).catch(() => undefined);
      report.failed.push({ storageKey: artifact.storageKey, provider: mirror, error: message });
    }
  }
}
