import { ProviderUnavailableError } from '../errors.ts';
import { wrapProvider } from './layer.ts';
import type { Layer } from './layer.ts';

/**
 * Bound each attempt of each operation: after `ms` the attempt's signal aborts (a provider that
 * honours it stops and cleans up) and the call fails with ProviderUnavailableError at once, so a
 * backend that accepts connections and never answers cannot hold a caller.
 */
export function timeoutLayer(ms: number, name: string): Layer {
  return (provider) => wrapProvider(provider, async (operation, run, first) => {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new ProviderUnavailableError(`${name}: ${operation} timed out after ${ms} ms`, { details: { provider: name, operation, timeoutMs: ms } });
        controller.abort(error);
        reject(error);
      }, ms);
    });
    const attempt = run({ ...first, signal: first.signal ? AbortSignal.any([first.signal, controller.signal]) : controller.signal });
    try {
      return await Promise.race([attempt, expired]);
    } catch (error) {
      // An attempt that answers after all must not leak what it opened (a stream, a file handle).
      if (controller.signal.aborted) attempt.then(releaseLate, () => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  });
}

/** Close what a timed-out operation handed back too late: a stream, or an open file (openFile). */
function releaseLate(result: unknown): void {
  if (!result || typeof result !== 'object') return;
  const value = result as { destroy?: () => void; handle?: { close?: () => Promise<void> } };
  if (typeof value.destroy === 'function') value.destroy();
  else if (typeof value.handle?.close === 'function') void value.handle.close().catch(() => undefined);
}
