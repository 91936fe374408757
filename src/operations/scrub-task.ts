import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { StorageManager } from '../manager/storage-manager.ts';
import { parseScrubConfig } from '../config/scrub-config.ts';
import type { ScrubConfig } from '../config/scrub-config.ts';
import type { VerifyReport } from './verify.ts';

export interface ScrubTaskOptions {
  /** Overrides `storage.scrub` (tests). */
  config?: Partial<ScrubConfig>;
  /** After each pass this node ran: its report and when it was claimed. */
  onScrub?: (report: VerifyReport, startedAt: Date) => void;
  onError?: (error: unknown) => void;
  /** The clock; injectable so tests control time. */
  now?: () => Date;
}

const RUN_NAME = 'scrub';
/** How often a node asks whether this interval's pass is still to be run. */
const MAX_POLL_MS = 60_000;

/**
 * Scrub in the background: every `scrub.interval`, one node of all those sharing the catalog
 * claims the pass (a conditional update of `scheduled_runs`; on PostgreSQL an advisory lock also
 * keeps a long pass from overlapping the next) and verifies the artifacts at `scrub.rate_mb_s`,
 * repairing bad copies from a good one. Returns a function that stops it, ending a pass under way.
 * Does nothing when no interval is configured.
 */
export function startScrubTask(storage: StorageManager, options: ScrubTaskOptions = {}): () => Promise<void> {
  const config = { ...parseScrubConfig(storage.config.scrub), ...options.config };
  const intervalMs = config.intervalMs;
  if (intervalMs === undefined) return async () => undefined;
  const now = options.now ?? (() => new Date());
  const holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const stopping = new AbortController();
  let running: Promise<void> | undefined;
  const tick = () => {
    running ??= (async () => {
      const startedAt = now();
      if (!(await storage.catalog.claimScheduledRun(RUN_NAME, holder, startedAt, intervalMs))) return;
      const report = await storage.catalog.exclusively(RUN_NAME, () => storage.verify({ bytesPerSecond: config.bytesPerSecond, sample: config.sample, repair: config.repair, signal: stopping.signal }));
      if (report) options.onScrub?.(report, startedAt);
    })().catch((error: unknown) => { if (!stopping.signal.aborted) options.onError?.(error); }).finally(() => { running = undefined; });
  };
  const timer = setInterval(tick, Math.max(10, Math.min(intervalMs / 4, MAX_POLL_MS)));
  timer.unref();
  return async () => {
    clearInterval(timer);
    stopping.abort();
    await running;
  };
}
