import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'boards_storage_' });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
