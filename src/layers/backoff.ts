/**
 * The delay before retry number `attempt` (0 for the first retry): `baseMs * 2^attempt`, at most
 * `maxMs`; with `jitter`, a random point in its upper half, so that clients failing together do
 * not retry together. The one formula for the loops that cannot be a cockatiel policy (a retry
 * layer is one): downloads that honour Retry-After, S3 aborts retried in the background after a
 * close began, and mirror copies rescheduled in the catalog across processes.
 */
export function backoffDelay(attempt: number, options: { baseMs: number; maxMs: number; jitter?: boolean }): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** attempt);
  return options.jitter ? Math.round(ceiling / 2 + Math.random() * (ceiling / 2)) : ceiling;
}
