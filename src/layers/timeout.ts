import { ProviderUnavailableError } from '../errors.ts';
import { wrapProvider } from './layer.ts';
import type { Layer } from './layer.ts';

/** An operation with no timeout of its own configured fails after this long. */
export const DEFAULT_OPERATION_TIMEOUT_MS = 30_000;
/** An upload that makes no progress (takes no chunk, gets no answer) for this long fails. */
export const DEFAULT_UPLOAD_IDLE_TIMEOUT_MS = 60_000;

export interface TimeoutOptions {
  /** Every operation but upload: the longest one attempt may take. */
  operationMs: number;
  /** Upload, copy and setVisibility (which may move the object): the longest one attempt may take in all (none by default: large objects take long). */
  uploadMs?: number;
  /**
   * Upload: the longest the provider may hold an attempt without taking the next chunk of content
   * or, after the last one, without answering. Time spent waiting for the content itself (a slow
   * client) does not count: the provider is not the one stalling then.
   */
  uploadIdleMs: number;
}

/**
 * Bound each attempt of each operation: when its time is up the attempt's signal aborts (a
 * provider that honours it stops and cleans up) and the call fails with ProviderUnavailableError
 * at once, so a backend that accepts connections and never answers cannot hold a caller.
 */
export function timeoutLayer(options: TimeoutOptions | number, name: string): Layer {
  const limits = typeof options === 'number' ? { operationMs: options, uploadMs: options, uploadIdleMs: options } : options;
  return (provider) => wrapProvider(provider, async (operation, run, first) => {
    const controller = new AbortController();
    let expire: (error: ProviderUnavailableError) => void = () => undefined;
    const expired = new Promise<never>((_, reject) => { expire = reject; });
    const fail = (message: string, details: Record<string, unknown>) => {
      const error = new ProviderUnavailableError(`${name}: ${message}`, { details: { provider: name, operation, ...details } });
      controller.abort(error);
      expire(error);
    };
    // Moving a whole object (an upload, a server-side copy, Supabase's visibility move) takes as long as it is large.
    const total = operation === 'upload' || operation === 'copy' || operation === 'setVisibility' ? limits.uploadMs : limits.operationMs;
    const timer = total === undefined ? undefined : setTimeout(() => fail(`${operation} timed out after ${total} ms`, { timeoutMs: total }), total);
    const idle = operation === 'upload' && first.content ? idleWatch(limits.uploadIdleMs, () => fail(`upload made no progress for ${limits.uploadIdleMs} ms (no chunk taken, no answer)`, { idleTimeoutMs: limits.uploadIdleMs })) : undefined;
    const attempt = run({ ...first, ...(idle ? { content: idle.watch(first.content!) } : {}), signal: first.signal ? AbortSignal.any([first.signal, controller.signal]) : controller.signal });
    try {
      return await Promise.race([attempt, expired]);
    } catch (error) {
      // An attempt that answers after all must not leak what it opened (a stream, a file handle).
      if (controller.signal.aborted) attempt.then(releaseLate, () => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
      idle?.stop();
    }
  });
}

/**
 * A timer that runs while the provider holds the upload: restarted when it takes a chunk, paused
 * while the content source itself is producing the next one, running again after the last chunk
 * (the provider's final answer is due).
 */
function idleWatch(ms: number, onIdle: () => void): { watch(content: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array>; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const start = () => {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(onIdle, ms);
  };
  start();
  return {
    watch: (content) => ({
      [Symbol.asyncIterator]() {
        const iterator = content[Symbol.asyncIterator]();
        return {
          next: async () => {
            clearTimeout(timer);
            try {
              return await iterator.next();
            } finally {
              start();
            }
          },
          return: async (value?: unknown) => (iterator.return ? iterator.return(value) : { done: true as const, value: undefined }),
        };
      },
    }),
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** Close what a timed-out operation handed back too late: a stream, or an open file (openFile). */
function releaseLate(result: unknown): void {
  if (!result || typeof result !== 'object') return;
  const value = result as { destroy?: () => void; handle?: { close?: () => Promise<void> } };
  if (typeof value.destroy === 'function') value.destroy();
  // Nobody waits for this result any more: a close failure has no one to go to.
  else if (typeof value.handle?.close === 'function') void value.handle.close().catch(() => undefined);
}
