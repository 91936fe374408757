import type { Catalog } from '../catalog/catalog.ts';
import { copyVerified } from './copy-object.ts';
import type { ProviderLookup } from './copy-object.ts';
import { backoffDelay } from '../layers/backoff.ts';

/** What mirroring needs (a StorageManager is one): it imports no manager, so the manager can import it. */
export interface MirrorContext extends ProviderLookup {
  readonly catalog: Catalog;
}

export interface MirrorReport {
  copied: number;
  failed: { key: string; provider: string; error: string }[];
}

const LEASE_MS = 10 * 60_000;
const MAX_BACKOFF_MS = 3600_000;

/**
 * Copy queued artifacts to their mirrors. Copies are claimed with a lease, so processes running
 * this at once do not copy the same one; a failed copy is tried again later with exponential
 * backoff, and one whose worker died comes due when its lease ends.
 */
export async function processMirrorQueue(storage: MirrorContext, options: { now?: () => Date; limit?: number } = {}): Promise<MirrorReport> {
  const now = options.now ?? (() => new Date());
  const report: MirrorReport = { copied: 0, failed: [] };
  for (;;) {
    const batch = await storage.catalog.claimCopies(now(), options.limit ?? 50, LEASE_MS);
    for (const copy of batch) {
      const artifact = await storage.catalog.get(copy.storageKey);
      if (!artifact) continue; // deleted meanwhile: its queue rows went with it
      try {
        await copyVerified(storage, artifact, artifact.storageProvider, copy.provider);
        await storage.catalog.finishCopy(copy.storageKey, copy.provider);
        report.copied++;
      } catch (error) {
        const attempts = copy.attempts + 1;
        const delay = backoffDelay(attempts, { baseMs: 1000, maxMs: MAX_BACKOFF_MS });
        await storage.catalog.retryCopyLater(copy.storageKey, copy.provider, attempts, new Date(now().getTime() + delay), (error as Error).message);
        report.failed.push({ key: copy.storageKey, provider: copy.provider, error: (error as Error).message });
      }
    }
    if (batch.length < (options.limit ?? 50)) return report;
  }
}

/** Retry due mirror copies every `intervalMs` in the background (stores start a pass themselves). */
export function startMirrorTask(storage: MirrorContext & { flushMirrors(): Promise<unknown> }, options: { intervalMs?: number; onError?: (error: unknown) => void } = {}): () => Promise<void> {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= storage.flushMirrors().then(() => undefined, options.onError).finally(() => { running = undefined; });
  }, options.intervalMs ?? 30_000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
