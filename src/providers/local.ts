import { constants, createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, realpath, rename, rm, rmdir, stat, unlink, writeFile, copyFile, access } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { ConfigError, fromFsError, NotFoundError, SecurityError, StorageError } from '../errors.ts';
import { resolveRange } from './byte-range.ts';
import { assertSafeKey, assertSafePrefix } from '../keys.ts';
import { parseProviderConfig } from '../config/provider-config.ts';
import { decodeCursor, encodeCursor, listLimit } from './list-cursor.ts';
import { expiryFromNow, signUrl } from './signed-url.ts';
import type { ByteRange, ListedObject, ListResult, ObjectMetadata, PresignedUpload, ProviderContext, StorageProvider, UploadOptions } from './provider.ts';

export const localProviderConfigSchema = z.object({
  base_path: z.string().min(1),
  /** Public artifacts are served from here (a CDN or a static file server over `base_path`). */
  public_url_base: z.string().url().optional(),
  /** The Boards Storage server that honours this provider's signed URLs. */
  serve_url_base: z.string().url().default('http://127.0.0.1:8080'),
  signing_secret: z.string().min(16).optional(),
  /** Flush each object to the disk before it becomes visible. */
  fsync: z.boolean().default(true),
}).strict();

export type LocalProviderConfig = z.input<typeof localProviderConfigSchema>;

/*
 * Layout under base_path: each object at its key, its metadata beside it in `{file}~meta.json`,
 * uploads in progress in `~tmp/`. "~" can never appear in a key, so neither name can collide with
 * an object, and listing skips both.
 */
const META_SUFFIX = '~meta.json';
const TEMP_DIR = '~tmp';
const READ_CHUNK = 1024 * 1024;

interface Sidecar {
  contentType: string;
  size: number;
  lastModified: string;
  metadata: Record<string, string>;
}

export class LocalProvider implements StorageProvider {
  readonly capabilities = { presignDownload: true, presignUpload: 'PUT', publicUrl: true, copy: true } as const;
  private readonly root: string;
  private readonly temp: string;
  private readonly config: z.output<typeof localProviderConfigSchema>;
  private readonly secret: string | undefined;

  private constructor(root: string, config: z.output<typeof localProviderConfigSchema>, secret: string | undefined) {
    this.root = root;
    this.temp = join(root, TEMP_DIR);
    this.config = config;
    this.secret = secret;
  }

  /**
   * Create the base directory if needed, prove it is writable, and remove uploads that a crash
   * left half-written.
   */
  static async open(config: LocalProviderConfig, ctx?: Partial<ProviderContext>): Promise<LocalProvider> {
    const parsed = parseProviderConfig(localProviderConfigSchema, config, ctx?.name ?? 'local');
    const base = resolve(parsed.base_path);
    try {
      await mkdir(base, { recursive: true });
      const root = await realpath(base);
      await rm(join(root, TEMP_DIR), { recursive: true, force: true });
      await mkdir(join(root, TEMP_DIR));
      await access(join(root, TEMP_DIR), constants.W_OK);
      return new LocalProvider(root, parsed, parsed.signing_secret ?? ctx?.signingSecret);
    } catch (error) {
      throw new ConfigError(`storage.providers.${ctx?.name ?? 'local'}.config.base_path: cannot use "${parsed.base_path}" (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); it must be a writable directory`, { cause: error });
    }
  }

  async upload(key: string, content: AsyncIterable<Uint8Array>, opts: UploadOptions): Promise<{ url?: string }> {
    const target = this.pathOf(key);
    const tempPath = join(this.temp, randomUUID());
    let sidecarWritten = false;
    try {
      const size = await this.writeTemp(tempPath, content, opts.signal);
      const sidecar: Sidecar = { contentType: opts.contentType, size, lastModified: new Date().toISOString(), metadata: { ...opts.metadata } };
      await this.moveIntoPlace(key, target, async () => {
        // Metadata first: the object is visible only once its data file exists.
        await writeFile(target + META_SUFFIX, JSON.stringify(sidecar));
        sidecarWritten = true;
        await rename(tempPath, target);
      });
      return this.config.public_url_base ? { url: this.getPublicUrl(key) } : {};
    } catch (error) {
      await rm(tempPath, { force: true });
      if (sidecarWritten) await rm(target + META_SUFFIX, { force: true });
      throw fromFsError(error, `local: storing ${key}`);
    }
  }

