import type * as CockatielModule from 'cockatiel';
import type { CircuitBreakerPolicy } from 'cockatiel';
import { ProviderUnavailableError } from '../errors.ts';
import { loadCockatiel } from './cockatiel-runtime.ts';
import { wrapProvider } from './layer.ts';
import type { Layer } from './layer.ts';

export interface BreakerOptions {
  /** Open after this many consecutive failures... */
  failureThreshold?: number;
  /** ...or when this share of calls fails (0-1) within `windowMs`, given at least `minRequests`. */
  errorRate?: number;
  windowMs?: number;
  minRequests?: number;
  /** Time open before a half-open probe is let through. */
  resetTimeoutMs: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

/** The error of a call an open circuit refused without calling the backend: retrying it cannot help until the reset. */
export function isCircuitOpen(error: unknown): boolean {
  return error instanceof ProviderUnavailableError && error.details.breaker === 'open';
}

/** A circuit breaker per provider, with its state readable for /readyz and metrics. */
export interface BreakerHandle {
  layer: Layer;
  state(): BreakerState;
}

/**
 * While the backend fails, stop calling it: once open, calls fail in microseconds with
 * ProviderUnavailableError instead of waiting for timeouts; after `resetTimeoutMs` one probe goes
 * through, and its success closes the circuit. Only ProviderUnavailableError counts as failure.
 */
export function circuitBreakerLayer(options: BreakerOptions, name: string): BreakerHandle {
  // Built with the first call (cockatiel loads then); until that call the circuit is closed.
  let breaker: { policy: CircuitBreakerPolicy; cockatiel: typeof CockatielModule } | undefined;
  const build = (cockatiel: typeof CockatielModule) => {
    const counting = options.errorRate !== undefined
      ? new cockatiel.SamplingBreaker({ threshold: options.errorRate, duration: options.windowMs ?? 60_000, minimumRps: (options.minRequests ?? 10) / ((options.windowMs ?? 60_000) / 1000) })
      : new cockatiel.ConsecutiveBreaker(options.failureThreshold ?? 5);
    const policy = cockatiel.circuitBreaker(cockatiel.handleWhen((error) => error instanceof ProviderUnavailableError), { halfOpenAfter: options.resetTimeoutMs, breaker: counting });
    return { policy, cockatiel };
  };
  const layer: Layer = (provider) => wrapProvider(provider, async (operation, run, first) => {
    const cockatiel = await loadCockatiel();
    // Assigned after the await: concurrent first calls share the one breaker.
    const { policy } = breaker ??= build(cockatiel);
    try {
      return await policy.execute(() => run(first));
    } catch (error) {
      if (error instanceof cockatiel.BrokenCircuitError) {
        throw new ProviderUnavailableError(`${name}: circuit open after repeated failures; calls resume after a probe succeeds (reset ${options.resetTimeoutMs} ms)`, { cause: error, details: { provider: name, operation, breaker: 'open' } });
      }
      throw error;
    }
  });
  return {
    layer,
    state: () => {
      if (!breaker) return 'closed';
      const { CircuitState } = breaker.cockatiel;
      return ({ [CircuitState.Closed]: 'closed', [CircuitState.Open]: 'open', [CircuitState.HalfOpen]: 'half-open', [CircuitState.Isolated]: 'isolated' } as Record<number, BreakerState>)[breaker.policy.state] ?? 'closed';
    },
  };
}
