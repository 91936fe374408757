import type { ProviderEntry } from '../config/load.ts';
import type { StorageProvider } from '../providers/provider.ts';
import { circuitBreakerLayer } from './circuit-breaker.ts';
import type { MetricsRecorder } from './metrics.ts';
import { retryLayer } from './retry.ts';
import { DEFAULT_OPERATION_TIMEOUT_MS, DEFAULT_UPLOAD_IDLE_TIMEOUT_MS, timeoutLayer } from './timeout.ts';

/**
 * Stack a provider's layers, innermost first: metrics (what the backend itself did), timeout (per
 * attempt), circuit breaker, retry (outermost, with its total-time cap). The manager calls the top.
 */
export function composeLayers(name: string, provider: StorageProvider, entry: Partial<ProviderEntry>, metrics: MetricsRecorder): StorageProvider {
  let layered = metrics.layer(name)(provider);
  // Every operation has a timeout: the provider's timeout_ms (uploads included) or the defaults.
  layered = timeoutLayer({
    operationMs: entry.timeout_ms ?? DEFAULT_OPERATION_TIMEOUT_MS,
    ...(entry.timeout_ms !== undefined ? { uploadMs: entry.timeout_ms } : {}),
    uploadIdleMs: entry.upload_idle_timeout_ms ?? DEFAULT_UPLOAD_IDLE_TIMEOUT_MS,
  }, name)(layered);
  if (entry.circuit_breaker) {
    const c = entry.circuit_breaker;
    const breaker = circuitBreakerLayer({
      ...(c.failure_threshold !== undefined ? { failureThreshold: c.failure_threshold } : {}),
      ...(c.error_rate !== undefined ? { errorRate: c.error_rate, windowMs: c.window_ms, minRequests: c.min_requests } : {}),
      resetTimeoutMs: c.reset_timeout_ms,
    }, name);
    metrics.watchBreaker(name, breaker.state);
    layered = breaker.layer(layered);
  }
  if (entry.retry) {
    const r = entry.retry;
    layered = retryLayer({ maxAttempts: r.max_attempts, baseDelayMs: r.base_delay_ms, maxDelayMs: r.max_delay_ms, maxTotalMs: r.max_total_ms, onRetry: () => metrics.retried(name) })(layered);
  }
  return layered;
}
