/**
 * Small artifacts in memory, keyed by `{storageKey}\n{sha256}` (the recorded hash): an artifact's
 * bytes never change, and each artifact has its own entry, so a corrupt copy of one never answers
 * for another with the same hash. The caller puts in only bytes whose hash matched. Bounded in
 * total bytes; the least recently used entries go first.
 *
 * Several nodes: the catalog's announcements drop a deleted or changed artifact's entries
 * (`forget`), and while a node cannot hear them it caches nothing (`suspend` ... `resume`). A read
 * that began before the announcement and ends after it must not put the artifact back: a key
 * forgotten within the last FORGOTTEN_MS is not cached again.
 */
const FORGOTTEN_MS = 60_000;
const FORGOTTEN_MAX = 10_000;

export class ContentCache {
  private readonly entries = new Map<string, Buffer>();
  private readonly maxObjectBytes: number;
  private readonly maxTotalBytes: number;
  private totalBytes = 0;
  private suspended = false;
  /** Storage key -> when it was forgotten (performance.now()), oldest first. */
  private readonly forgotten = new Map<string, number>();

  constructor(maxObjectBytes: number, maxTotalBytes: number) {
    this.maxObjectBytes = Math.min(maxObjectBytes, maxTotalBytes);
    this.maxTotalBytes = maxTotalBytes;
  }

  /** Whether an object of this size is worth keeping. */
  accepts(size: number): boolean {
    return !this.suspended && size > 0 && size <= this.maxObjectBytes;
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
    if (!key || !this.accepts(bytes.length) || this.entries.has(key) || this.recentlyForgotten(key)) return;
    this.entries.set(key, bytes);
    this.totalBytes += bytes.length;
    for (const [key, value] of this.entries) {
      if (this.totalBytes <= this.maxTotalBytes) break;
      this.delete(key, value);
    }
  }

  /** Drop every entry of one artifact; true when there was one. */
  forget(storageKey: string): boolean {
    this.forgotten.delete(storageKey);
    this.forgotten.set(storageKey, performance.now());
    if (this.forgotten.size > FORGOTTEN_MAX) this.forgotten.delete(this.forgotten.keys().next().value!);
    const prefix = `${storageKey}\n`;
    let found = false;
    // Entries are few (small objects within a memory budget); an artifact has at most a handful.
    for (const [key, value] of this.entries) {
      if (key.startsWith(prefix)) {
        this.delete(key, value);
        found = true;
      }
    }
    return found;
  }

  /** Drop everything and cache nothing until `resume`. */
  suspend(): void {
    this.suspended = true;
    this.entries.clear();
    this.totalBytes = 0;
  }

  /** Drop everything (whatever was cached may have changed meanwhile) and cache again. */
  resume(): void {
    this.entries.clear();
    this.totalBytes = 0;
    this.suspended = false;
  }

  get size(): number {
    return this.entries.size;
  }

  private recentlyForgotten(key: string): boolean {
    if (this.forgotten.size === 0) return false;
    const newline = key.indexOf('\n');
    const at = this.forgotten.get(newline < 0 ? key : key.slice(0, newline));
    if (at === undefined) return false;
    if (performance.now() - at < FORGOTTEN_MS) return true;
    this.forgotten.delete(key.slice(0, newline < 0 ? key.length : newline));
    return false;
  }

  private delete(key: string, value: Buffer): void {
    this.entries.delete(key);
    this.totalBytes -= value.length;
  }
}
