import type { HealthReport, StorageManager } from '../manager/storage-manager.ts';

/** The latest background check, and when it finished. */
export interface HealthSnapshot {
  report: HealthReport;
  /** When the poll finished (ms since the epoch). */
  checkedAt: number;
}

/**
 * Checks the catalog and every provider every `intervalMs` in the background, so that `/readyz`
 * answers at once from the latest result (a load balancer's probe never waits on a slow backend,
 * and a burst of probes costs the backends nothing). A poll never overlaps the one before.
 */
export class HealthMonitor {
  private readonly storage: StorageManager;
  private readonly intervalMs: number;
  private latest: HealthSnapshot | undefined;
  private polling: Promise<HealthSnapshot> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(storage: StorageManager, intervalMs: number) {
    this.storage = storage;
    this.intervalMs = intervalMs;
  }

  /** Poll once now, then every interval. */
  start(): void {
    const poll = () => { this.poll().catch(() => undefined); };
    poll();
    this.timer = setInterval(poll, this.intervalMs);
    this.timer.unref();
  }

  /** The latest poll's result; the first poll's, awaited, when none has finished yet. */
  async current(): Promise<HealthSnapshot> {
    return this.latest ?? this.poll();
  }

  /** When the latest poll finished (ms since the epoch); undefined before the first. */
  get checkedAt(): number | undefined {
    return this.latest?.checkedAt;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.polling?.catch(() => undefined);
  }

  private poll(): Promise<HealthSnapshot> {
    // storage.health() never throws: each check reports its own failure.
    this.polling ??= this.storage.health().then((report) => {
      this.latest = { report, checkedAt: Date.now() };
      return this.latest;
    }).finally(() => { this.polling = undefined; });
    return this.polling;
  }
}