  async openDownload(key: string, range?: ByteRange): Promise<Readable> {
    const path = await this.existingPathOf(key);
    let handle: FileHandle;
    try {
      handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      throw this.readError(error, key);
    }
    try {
      const { size } = await handle.stat();
      const { start, end } = resolveRange(range, size);
      return createReadStream('', { fd: handle, start, end, highWaterMark: READ_CHUNK });
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async getPresignedDownloadUrl(key: string, opts: { expiresIn: number; filename?: string }): Promise<string> {
    return signUrl(this.config.serve_url_base, { method: 'GET', key: assertSafeKey(key), expires: expiryFromNow(opts.expiresIn), ...(opts.filename ? { filename: opts.filename } : {}) }, this.requireSecret());
  }

  async getPresignedUploadUrl(key: string, opts: { contentType: string; expiresIn: number; maxSize?: number }): Promise<PresignedUpload> {
    const expires = expiryFromNow(opts.expiresIn);
    const url = signUrl(this.config.serve_url_base, { method: 'PUT', key: assertSafeKey(key), expires, contentType: opts.contentType, ...(opts.maxSize === undefined ? {} : { maxSize: opts.maxSize }) }, this.requireSecret());
    return { url, method: 'PUT', headers: { 'Content-Type': opts.contentType }, expiresAt: new Date(expires * 1000).toISOString() };
  }

  async delete(key: string): Promise<boolean> {
    const path = await this.existingPathOf(key).catch((error: unknown) => {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    });
    if (!path) return false;
    try {
      await unlink(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw fromFsError(error, `local: deleting ${key}`);
    }
    await rm(path + META_SUFFIX, { force: true });
    await this.removeEmptyParents(dirname(path));
    return true;
  }

  async exists(key: string): Promise<boolean> {
    try {
      const path = await this.existingPathOf(key);
      return (await stat(path)).isFile();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (error instanceof NotFoundError || code === 'ENOENT' || code === 'ENOTDIR') return false;
      throw fromFsError(error, `local: ${key}`);
    }
  }

  async getMetadata(key: string): Promise<ObjectMetadata> {
    const path = await this.existingPathOf(key);
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      throw this.readError(error, key);
    }
    if (!info.isFile()) throw new NotFoundError(`local: ${key} not found`);
    const sidecar = await readFile(path + META_SUFFIX, 'utf8').then((text) => JSON.parse(text) as Sidecar, () => undefined);
    return {
      key,
      size: info.size,
      contentType: sidecar?.contentType ?? 'application/octet-stream',
      lastModified: sidecar?.lastModified ?? info.mtime.toISOString(),
      metadata: sidecar?.metadata ?? {},
    };
  }

  async list(prefix: string, opts: { cursor?: string; limit?: number } = {}): Promise<ListResult> {
    assertSafePrefix(prefix);
    const limit = listLimit(opts.limit);
    const after = decodeCursor(opts.cursor);
    const slash = prefix.lastIndexOf('/');
    const walk = new ListingWalk(this.root, after, limit);
    await walk.visit(slash < 0 ? '' : prefix.slice(0, slash), prefix.slice(slash + 1));
    const last = walk.items.at(-1);
    return { items: walk.items, ...(walk.more && last ? { nextCursor: encodeCursor(last.key) } : {}) };
  }

  getPublicUrl(key: string): string | undefined {
    return this.config.public_url_base ? `${this.config.public_url_base.replace(/\/+$/, '')}/${assertSafeKey(key)}` : undefined;
  }

  async copy(from: string, to: string): Promise<void> {
    const source = await this.existingPathOf(from);
    const target = this.pathOf(to);
    const tempPath = join(this.temp, randomUUID());
    try {
      await copyFile(source, tempPath);
      const sidecar = await readFile(source + META_SUFFIX, 'utf8').catch(() => undefined);
      await this.moveIntoPlace(to, target, async () => {
        if (sidecar !== undefined) await writeFile(target + META_SUFFIX, sidecar);
        await rename(tempPath, target);
      });
    } catch (error) {
      await rm(tempPath, { force: true });
      throw this.readError(error, from);
    }
  }

  async health(): Promise<void> {
    const probe = join(this.temp, `health-${randomUUID()}`);
    try {
      await writeFile(probe, 'ok');
      await unlink(probe);
    } catch (error) {
      throw fromFsError(error, 'local: health check');
    }
  }

  private async writeTemp(tempPath: string, content: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<number> {
    const handle = await open(tempPath, 'wx', 0o644);
    let size = 0;
    try {
      for await (const chunk of content) {
        signal?.throwIfAborted();
        let written = 0;
        while (written < chunk.length) {
          const { bytesWritten } = await handle.write(chunk, written, chunk.length - written);
          written += bytesWritten;
        }
        size += chunk.length;
      }
      signal?.throwIfAborted();
      if (this.config.fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    return size;
  }

  /** Create the parent directory and run `place`; a concurrent delete may remove an empty parent between the two, so try again. */
  private async moveIntoPlace(key: string, target: string, place: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      await mkdir(dirname(target), { recursive: true });
      await this.assertContained(key, dirname(target));
      try {
        await place();
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw error;
      }
    }
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
  }

  private async removeEmptyParents(directory: string): Promise<void> {
    while (directory.startsWith(this.root + '/') && directory !== this.root) {
      try {
        await rmdir(directory);
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

/** Depth-first walk in key order, skipping whole subtrees at or before the cursor. */
class ListingWalk {
  readonly items: ListedObject[] = [];
  more = false;
  private readonly root: string;
  private readonly after: string;
  private readonly limit: number;

  constructor(root: string, after: string, limit: number) {
    this.root = root;
    this.after = after;
    this.limit = limit;
  }

  /** Returns false once the page is full. */
  async visit(dirKey: string, namePrefix: string): Promise<boolean> {
    let entries;
    try {
      entries = await readdir(dirKey ? join(this.root, dirKey) : this.root, { withFileTypes: true });
    } catch {
      return true;
    }
    const children = entries
      .filter((e) => !e.name.includes('~') && e.name.startsWith(namePrefix) && (e.isFile() || e.isDirectory()))
      .map((e) => {
        const key = dirKey ? `${dirKey}/${e.name}` : e.name;
        return { key, dir: e.isDirectory(), order: e.isDirectory() ? key + '/' : key };
      })
      .sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
    for (const child of children) {
      if (child.dir) {
        if (this.after > child.order && !this.after.startsWith(child.order)) continue;
        if (!(await this.visit(child.key, ''))) return false;
        continue;
      }
      if (child.key <= this.after) continue;
      if (this.items.length === this.limit) {
        this.more = true;
        return false;
      }
      const info = await stat(join(this.root, child.key)).catch(() => undefined);
      if (info) this.items.push({ key: child.key, size: info.size, lastModified: info.mtime.toISOString() });
    }
    return true;
  }
}

export async function createLocalProvider(config: Record<string, unknown>, ctx: ProviderContext): Promise<LocalProvider> {
  return LocalProvider.open(config as LocalProviderConfig, ctx);
}
