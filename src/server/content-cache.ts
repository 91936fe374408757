/**
 * Small artifacts in memory, keyed by SHA-256: content under a hash never changes, so an entry is
 * never stale. Bounded in total bytes; the least recently used entries go first.
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

  get(sha256: string): Buffer | undefined {
    const hit = this.entries.get(sha256);
    if (hit) {
      this.entries.delete(sha256);
      this.entries.set(sha256, hit);
    }
    return hit;
  }

  set(sha256: string, bytes: Buffer): void {
    if (!sha256 || !this.accepts(bytes.length) || this.entries.has(sha256)) return;
    this.entries.set(sha256, bytes);
    this.totalBytes += bytes.length;
    for (const [key, value] of this.entries) {
      if (this.totalBytes <= this.maxTotalBytes) break;
      this.entries.delete(key);
      this.totalBytes -= value.length;
    }
  }
}
