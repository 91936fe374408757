import type { TusUploads } from './tus-uploads.ts';

/** Sweep expired resumable uploads every `intervalMs`; returns a function that stops (waiting for a sweep under way). */
export function startTusSweep(tus: TusUploads, intervalMs: number, onError: (error: unknown) => void): () => Promise<void> {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= tus.sweepExpired().then(() => undefined, onError).finally(() => { running = undefined; });
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
