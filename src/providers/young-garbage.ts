/**
 * Frees content chunks a transfer has finished with, at once.
 *
 * A multipart upload copies the caller's chunks into its part buffers and drops them; each chunk's
 * bytes live outside V8's heap, behind a small object in the young generation. V8 frees them when
 * it next collects that generation, which it does when the young generation fills with objects:
 * a transfer of large chunks allocates few objects, so that waits, and V8 collects only once the
 * external memory has grown about 64 MB. Measured storing 256 MiB of 1 MiB chunks: array buffers
 * peaked at 76-103 MB (32 MiB of them the part pool) and the process at 177-197 MB; collecting
 * the young generation after each part took them to 36-46 MB and 139-149 MB, for 5 ms or less per
 * collection on a loaded machine. A young-generation collection is cheap because it copies only
 * what is still alive, which here is almost nothing.
 *
 * V8 offers the collection to scripts only as `gc`, installed in contexts made while the flag
 * --expose-gc is set: it is set for the creation of one new context and cleared again, so the
 * process's own globals and later contexts (workers, vm) are unchanged. When the flag cannot be set
 * (an embedder that forbids it), nothing is collected and V8 keeps its own pace.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = (options: { type: 'minor'; execution: 'sync' }) => void;
let collect: Collect | null | undefined;

function collector(): Collect | null {
  if (collect !== undefined) return collect;
  collect = null;
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return (collect = own as Collect);
  try {
    setFlagsFromString('--expose-gc');
    try {
      const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
      if (typeof gc === 'function') collect = gc as Collect;
    } finally {
      setFlagsFromString('--no-expose-gc');
    }
  } catch {
    // No collector: V8 frees the chunks at its own pace.
  }
  return collect;
}

/** Bytes of content copied (by every upload of the process) since the last collection. */
let copiedSince = 0;

/**
 * Note that `bytes` of content chunks were copied and dropped; once `every` bytes have been since
 * the last collection, collect V8's young generation (synchronously; a few milliseconds at most).
 * The count is shared by all uploads: one collection frees the chunks of all of them, so eight
 * concurrent uploads collect no more often than one.
 */
export function releaseCopiedChunks(bytes: number, every: number): void {
  copiedSince += bytes;
  if (copiedSince < every) return;
  copiedSince = 0;
  collector()?.({ type: 'minor', execution: 'sync' });
}
