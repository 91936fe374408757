import { StorageError, ValidationError } from '../errors.ts';
import type { StorageManager } from '../manager/storage-manager.ts';
import { createVariant } from './variants.ts';

export interface VariantReport {
  made: number;
  /** Jobs that cannot be done here (no ffmpeg, an image that is refused); not tried again. */
  skipped: { key: string; name: string; reason: string }[];
  /** Jobs that failed this time and are tried again later. */
  failed: { key: string; name: string; error: string }[];
}

const LEASE_MS = 10 * 60_000;
const MAX_BACKOFF_MS = 3600_000;
const MAX_ATTEMPTS = 8;

/**
 * Make the preset variants queued in the catalog with each store ("cache warming"). Jobs are
 * claimed with a lease, so processes running this at once never make the same one; a job whose
 * worker died comes due again when its lease ends, and one made meanwhile on demand is found and
 * finished. Failures back off exponentially; a job that can never succeed here is skipped with
 * its reason.
 */
export async function processVariantQueue(storage: StorageManager, options: { now?: () => Date; limit?: number } = {}): Promise<VariantReport> {
  const now = options.now ?? (() => new Date());
  const limit = options.limit ?? 20;
  const report: VariantReport = { made: 0, skipped: [], failed: [] };
  for (;;) {
    const batch = await storage.catalog.claimVariantJobs(now(), limit, LEASE_MS);
    let next = 0;
    const worker = async () => {
      while (next < batch.length) {
        const job = batch[next++]!;
        await runJob(storage, job, report, now);
      }
    };
    await Promise.all(Array.from({ length: storage.mediaConfig.media.variant_concurrency }, worker));
    if (batch.length < limit) return report;
  }
}

async function runJob(storage: StorageManager, job: { storageKey: string; name: string; attempts: number }, report: VariantReport, now: () => Date): Promise<void> {
  const original = await storage.catalog.get(job.storageKey);
  if (!original) return; // deleted meanwhile: its jobs went with it
  const spec = storage.mediaConfig.variants[original.artifactType]?.find((s) => s.name === job.name);
  const skip = async (reason: string) => {
    await storage.catalog.finishVariantJob(job.storageKey, job.name, 'skipped', reason);
    report.skipped.push({ key: job.storageKey, name: job.name, reason });
  };
  if (!spec) return skip(`artifact type ${original.artifactType} has no preset ${job.name} any more`);
  try {
    await createVariant(storage, original, spec, { actor: 'variants' });
    await storage.catalog.finishVariantJob(job.storageKey, job.name, 'done');
    report.made++;
  } catch (error) {
    const message = (error as Error).message;
    // Refused content and missing tools do not get better by trying again.
    if (error instanceof ValidationError || (error instanceof StorageError && error.code === 'NOT_SUPPORTED')) return skip(message);
    const attempts = job.attempts + 1;
    if (attempts >= MAX_ATTEMPTS) return skip(`gave up after ${attempts} attempts: ${message}`);
    await storage.catalog.retryVariantJobLater(job.storageKey, job.name, attempts, new Date(now().getTime() + Math.min(1000 * 2 ** attempts, MAX_BACKOFF_MS)), message);
    report.failed.push({ key: job.storageKey, name: job.name, error: message });
  }
}

/** Run due variant jobs every `intervalMs` in the background (stores start a pass themselves). */
export function startVariantTask(storage: StorageManager, options: { intervalMs?: number; onError?: (error: unknown) => void; onSkipped?: (report: VariantReport) => void } = {}): () => Promise<void> {
  let running: Promise<void> | undefined;
  const pass = () => {
    running ??= storage.flushVariants().then((report) => { if (report.skipped.length) options.onSkipped?.(report); }, options.onError).finally(() => { running = undefined; });
  };
  pass(); // jobs left by a process that stopped
  const timer = setInterval(pass, options.intervalMs ?? 30_000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
