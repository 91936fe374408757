import { StorageError } from '../errors.ts';

/**
 * At most `limit` image transforms at once in this process, whoever asks (HTTP, on-demand
 * variants, background jobs); up to `maxQueue` more wait in line, and past that a request is
 * refused at once (503 SERVER_BUSY) rather than piling up memory. sharp runs off the event loop, so
 * with the work bounded the service keeps answering other requests.
 */
export class TransformSlots {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly limit: number;
  private readonly maxQueue: number;

  constructor(limit: number, maxQueue: number) {
    this.limit = limit;
    this.maxQueue = maxQueue;
  }

  async run<T>(work: () => Promise<T>, options: { queue?: boolean } = {}): Promise<T> {
    if (this.running >= this.limit) {
      // Background jobs always wait; requests wait only while the line is short.
      if (options.queue === false && this.waiting.length >= this.maxQueue) {
        throw new StorageError(`${this.running} image transforms are running and ${this.waiting.length} are waiting; try again shortly`, { code: 'SERVER_BUSY', details: { retryAfterSeconds: 1 } });
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next in line.
      if (next) next();
      else this.running--;
    }
  }

  get active(): number {
    return this.running;
  }
}
