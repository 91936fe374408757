import type { StorageManager } from '../manager/storage-manager.ts';
import { parseCleanupConfig } from '../config/cleanup-config.ts';
import { sweepExpired } from './expiry-sweep.ts';
import type { SweepReport } from './expiry-sweep.ts';

/**
 * Sweep expired files and uploads every `cleanup.cleanup_interval_hours` in the background.
 * Returns a function that stops it (waiting for a sweep under way).
 */
export function startCleanupTask(storage: StorageManager, options: { intervalMs?: number; actor?: string; onSweep?: (report: SweepReport) => void; onError?: (error: unknown) => void } = {}): () => Promise<void> {
  const intervalMs = options.intervalMs ?? parseCleanupConfig(storage.config.cleanup).cleanup_interval_hours * 3600_000;
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running) return;
    running = sweepExpired(storage, options.actor === undefined ? {} : { actor: options.actor }).then(options.onSweep, options.onError).finally(() => { running = undefined; });
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
