import { close, closeSync, constants, createReadStream, existsSync, fdatasync, fsync, fsyncSync, linkSync, mkdirSync, open as fsOpenCallback, openSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, write, writeFileSync, writeSync } from 'node:fs';
import { access, copyFile, link, mkdir, open, realpath, rename, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import type { DatabaseSync } from 'node:sqlite';
import { sqlite } from '../sqlite/node-sqlite.ts';
import type { Readable } from 'node:stream';
import { z } from 'zod/v3';
import { ConfigError, fromFsError, isDiskFull, NotFoundError, SecurityError, StorageError } from '../errors.ts';
import { resolveRange } from './byte-range.ts';
import { assertSafeKey, assertSafePrefix } from '../keys.ts';
import { parseProviderConfig } from '../config/provider-config.ts';
import { decodeCursor, encodeCursor, listLimit } from './list-cursor.ts';
import { publicArtifactUrl, signedDownloadUrl, signedUpload } from './signed-url.ts';
import { LocalIndex } from './local-index.ts';
import type { IndexedObject } from './local-index.ts';
import type { ByteRange, DeferredObject, ListResult, ObjectMetadata, OpenFile, PresignedUpload, ProviderContext, StorageProvider, UploadOptions, UploadResult } from './provider.ts';
import { LocalJournal } from './local-journal.ts';
import type { SharedDatabase } from '../sqlite/shared-database.ts';

export const localProviderConfigSchema = z.object({
  base_path: z.string().min(1),
  /** Public artifacts are served from here (a CDN or a static file server over `base_path`). */
  public_url_base: z.string().url().optional(),
  /** The Boards Storage server that honours this provider's signed URLs. */
  serve_url_base: z.string().url().default('http://127.0.0.1:8080'),
  signing_secret: z.string().min(16).optional(),
  /**
   * Flush each object and its index entry to the disk before the store returns, so that it
   * survives a power loss or kernel crash. Without it a store survives a process crash (the
   * rename is atomic, the index is a WAL) but the last seconds of writes may not survive power loss.
   */
  fsync: z.boolean().default(false),
}).strict();

export type LocalProviderConfig = z.input<typeof localProviderConfigSchema>;

/*
 * Layout under base_path: each object's bytes at its key; an upload in progress at `{key}~tmp`,
 * renamed into place when complete, so a file at a key path is always whole; metadata and
 * visibility in `~index.sqlite` or, joined to a SQLite catalog, in the catalog's database (named by
 * `~index.location`); new keys being stored in `~journal.{pid}`, one per process; copies and health probes in `~tmp/`. "~" can never appear in a
 * key, so none of these names can collide with an object.
 */
const TEMP_DIR = '~tmp';
const TEMP_SUFFIX = '~tmp';
const INDEX_FILE = '~index.sqlite';
/** Where the index is kept when it is not INDEX_FILE: `{ "database": path, "root": id }` (see openIndex). */
const INDEX_LOCATION_FILE = '~index.location';
const READ_CHUNK = 1024 * 1024;
const BACKGROUND_FLUSH_BYTES = 64 * 1024 * 1024;
const VERIFIED_FOLDERS_MAX = 10_000;
/**
 * An upload that is the only one in flight, of an object up to this size, is made with synchronous
 * calls: folder and temp file, the whole object written at once, closed and renamed. Each call
 * through the threadpool costs a round trip on top of the call, and with nothing else in flight
 * nothing overlaps with it. With other uploads in flight (the service under load) the calls go to
 * the threadpool instead, so they overlap rather than hold the event loop: the two creations cost
 * 100-250 µs each on the development machine. Bounded, so memory stays small per upload.
 */
const SMALL_OBJECT_BYTES = 256 * 1024;
/** Objects, the index and folders are the service's own: not readable by other users. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

export class LocalProvider implements StorageProvider {
  readonly capabilities = { presignDownload: true, presignUpload: 'PUT', publicUrl: true, copy: true, selfSignedUrls: true } as const;
  private readonly root: string;
  private readonly temp: string;
  private readonly config: z.output<typeof localProviderConfigSchema>;
  private readonly secret: string | undefined;
  private readonly index: LocalIndex;
  /** Index writes that commit on their own: in a shared database, when no transaction of its owner's is open. */
  private readonly indexWrite: <T>(write: () => T) => Promise<T>;
  private readonly journal: LocalJournal;
  /** Keys noted in the journal whose store is not settled yet (row written, or files removed). */
  private readonly placing = new Set<string>();
  /** Uploads under way: one alone is made with synchronous calls (see SMALL_OBJECT_BYTES). */
  private uploadsInFlight = 0;
  /** Folders already proven free of symbolic links (bounded); forgotten when this provider removes them. */
  private readonly verifiedFolders = new Set<string>();

  private constructor(root: string, config: z.output<typeof localProviderConfigSchema>, secret: string | undefined, index: LocalIndex, shared: SharedDatabase | undefined) {
    this.root = root;
    this.temp = join(root, TEMP_DIR);
    this.config = config;
    this.secret = secret;
    this.index = index;
    this.indexWrite = shared ? (write) => shared.exclusively(write) : async (write) => write();
    this.journal = new LocalJournal(root);
  }

  /**
   * Create the base directory if needed, prove it is writable, and remove what a crash left:
   * half-written uploads in `~tmp/` and files whose store never completed. With `ctx.database`
   * (the SQLite catalog's), a new base keeps its index there (see openIndex).
   */
  static async open(config: LocalProviderConfig, ctx?: Partial<ProviderContext>): Promise<LocalProvider> {
    const parsed = parseProviderConfig(localProviderConfigSchema, config, ctx?.name ?? 'local');
    let provider: LocalProvider;
    try {
      const base = resolve(parsed.base_path);
      await mkdir(base, { recursive: true, mode: DIR_MODE });
      const root = await realpath(base);
      await rm(join(root, TEMP_DIR), { recursive: true, force: true });
      // Recursive: another process opening the same base at once may have made it already.
      await mkdir(join(root, TEMP_DIR), { recursive: true, mode: DIR_MODE });
      await access(join(root, TEMP_DIR), constants.W_OK);
      const { index, shared } = openIndex(root, parsed.fsync, ctx?.database);
      provider = new LocalProvider(root, parsed, parsed.signing_secret ?? ctx?.signingSecret, index, shared);
    } catch (error) {
      // An index that cannot be found says what to do itself.
      if (error instanceof ConfigError) throw new ConfigError(`storage.providers.${ctx?.name ?? 'local'}.config.base_path: "${parsed.base_path}": ${error.message}`, { cause: error });
      throw new ConfigError(`storage.providers.${ctx?.name ?? 'local'}.config.base_path: cannot use "${parsed.base_path}" (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); it must be a writable directory on a local filesystem`, { cause: error });
    }
    await provider.removeInterrupted();
    return provider;
  }

  async upload(key: string, content: AsyncIterable<Uint8Array>, opts: UploadOptions): Promise<UploadResult> {
    const target = this.pathOf(key);
    // The bytes go to `{target}~tmp` in the object's own folder (a rename within one folder costs
    // about half of one across folders here), and the rename makes the file whole at its key.
    const tempPath = target + TEMP_SUFFIX;
    const source = content[Symbol.asyncIterator]();
    // The key is noted in the journal before its first file is made, so the next start removes
    // what a crash leaves (its temp file; its file, while it has no row). A new key gets its row,
    // ready, once the file is in place: one commit. A key that has a row already (an object being
    // replaced) is staged pending before the rename, so a crash never leaves the old row over new
    // bytes, and a failed overwrite leaves the old object as it was. The temp file, made
    // exclusively before the first byte is read, refuses a second upload of the key meanwhile; so
    // does `placing`, until the row is written.
    const alone = ++this.uploadsInFlight === 1;
    // With other uploads in flight, the folder is made on the threadpool while the key is checked here.
    const folderReady = alone ? undefined : this.prepareFolder(key, dirname(target));
    folderReady?.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
    let noted = false;
    let staged = false;
    let tempCreated = false;
    let placed = false;
    let settled = false;
    try {
      if (this.placing.has(key)) throw new StorageError(`local: ${key} is being stored by another upload`, { code: 'CONFLICT' });
      const replacing = this.index.state(key) !== undefined;
      if (replacing && opts.ifNotExists) throw new StorageError(`local: ${key} exists already or is being stored; it is not replaced`, { code: 'CONFLICT' });
      this.placing.add(key);
      noted = true;
      this.journal.note(key);
      const fd = folderReady ? await this.openTemp(key, tempPath, folderReady) : await this.openTempSync(key, tempPath);
      tempCreated = true;
      const file = fileOf(fd);
      let size: number;
      let small = false;
      try {
        // Alone, a small object is written whole with synchronous calls (see SMALL_OBJECT_BYTES).
        // With fsync on, the flush would hold the event loop for milliseconds: those objects stream.
        const head = alone ? await readHead(source, SMALL_OBJECT_BYTES, opts.signal) : { chunks: [], done: false };
        small = head.done && !this.config.fsync;
        if (small) {
          size = writeAllSync(fd, head.chunks);
        } else {
          size = await this.writeContent(file, resume(head, source), opts.signal);
          if (this.config.fsync) await file.sync();
        }
      } catch (error) {
        await file.close().catch(() => undefined); // the write's error is the one to report
        throw error;
      }
      const object = { key, size, contentType: opts.contentType, lastModified: new Date().toISOString(), metadata: { ...opts.metadata } };
      if (replacing) {
        await this.indexWrite(() => this.index.stage(object));
        staged = true;
      }
      // The object becomes visible only when it is closed and at its key. Without replacing: a
      // hard link fails if anything is at the key, then the temp name goes.
      if (small) {
        closeSync(fd);
        if (opts.ifNotExists) linkSync(tempPath, target);
        else renameSync(tempPath, target);
        placed = true;
        if (opts.ifNotExists) unlinkSync(tempPath);
      } else {
        // Closing and renaming are independent, so both run at once.
        const [closed, renamed] = await Promise.allSettled([file.close(), opts.ifNotExists ? link(tempPath, target).then(() => unlink(tempPath)) : rename(tempPath, target)]);
        if (renamed.status === 'rejected') throw renamed.reason;
        placed = true;
        if (closed.status === 'rejected') throw closed.reason;
      }
      const url = this.config.public_url_base ? { url: this.getPublicUrl(key) } : {};
      if (!replacing && opts.commitWith !== undefined && opts.commitWith === this.index.connection) {
        // The caller's transaction makes it visible (see UploadOptions.commitWith).
        settled = true;
        return { ...url, deferred: this.deferred(object, target) };
      }
      if (replacing) await this.indexWrite(() => this.index.markReady(object));
      else await this.indexWrite(() => this.index.insertReady(object));
      settled = true;
      this.settle(key);
      return url;
    } catch (error) {
      await folderReady?.catch(() => undefined); // its failure, if any, is already `error`
      await source.return?.().catch(() => undefined); // the content's producer stops with the store
      // A file a failed rm leaves is named by the journal or the pending index row, and removed at
      // the next start. Files first: on a full disk they free the space the index needs to forget the key.
      // Only this upload's own temp file: another upload of the key may be writing its own there.
      if (tempCreated) await rm(tempPath, { force: true }).catch(() => undefined);
      if (placed && !settled) await rm(target, { force: true }).catch(() => undefined);
      if (staged) {
        try {
          await this.indexWrite(() => this.index.remove(key));
        } catch {
          // Left pending: the next start removes it (and any file of it).
        }
      }
      if (noted && !settled) this.settle(key);
      await this.removeEmptyParents(dirname(target));
      throw fromFsError(error, `local: storing ${key}`);
    } finally {
      this.uploadsInFlight--;
    }
  }

  /** A new key's object, in place and invisible until the caller's transaction runs `ready`. */
  private deferred(object: IndexedObject, path: string): DeferredObject {
    let settled = false;
    let abandoned = false;
    return {
      // Again after a transaction that rolled back (a group commit retried entry by entry): the
      // row is written anew; a second `ready` in one transaction fails on the row the first wrote.
      ready: () => {
        if (abandoned) throw new StorageError(`local: ${object.key} was abandoned`);
        this.index.insertReady(object);
        if (!settled) this.settle(object.key);
        settled = true;
      },
      abandon: async () => {
        // After a `ready` whose transaction rolled back there is no row; after one that committed
        // the caller deletes the object instead. Either way the file goes.
        if (!settled) this.settle(object.key);
        settled = true;
        abandoned = true;
        if (this.index.state(object.key) === undefined) {
          await rm(path, { force: true });
          await this.removeEmptyParents(dirname(path));
        }
      },
    };
  }

  /** A noted key has its row, or its files are gone: its journal line is no longer needed. */
  private settle(key: string): void {
    this.placing.delete(key);
    this.journal.done();
  }

  async openDownload(key: string, range?: ByteRange): Promise<Readable> {
    const { handle, start, end, size } = await this.openObject(key, range);
    // Bounded by the file's end, each read takes a buffer of what is left (not READ_CHUNK): a small
    // object costs one buffer of its own size and no read at EOF. A 1 MiB buffer per 64 KiB object
    // cost 4 ms of CPU per read and drove the garbage collector (measured in a migration).
    const last = end ?? size - 1;
    return createReadStream('', { fd: handle, start, ...(last >= start ? { end: last } : {}), highWaterMark: Math.max(1, Math.min(READ_CHUNK, last - start + 1)) });
  }

  /** The object's file, open for reading, with the range resolved against its size. */
  async openFile(key: string, range?: ByteRange): Promise<OpenFile> {
    const { handle, start, end, size } = await this.openObject(key, range);
    return { handle, start, end: end ?? size - 1, size };
  }

  async getPresignedDownloadUrl(key: string, opts: { expiresIn: number; filename?: string }): Promise<string> {
    return signedDownloadUrl(this.config.serve_url_base, key, opts, this.requireSecret());
  }

  async getPresignedUploadUrl(key: string, opts: { contentType: string; expiresIn: number; maxSize?: number }): Promise<PresignedUpload> {
    return signedUpload(this.config.serve_url_base, key, opts, this.requireSecret());
  }

  async delete(key: string): Promise<boolean> {
    assertSafeKey(key);
    if (!this.index.get(key)) return false;
    const path = await this.existingPathOf(key);
    const removeFile = async () => {
      try {
        await unlink(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(error, `local: deleting ${key}`);
      }
    };
    // The row goes first: the object is invisible from here on, even if removing the file fails.
    try {
      await this.indexWrite(() => this.index.remove(key));
      await removeFile();
    } catch (error) {
      if (!isDiskFull(error)) throw fromFsError(error, `local: deleting ${key}`);
      // A full disk has no room for the index to record the removal: the file goes first, freeing
      // space, then the row (a failure between leaves a row whose delete can be retried).
      await removeFile();
      try {
        await this.indexWrite(() => this.index.remove(key));
      } catch (again) {
        throw fromFsError(again, `local: deleting ${key}`);
      }
    }
    await this.removeEmptyParents(dirname(path));
    return true;
  }

  async exists(key: string): Promise<boolean> {
    return this.index.get(assertSafeKey(key)) !== undefined;
  }

  async getMetadata(key: string): Promise<ObjectMetadata> {
    const object = this.indexed(key);
    return { key, size: object.size, contentType: object.contentType, lastModified: object.lastModified, metadata: object.metadata };
  }

  async list(prefix: string, opts: { cursor?: string; limit?: number } = {}): Promise<ListResult> {
    assertSafePrefix(prefix);
    const limit = listLimit(opts.limit);
    const items = this.index.list(prefix, decodeCursor(opts.cursor), limit + 1);
    const more = items.length > limit;
    if (more) items.pop();
    return { items, ...(more ? { nextCursor: encodeCursor(items.at(-1)!.key) } : {}) };
  }

  getPublicUrl(key: string): string {
    return publicArtifactUrl(this.config, assertSafeKey(key));
  }

  async copy(from: string, to: string): Promise<void> {
    const object = this.indexed(from);
    const source = await this.existingPathOf(from);
    const target = this.pathOf(to);
    const tempPath = join(this.temp, randomUUID());
    let staged = false;
    try {
      await copyFile(source, tempPath);
      await this.prepareFolder(to, dirname(target));
      const copied = { ...object, key: to, lastModified: new Date().toISOString() };
      await this.indexWrite(() => this.index.stage(copied));
      staged = true;
      await rename(tempPath, target);
      await this.indexWrite(() => this.index.markReady(copied));
    } catch (error) {
      if (staged) await this.indexWrite(() => this.index.remove(to));
      await rm(tempPath, { force: true });
      throw this.readError(error, from);
    }
  }

  async health(): Promise<void> {
    const probe = join(this.temp, `health-${randomUUID()}`);
    try {
      this.index.check();
      await writeFile(probe, 'ok', { mode: FILE_MODE });
    } catch (error) {
      throw fromFsError(error, 'local: health check');
    } finally {
      // Also when the write failed half way (a full disk creates the file, then cannot fill it).
      await rm(probe, { force: true }).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.journal.close();
    await this.index.close();
  }

  /**
   * Write every chunk, keeping one write in flight while the next chunk is produced (and hashed
   * upstream). With fsync on, large files are flushed in the background as they grow, so the
   * final flush has little left to do.
   */
  private async writeContent(handle: WritableFile, content: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<number> {
    let size = 0;
    let inFlight: Promise<void> | undefined;
    let flushing: Promise<void> | undefined;
    let flushedAt = 0;
    try {
      for await (const chunk of content) {
        signal?.throwIfAborted();
        if (inFlight) await inFlight;
        inFlight = writeFully(handle, chunk);
        inFlight.catch(() => undefined); // awaited before the next write or at the end; only keeps it from going unhandled
        size += chunk.length;
        if (this.config.fsync && !flushing && size - flushedAt >= BACKGROUND_FLUSH_BYTES) {
          flushedAt = size;
          flushing = handle.datasync().finally(() => { flushing = undefined; });
          flushing.catch(() => undefined); // awaited at the end, like inFlight
        }
      }
      signal?.throwIfAborted();
      await inFlight;
    } finally {
      await Promise.allSettled([inFlight, flushing]);
    }
    return size;
  }

  /** Make the object's folder and prove no symbolic link leads out of the base. */
  private async prepareFolder(key: string, folder: string): Promise<void> {
    const created = await mkdir(folder, { recursive: true, mode: DIR_MODE });
    // Folders mkdir has just made are real directories when the one they were made in is.
    await this.assertContained(key, created === undefined ? folder : dirname(created));
  }

  /** openTemp with synchronous calls, folder and file, for an upload alone in flight (see SMALL_OBJECT_BYTES). */
  private async openTempSync(key: string, tempPath: string): Promise<number> {
    const folder = dirname(tempPath);
    for (let attempt = 0; ; attempt++) {
      const created = mkdirSync(folder, { recursive: true, mode: DIR_MODE });
      // Folders mkdir has just made are real directories when the one they were made in is.
      await this.assertContained(key, created === undefined ? folder : dirname(created));
      try {
        return openSync(tempPath, 'wx', FILE_MODE);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw new StorageError(`local: ${key} is being stored by another upload`, { code: 'CONFLICT', cause: error });
        if (code !== 'ENOENT' || attempt >= 3) throw error;
        this.verifiedFolders.delete(folder);
      }
    }
  }

  /**
   * Create the temp file, exclusively, once its folder is ready; its descriptor serves both the
   * synchronous and the streaming writes. A concurrent delete may remove the new, still empty
   * folder in between: make it again and retry.
   */
  private async openTemp(key: string, tempPath: string, folderReady: Promise<void>): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      await (attempt === 0 ? folderReady : this.prepareFolder(key, dirname(tempPath)));
      try {
        return await fsOpen(tempPath, 'wx', FILE_MODE);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw new StorageError(`local: ${key} is being stored by another upload`, { code: 'CONFLICT', cause: error });
        if (code !== 'ENOENT' || attempt >= 3) throw error;
        this.verifiedFolders.delete(dirname(tempPath));
      }
    }
  }

  /**
   * Files of stores a crash interrupted: replacements staged in the index but never marked ready
   * (unless a process still running noted the key), and keys noted in the journals of processes no
   * longer running: their temp files, and their files while they have no row.
   */
  private async removeInterrupted(): Promise<void> {
    const removeFiles = async (path: string) => {
      await rm(path + TEMP_SUFFIX, { force: true });
      await rm(path, { force: true });
      await this.removeEmptyParents(dirname(path));
    };
    const { keys, live, clear } = this.journal.leftovers();
    for (const key of this.index.pendingKeys()) {
      // Staged by a process still running (noted in its journal): its replacement may be under way.
      if (live.has(key)) continue;
      await removeFiles(this.pathOf(key));
      await this.indexWrite(() => this.index.remove(key));
    }
    for (const key of keys) {
      // A line a crash cut short, or not a key: nothing of it is removed.
      if (!isSafeKey(key)) continue;
      const path = this.pathOf(key);
      // A replacement cut short leaves its temp file beside the object, whose row stays.
      if (this.index.state(key) === undefined) await removeFiles(path);
      else await rm(path + TEMP_SUFFIX, { force: true });
    }
    clear();
  }

  /** Open an object's file for reading: indexed, no symbolic link on its path, the range inside it. */
  private async openObject(key: string, range: ByteRange | undefined): Promise<{ handle: FileHandle; start: number; end: number | undefined; size: number }> {
    this.indexed(key);
    const path = await this.existingPathOf(key);
    let handle: FileHandle;
    try {
      handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      throw this.readError(error, key);
    }
    try {
      const { size } = await handle.stat();
      return { handle, ...resolveRange(range, size), size };
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  private indexed(key: string): IndexedObject {
    const object = this.index.get(assertSafeKey(key));
    if (!object) throw new NotFoundError(`local: ${key} not found`);
    return object;
  }

  /** The file path of a key, lexically inside the base (safe key segments cannot climb out). */
  private pathOf(key: string): string {
    return join(this.root, assertSafeKey(key));
  }

  /** The file path of a key whose directories must already exist and contain no symlinks. */
  private async existingPathOf(key: string): Promise<string> {
    const path = this.pathOf(key);
    await this.assertContained(key, dirname(path));
    return path;
  }

  /** Refuse a directory that a symlink resolves outside the expected place. */
  private async assertContained(key: string, directory: string): Promise<void> {
    if (this.verifiedFolders.has(directory)) return;
    let real: string;
    try {
      real = await realpath(directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') {
        throw new NotFoundError(`local: ${key} not found`, { cause: error });
      }
      throw fromFsError(error, `local: ${key}`);
    }
    if (real !== directory) throw new SecurityError(`local: ${key} passes through a symbolic link; refusing to follow it`);
    if (this.verifiedFolders.size >= VERIFIED_FOLDERS_MAX) this.verifiedFolders.clear();
    this.verifiedFolders.add(directory);
  }

  private async removeEmptyParents(directory: string): Promise<void> {
    while (directory.startsWith(this.root + '/') && directory !== this.root) {
      try {
        await rmdir(directory);
        this.verifiedFolders.delete(directory);
      } catch {
        return; // not empty, or gone already
      }
      directory = dirname(directory);
    }
  }

  private readError(error: unknown, key: string): StorageError {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return new SecurityError(`local: ${key} is a symbolic link; refusing to follow it`, { cause: error });
    if (code === 'ENOENT' || code === 'EISDIR') return new NotFoundError(`local: ${key} not found`, { cause: error });
    return fromFsError(error, `local: ${key}`);
  }

  private requireSecret(): string {
    if (!this.secret) throw new StorageError('local: no signing secret; set signing_secret in the provider config or BOARDS_STORAGE_SIGNING_SECRET', { code: 'NOT_SUPPORTED' });
    return this.secret;
  }
}

async function writeFully(handle: WritableFile, chunk: Uint8Array): Promise<void> {
  let written = 0;
  while (written < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, written, chunk.length - written);
    written += bytesWritten;
  }
}

/** What the streaming write needs of an open file. */
interface WritableFile {
  write(chunk: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

// The callback forms of node:fs, as promises, by hand: node:util's promisify would load node:util,
// which loads worker_threads, parseArgs and more (about 1 MB) with the package.
const done = <T>(resolve: (value: T) => void, reject: (error: Error) => void) => (error: Error | null, value: T) => (error ? reject(error) : resolve(value));
const fsWrite = (fd: number, chunk: Uint8Array, offset: number, length: number, position: null) => new Promise<{ bytesWritten: number }>((resolve, reject) => {
  write(fd, chunk, offset, length, position, (error, bytesWritten) => (error ? reject(error) : resolve({ bytesWritten })));
});
const fsDatasync = (fd: number) => new Promise<void>((resolve, reject) => fdatasync(fd, done(resolve, reject)));
const fsSync = (fd: number) => new Promise<void>((resolve, reject) => fsync(fd, done(resolve, reject)));
const fsClose = (fd: number) => new Promise<void>((resolve, reject) => close(fd, done(resolve, reject)));
const fsOpen = (path: string, flags: string, mode: number) => new Promise<number>((resolve, reject) => fsOpenCallback(path, flags, mode, done(resolve, reject)));

/** The temp file's descriptor for streaming writes through the threadpool. */
function fileOf(fd: number): WritableFile {
  return {
    write: (chunk, offset, length) => fsWrite(fd, chunk, offset, length, null),
    datasync: () => fsDatasync(fd),
    sync: () => fsSync(fd),
    close: () => fsClose(fd),
  };
}

/** The first chunks of a content stream, up to `limit` bytes or its end, whichever comes first. */
interface ContentHead { chunks: Uint8Array[]; done: boolean }

async function readHead(source: AsyncIterator<Uint8Array>, limit: number, signal?: AbortSignal): Promise<ContentHead> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size <= limit) {
    signal?.throwIfAborted();
    const next = await source.next();
    if (next.done) return { chunks, done: true };
    chunks.push(next.value);
    size += next.value.length;
  }
  return { chunks, done: false };
}

/** The head read already, then the rest of the stream. */
async function* resume(head: ContentHead, source: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* head.chunks;
  if (head.done) return;
  for (let next = await source.next(); !next.done; next = await source.next()) yield next.value;
}

function writeAllSync(fd: number, chunks: Uint8Array[]): number {
  let size = 0;
  for (const chunk of chunks) {
    for (let written = 0; written < chunk.length;) written += writeSync(fd, chunk, written, chunk.length - written);
    size += chunk.length;
  }
  return size;
}

/**
 * The index of the base at `root`. A base whose index has a location (it was joined to a SQLite
 * catalog) keeps it there: in the shared connection when `shared` is that database, else through
 * a connection of its own (a provider opened alone, or with another catalog). A base with an index
 * file keeps that. A new base joins `shared` when there is one, unless every commit must be
 * flushed (`durable`; the catalog flushes at checkpoints only); else it gets an index file.
 *
 * A location names the catalog's file by its path, which changes when an operator moves or copies
 * the data directory. `shared` at another path that holds rows of this base is the same catalog,
 * moved or copied: the base adopts it (the one the service is configured with wins over a copy
 * left at the old path) and the location is rewritten to name it. So is a base with no objects
 * yet whose named file is gone: it has nothing to lose.
 */
function openIndex(root: string, durable: boolean, shared: SharedDatabase | undefined): { index: LocalIndex; shared?: SharedDatabase } {
  const locationPath = join(root, INDEX_LOCATION_FILE);
  let location = readIndexLocation(locationPath);
  if (!location && shared && !durable && !existsSync(join(root, INDEX_FILE))) {
    try {
      writeFileSync(locationPath, JSON.stringify({ database: shared.path, root: randomBytes(8).toString('hex') }), { mode: FILE_MODE, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error; // another process made it first: it is the one
    }
    location = readIndexLocation(locationPath);
  }
  if (!location) return { index: new LocalIndex(join(root, INDEX_FILE), { durable }) };
  if (shared && location.database !== shared.path
    && (holdsIndexOf(shared.connection, location.root) || (!existsSync(location.database) && !holdsObjects(root)))) {
    location = { database: shared.path, root: location.root };
    writeIndexLocation(root, location);
  }
  if (shared && location.database === shared.path) return { index: new LocalIndex({ connection: shared.connection, root: location.root }), shared };
  if (!existsSync(location.database)) {
    const inUse = shared ? `, and the catalog in use (${shared.path}) holds none of it` : '';
    throw new ConfigError(`its index is kept in ${location.database} (named by ${INDEX_LOCATION_FILE}), which is missing${inUse}: point data_dir (or database_url) at the catalog that holds this base's index, or restore ${location.database}`);
  }
  const connection = new sqlite.DatabaseSync(location.database);
  connection.exec('PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
  return { index: new LocalIndex({ connection, root: location.root, owned: true }) };
}

/** Whether the database has index rows (LocalIndex's `local_objects`) of the base with this root id. */
function holdsIndexOf(connection: DatabaseSync, root: string): boolean {
  if (connection.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'local_objects'").get() === undefined) return false;
  return connection.prepare('SELECT 1 FROM local_objects WHERE root = ? LIMIT 1').get(root) !== undefined;
}

/** Whether the base has anything besides its own `~` files: a folder or file of an object. */
function holdsObjects(root: string): boolean {
  return readdirSync(root).some((name) => !name.startsWith('~'));
}

/** Replace the location atomically: a temp file beside it, flushed, renamed over it, the folder flushed. */
function writeIndexLocation(root: string, location: { database: string; root: string }): void {
  const target = join(root, INDEX_LOCATION_FILE);
  // Unique per process: several opening the base at once each write their own (the same text).
  const temp = `${target}~${randomBytes(4).toString('hex')}`;
  try {
    const fd = openSync(temp, 'wx', FILE_MODE);
    try {
      writeFileSync(fd, JSON.stringify(location));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  const folder = openSync(root, 'r');
  try {
    fsyncSync(folder);
  } finally {
    closeSync(folder);
  }
}

function isSafeKey(key: string): boolean {
  try {
    assertSafeKey(key);
    return true;
  } catch {
    return false;
  }
}

function readIndexLocation(path: string): { database: string; root: string } | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as { database?: unknown; root?: unknown };
  if (typeof parsed.database !== 'string' || typeof parsed.root !== 'string') throw new Error(`${INDEX_LOCATION_FILE} is not an index location`);
  return { database: parsed.database, root: parsed.root };
}

export async function createLocalProvider(config: Record<string, unknown>, ctx: ProviderContext): Promise<LocalProvider> {
  return LocalProvider.open(config as LocalProviderConfig, ctx);
}
