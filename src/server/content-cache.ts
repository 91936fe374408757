/**
 * Small artifacts in memory, keyed by storage key and recorded SHA-256: an artifact's bytes never
 * change, so an entry is never stale; each artifact has its own entry, so a corrupt copy of one
 * never answers for another with the same hash. The caller puts in only bytes whose hash matched.
 * Bounded in total bytes; the least recently used entries go first.
 */
export class ContentCache {
  private readonly entries = new Map<string, Buffer>();
  private readonly maxObjectBytes: number;
  private readonly maxTotalBytes: number;
  private totalBytes = 0;

  constructor(maxObjectBytes: number, maxTotalBytes: number) {
    this.maxObjectBytes = Math.min(maxObjectBytes, maxTotalBytes);
    this.maxTotalBytes = maxTotalBytes;
  }

  /** Whether an object of this size is worth keeping. */
  accepts(size: number): boolean {
    return size > 0 && size <= this.maxObjectBytes;
  }

  get(key: string): Buffer | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, bytes: Buffer): void {
    if (!key || !this.accepts(bytes.length) || this.entries.has(key)) return;
    this.entries.set(key, bytes);
    this.totalBytes += bytes.length;
    for (const [key, value] of this.entries) {
      if (this.totalBytes <= this.maxTotalBytes) break;
      this.entries.delete(key);
      this.totalBytes -= value.length;
    }
  }
}
