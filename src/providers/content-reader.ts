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

/** `head` (already read), then the rest of the content; the content's own failure is kept in `state`. */
export async function* rest(head: Uint8Array[], iterator: AsyncIterator<Uint8Array>, signal: AbortSignal | undefined, state: { failure?: unknown }): AsyncGenerator<Uint8Array> {
  yield* head.splice(0);
  while (true) {
    let next: IteratorResult<Uint8Array>;
    try {
      next = await nextChunk(iterator, signal);
    } catch (error) {
      state.failure ??= error;
      void Promise.resolve(iterator.return?.()).catch(() => undefined);
      throw error;
    }
    if (next.done) return;
    yield next.value;
  }
}
