import { ProviderUnavailableError } from '../errors.ts';
import { isCircuitOpen } from './circuit-breaker.ts';
import { loadCockatiel } from './cockatiel-runtime.ts';
import { wrapProvider } from './layer.ts';
import type { Layer } from './layer.ts';

export interface RetryOptions {
  /** Attempts in all, the first one included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** No new attempt starts once this much time has passed since the first. */
  maxTotalMs: number;
  /** Called before each retry (metrics). */
  onRetry?: (operation: string) => void;
}

/**
 * Retry what is worth retrying: only ProviderUnavailableError (down, refusing, throttling, timing
 * out), never validation, security, auth or not-found, nor a call an open circuit breaker refused. Exponential backoff with decorrelated
 * jitter (cockatiel). An upload is retried only when its content can start again: the caller gave
 * a replay, or the failed attempt had not taken a single chunk.
 */
export function retryLayer(options: RetryOptions): Layer {
  return (provider) => wrapProvider(provider, async (operation, run, first) => {
    const started = Date.now();
    const { ExponentialBackoff, handleWhen, retry } = await loadCockatiel();
    let replayable = true;
    let content = first.content;
    // An open circuit answers at once and will answer the same until its reset: no backoff is worth waiting.
    const policy = retry(handleWhen((error) => error instanceof ProviderUnavailableError && !isCircuitOpen(error) && replayable && Date.now() - started < options.maxTotalMs), {
      maxAttempts: options.maxAttempts - 1,
      backoff: new ExponentialBackoff({ initialDelay: options.baseDelayMs, maxDelay: options.maxDelayMs }),
    });
    const listener = policy.onRetry(() => options.onRetry?.(operation));
    try {
      return await policy.execute(async ({ attempt }) => {
        if (operation !== 'upload') return run(first);
        if (attempt > 0) content = first.uploadOptions?.replay ? first.uploadOptions.replay() : content;
        const counted = countChunks(content!);
        try {
          return await run({ ...first, content: counted.stream });
        } finally {
          // A one-shot stream that gave up even one chunk cannot be sent again from its start.
          replayable = Boolean(first.uploadOptions?.replay) || counted.taken() === 0;
        }
      });
    } finally {
      listener.dispose();
    }
  });
}

function countChunks(source: AsyncIterable<Uint8Array>): { stream: AsyncIterable<Uint8Array>; taken: () => number } {
  let taken = 0;
  return {
    stream: {
      [Symbol.asyncIterator]() {
        const iterator = source[Symbol.asyncIterator]();
        return {
          next: async () => {
            const result = await iterator.next();
            if (!result.done) taken++;
            return result;
          },
          return: async (value?: unknown) => (iterator.return ? iterator.return(value) : { done: true as const, value: undefined }),
        };
      },
    },
    taken: () => taken,
  };
}
