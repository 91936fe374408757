import { closeSync, openSync, readSync } from 'node:fs';
import type { ArtifactReference } from '../manager/artifact-reference.ts';
import type { StorageManager } from '../manager/storage-manager.ts';

/**
 * The catalog references the raw GET path (fast-get.ts) serves from, kept in this process only
 * while the catalog provably has not changed since they were read, so that a delete, a trashing
 * or a visibility change made anywhere (this process, another worker, the CLI) shows in the very
 * next response, as with a look-up per request.
 *
 * The proof, on SQLite in WAL mode: the WAL-index header, the first 96 bytes of the `-shm` file
 * (two copies of a 48-byte header; https://www.sqlite.org/walformat.html), changes with every
 * commit of every connection (its change counter, last frame and checksums) and not with reads.
 * One `pread` of it per request (about 2-5 µs here) replaces the look-up, which begins a read
 * transaction (two `fcntl` locks and an `fstat`, 15-20 µs under load; `PRAGMA data_version` costs
 * the same, since it begins one too). When the header differs from the last one seen, every kept
 * reference goes; a look-up that began before a change is not kept.
 *
 * Elsewhere (PostgreSQL, whose change announcements arrive after the commit, an in-memory
 * catalog, no `-shm` file) nothing is kept and every request looks up.
 */

/** References kept at most: the whole set goes when full (an artifact's is read again on its next request). */
const MAX_ROWS = 10_000;
const HEADER_BYTES = 96;

export class ArtifactRows {
  private readonly storage: StorageManager;
  private readonly watch: WalIndexHeader | undefined;
  private readonly rows = new Map<string, ArtifactReference>();
  /** Bumped whenever the kept references go: a look-up begun under an older generation is not kept. */
  private generation = 0;

  constructor(storage: StorageManager) {
    this.storage = storage;
    const file = storage.catalog.sqliteFile;
    this.watch = file === undefined ? undefined : WalIndexHeader.open(`${file}-shm`);
    // Closed with the catalog's connection, not before (see WalIndexHeader): an open descriptor would keep its disk busy.
    if (this.watch) storage.catalog.afterClose(() => this.watch?.close());
  }

  /** Whether references are kept at all (SQLite in WAL mode). */
  get keeps(): boolean {
    return this.watch !== undefined;
  }

  /** The artifact's reference (as `getArtifact` without variants gives it): kept, or looked up. */
  lookup(storageKey: string): ArtifactReference | Promise<ArtifactReference> {
    if (this.watch === undefined) return this.storage.getArtifact(storageKey, { variants: false });
    const begun = this.begin();
    const kept = this.rows.get(storageKey);
    if (kept) return kept;
    return this.storage.getArtifact(storageKey, { variants: false }).then((ref) => {
      this.keep(begun, storageKey, ref);
      return ref;
    });
  }

  /** The kept reference of the variant `name` of `originalKey`, as the route found it (keepVariant); undefined when none is kept. */
  variant(originalKey: string, name: string): ArtifactReference | undefined {
    if (this.watch === undefined) return undefined;
    this.begin();
    return this.rows.get(variantEntry(originalKey, name));
  }

  /**
   * Mark the start of a look-up whose result may be kept: everything kept goes first if the
   * catalog changed. Returns what `keepVariant` is given with the result.
   */
  begin(): number {
    // A closed catalog answers nothing (and its -shm file may be gone): the look-up says so.
    if (this.watch?.changed() || this.storage.catalog.sqliteFile === undefined) this.forgetAll();
    return this.generation;
  }

  /** Keep the variant `name` of `originalKey` that a look-up begun at `begun` found (`getVariant`), unless the catalog changed since. */
  keepVariant(begun: number, originalKey: string, name: string, ref: ArtifactReference): void {
    this.keep(begun, variantEntry(originalKey, name), ref);
  }

  private keep(begun: number, entry: string, ref: ArtifactReference): void {
    if (this.watch === undefined) return;
    if (this.watch.changed()) this.forgetAll();
    else if (begun === this.generation) {
      if (this.rows.size >= MAX_ROWS) this.rows.clear();
      this.rows.set(entry, ref);
    }
  }

  private forgetAll(): void {
    this.rows.clear();
    this.generation++;
  }
}

/** A variant's entry beside the storage keys (which never hold a newline). */
function variantEntry(originalKey: string, name: string): string {
  return `${originalKey}\nvariant=${name}`;
}

/**
 * SQLite's WAL-index header, read through a descriptor of its own. The descriptor stays open
 * while the catalog's connection is: closing any descriptor of a file drops every POSIX lock the
 * process holds on it, and SQLite holds its shared-memory locks on this file.
 */
class WalIndexHeader {
  private fd: number;
  private readonly current = Buffer.alloc(HEADER_BYTES);
  private readonly last = Buffer.alloc(HEADER_BYTES);

  private constructor(fd: number) {
    this.fd = fd;
  }

  /** Undefined when there is no such file (not WAL mode): nothing can be proven then. */
  static open(path: string): WalIndexHeader | undefined {
    try {
      return new WalIndexHeader(openSync(path, 'r'));
    } catch {
      return undefined;
    }
  }

  /**
   * Whether the header differs from the one seen at the last call (the first call: yes). A header
   * being written (its two copies differ) or not initialised counts as changed, every time.
   */
  changed(): boolean {
    if (this.fd < 0) return true;
    const current = this.current;
    let read: number;
    try {
      read = readSync(this.fd, current, 0, HEADER_BYTES, 0);
    } catch {
      return true;
    }
    // Byte 12 of each copy is `isInit`.
    const settled = read === HEADER_BYTES && current[12] === 1 && current.compare(current, 0, 48, 48, 96) === 0;
    if (settled && current.equals(this.last)) return false;
    if (settled) current.copy(this.last);
    else this.last.fill(0);
    return true;
  }

  /** Once the catalog has closed; from then on nothing is proven unchanged (and the number is not read again, as another file may get it). */
  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }
}
