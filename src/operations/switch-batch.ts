/**
 * Group commit for a migration's row switches: verified copies wait here and are switched
 * `size` at a time (or when the oldest has waited `delayMs`) in one catalog transaction, instead
 * of one transaction per artifact. A copy that was made but not switched when the process dies is
 * still `copying` in the catalog, so resume copies it again (same key, same bytes): waiting here
 * costs at most a batch of repeated copies, never a stray object or a lost artifact.
 */
export class SwitchBatch<T, R> {
  private readonly commit: (items: T[]) => Promise<R[]>;
  private readonly size: number;
  private readonly delayMs: number;
  private queue: { item: T; resolve: (result: R) => void; reject: (error: unknown) => void }[] = [];
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  /** `commit` gets up to `size` items and returns one result per item, in order; if it throws, every item of that batch is rejected with its error. */
  constructor(commit: (items: T[]) => Promise<R[]>, options: { size: number; delayMs: number }) {
    this.commit = commit;
    this.size = options.size;
    this.delayMs = options.delayMs;
  }

  /** Queue an item; resolves with its result once its batch has committed. */
  add(item: T): Promise<R> {
    const result = new Promise<R>((resolve, reject) => this.queue.push({ item, resolve, reject }));
    if (this.queue.length >= this.size) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.delayMs);
    return result;
  }

  /** Back-pressure: resolves once fewer than `size` items wait, so the queue stays bounded. */
  async room(): Promise<void> {
    while (this.queue.length >= this.size) await this.flush();
  }

  /** Commit everything queued (at the end of a run). */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.running) await this.flush();
  }

  /** One batch at a time: a flush asked for while one runs waits for it, then takes what is left. */
  private async flush(): Promise<void> {
    while (this.running) await this.running;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.size);
    this.running = (async () => {
      try {
        const results = await this.commit(batch.map((b) => b.item));
        batch.forEach((b, i) => b.resolve(results[i]!));
      } catch (error) {
        for (const b of batch) b.reject(error);
      }
    })();
    try {
      await this.running;
    } finally {
      this.running = undefined;
      // Items queued during the commit: a full batch goes now, a partial one after the delay.
      if (this.queue.length >= this.size) void this.flush();
      else if (this.queue.length > 0) this.timer ??= setTimeout(() => void this.flush(), this.delayMs);
    }
  }
}
