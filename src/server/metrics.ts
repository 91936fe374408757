import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StorageManager } from '../manager/storage-manager.ts';
import type { LeadershipStatus } from '../cluster/leader-lease.ts';
import type { HealthMonitor } from './health-monitor.ts';

/**
 * The service's Prometheus metrics, on a registry of its own (one per app, so several apps in one
 * process do not collide). Labels are route patterns and codes, never keys or tenants.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'boards_storage_http_requests_total', help: 'HTTP requests by method, route pattern and status', labelNames: ['method', 'route', 'status'], registers: [this.registry] });
  readonly bytesIn = new Counter({ name: 'boards_storage_http_bytes_in_total', help: 'request body bytes received', labelNames: ['route'], registers: [this.registry] });
  readonly bytesOut = new Counter({ name: 'boards_storage_http_bytes_out_total', help: 'response body bytes sent', labelNames: ['route'], registers: [this.registry] });
  readonly errors = new Counter({ name: 'boards_storage_http_errors_total', help: 'error responses by error code', labelNames: ['code'], registers: [this.registry] });
  readonly storeSeconds = new Histogram({ name: 'boards_storage_store_duration_seconds', help: 'time to receive, validate and store one artifact', labelNames: ['outcome'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300], registers: [this.registry] });
  readonly downloadSeconds = new Histogram({ name: 'boards_storage_download_duration_seconds', help: 'time to send one artifact (or range), first byte to last', labelNames: ['outcome'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300], registers: [this.registry] });
  readonly cacheHits = new Counter({ name: 'boards_storage_cache_hits_total', help: 'downloads answered from the small-object memory cache', registers: [this.registry] });
  readonly cacheInvalidations = new Counter({ name: 'boards_storage_cache_invalidations_total', help: 'cached artifacts dropped because the catalog announced a change (changed), or whole caches dropped because announcements could be missed (resync)', labelNames: ['reason'], registers: [this.registry] });
  readonly cacheListening = new Gauge({ name: 'boards_storage_cache_listening', help: '1 while this node hears the catalog\'s change announcements (PostgreSQL LISTEN), 0 while it does not (its small-object cache is off then)', registers: [this.registry], aggregator: 'min' });
  /** Workers (`serve --workers N`): every worker's figures, summed, through the primary. */
  private allWorkers: (() => Promise<string>) | undefined;

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'boards_storage_' });
  }

  /**
   * The manager's provider figures (from its metrics layers) and stored bytes per provider, read
   * at each scrape. Tenants are not labels here: /metrics needs no token, and tenant ids are not
   * for whoever can reach it (storage.metrics() and /v1/stats have the per-tenant figures).
   */
  watchStorage(storage: StorageManager): void {
    // The registry collects every metric at once: they share one refresh, from one snapshot, per scrape.
    let refreshing: Promise<void> | undefined;
    const collect = async () => {
      await (refreshing ??= fill().finally(() => setImmediate(() => { refreshing = undefined; })));
    };
    // Figures of the whole catalog are the same in every worker: one worker's, not their sum.
    const gauge = <L extends string>(name: string, help: string, labelNames: L[], aggregator: 'sum' | 'first' = 'sum') => new Gauge<L>({ name, help, labelNames, registers: [this.registry], collect, aggregator });
    const operations = gauge('boards_storage_provider_operations', 'provider operations since start, by provider and operation', ['provider', 'operation']);
    const errors = gauge('boards_storage_provider_errors', 'failed provider operations since start, by error code', ['provider', 'operation', 'code']);
    const bytes = gauge('boards_storage_provider_bytes', 'bytes uploaded (upload) or downloaded (openDownload) since start', ['provider', 'operation']);
    const latency = gauge('boards_storage_provider_latency_seconds', 'provider operation latency over the last 1024 calls', ['provider', 'operation', 'quantile']);
    const retries = gauge('boards_storage_provider_retries', 'retried provider calls since start', ['provider']);
    const breaker = gauge('boards_storage_provider_breaker_state', 'circuit breaker: 0 closed, 1 half-open, 2 open, 3 isolated', ['provider']);
    const stored = gauge('boards_storage_stored_bytes', 'bytes of recorded artifacts by provider', ['provider'], 'first');
    const artifacts = gauge('boards_storage_stored_artifacts', 'recorded artifacts by provider', ['provider'], 'first');
    const corruptions = gauge('boards_storage_corruptions_detected', 'corrupt or missing copies found since start (verified reads and scrubs), by provider', ['provider']);
    const repairs = gauge('boards_storage_repairs', 'copies restored from a good copy since start, by provider', ['provider']);
    const repairFailures = gauge('boards_storage_repair_failures', 'repairs that found no good copy since start, by provider', ['provider']);
    const auditFailures = gauge('boards_storage_integrity_audit_failures', 'corruptions or repairs the audit log could not record since start, by provider', ['provider']);
    const orphansLeft = gauge('boards_storage_orphans_left', 'objects of failed stores and copies since start that could be neither deleted nor queued for the expiry sweep, by provider (findOrphans finds them)', ['provider']);
    const states: Record<string, number> = { closed: 0, 'half-open': 1, open: 2, isolated: 3 };
    const fill = async () => {
      const figures = await storage.metrics();
      for (const g of [operations, errors, bytes, latency, retries, breaker, stored, artifacts, corruptions, repairs, repairFailures, auditFailures, orphansLeft] as Gauge<string>[]) g.reset();
      for (const [provider, n] of Object.entries(figures.integrity.corruptions)) corruptions.set({ provider }, n);
      for (const [provider, n] of Object.entries(figures.integrity.repairs)) repairs.set({ provider }, n);
      for (const [provider, n] of Object.entries(figures.integrity.repairFailures)) repairFailures.set({ provider }, n);
      for (const [provider, n] of Object.entries(figures.integrity.auditFailures)) auditFailures.set({ provider }, n);
      for (const [provider, n] of Object.entries(figures.orphansLeft)) orphansLeft.set({ provider }, n);
      for (const [provider, p] of Object.entries(figures.providers)) {
        retries.set({ provider }, p.retries);
        if (p.breaker) breaker.set({ provider }, states[p.breaker] ?? 0);
        for (const [operation, o] of Object.entries(p.operations)) {
          if (!o) continue;
          operations.set({ provider, operation }, o.count);
          bytes.set({ provider, operation }, o.bytes);
          for (const [code, n] of Object.entries(o.errorsByCode)) errors.set({ provider, operation, code }, n);
          for (const [quantile, ms] of [['0.5', o.latencyMs.p50], ['0.95', o.latencyMs.p95], ['0.99', o.latencyMs.p99]] as const) latency.set({ provider, operation, quantile }, ms / 1000);
        }
      }
      const byProvider = new Map<string, { count: number; bytes: number }>();
      for (const u of figures.utilisation) {
        const total = byProvider.get(u.provider) ?? { count: 0, bytes: 0 };
        byProvider.set(u.provider, { count: total.count + u.count, bytes: total.bytes + u.bytes });
      }
      for (const [provider, total] of byProvider) {
        stored.set({ provider }, total.bytes);
        artifacts.set({ provider }, total.count);
      }
    };
  }

  /** Leadership (1 on the node that runs the background work) and the age of the latest background health poll. */
  watchNode(leadership: { status(): LeadershipStatus } | undefined, health: HealthMonitor): void {
    new Gauge({
      name: 'boards_storage_leader', help: '1 when this node holds the leader lease and runs the background work, else 0', labelNames: ['node'], registers: [this.registry],
      collect() {
        this.reset();
        const status = leadership?.status();
        if (status) this.set({ node: status.node }, status.leader ? 1 : 0);
      },
    });
    new Gauge({
      name: 'boards_storage_health_age_seconds', help: 'seconds since the latest background health poll finished', registers: [this.registry], aggregator: 'max',
      collect() {
        const checkedAt = health.checkedAt;
        if (checkedAt !== undefined) this.set((Date.now() - checkedAt) / 1000);
      },
    });
  }

  /** Render every worker's metrics (summed by the primary) instead of this process's alone. */
  ofAllWorkers(source: () => Promise<string>): void {
    this.allWorkers = source;
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await (this.allWorkers ?? (() => this.registry.metrics()))() };
  }
}
