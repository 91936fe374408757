/** Reading a provider's content with the caller's abort signal honoured between chunks. */

/** The next chunk; an abort signal interrupts even a wait for it. */
export async function nextChunk(iterator: AsyncIterator<Uint8Array>, signal: AbortSignal | undefined): Promise<IteratorResult<Uint8Array>> {
  signal?.throwIfAborted();
  if (!signal) return iterator.next();
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    iterator.next().then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value); },
      (error: unknown) => { signal.removeEventListener('abort', onAbort); reject(error); },
    );
  });
}

/** What reading the content has come to: its own failure, the bytes handed on, whether it ended. */
export interface ContentState {
  failure?: unknown;
  bytes?: number;
  ended?: boolean;
}

/** `head` (already read), then the rest of the content; the content's own failure is kept in `state`. */
export async function* rest(head: Uint8Array[], iterator: AsyncIterator<Uint8Array>, signal: AbortSignal | undefined, state: ContentState): AsyncGenerator<Uint8Array> {
  for (const chunk of head.splice(0)) {
    state.bytes = (state.bytes ?? 0) + chunk.length;
    yield chunk;
  }
  while (true) {
    let next: IteratorResult<Uint8Array>;
    try {
      next = await nextChunk(iterator, signal);
    } catch (error) {
      state.failure ??= error;
      // Let the source release what it holds; it may be stuck, so do not wait for it.
      void Promise.resolve(iterator.return?.()).catch(() => undefined);
      throw error;
    }
    if (next.done) {
      state.ended = true;
      return;
    }
    state.bytes = (state.bytes ?? 0) + next.value.length;
    yield next.value;
  }
}

/**
 * Read chunks until more than `limit` bytes are held or the content ends: small content can then go
 * in one request with its complete metadata. On failure the content is released and the error thrown.
 */
export async function readHead(iterator: AsyncIterator<Uint8Array>, limit: number, signal: AbortSignal | undefined): Promise<{ head: Uint8Array[]; size: number; ended: boolean }> {
  const head: Uint8Array[] = [];
  let size = 0;
  try {
    while (size <= limit) {
      const next = await nextChunk(iterator, signal);
      if (next.done) return { head, size, ended: true };
      head.push(next.value);
      size += next.value.length;
    }
  } catch (error) {
    // As above: release the source without waiting on it.
    void Promise.resolve(iterator.return?.()).catch(() => undefined);
    throw error;
  }
  return { head, size, ended: false };
}
