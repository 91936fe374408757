import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { StorageClient } from '@supabase/storage-js';
import type { FileObject } from '@supabase/storage-js';
import { z } from 'zod/v3';
import { NotFoundError, StorageError, ValidationError } from '../errors.ts';
import { assertSafeKey, assertSafePrefix } from '../keys.ts';
import { parseProviderConfig } from '../config/provider-config.ts';
import { sizeSetting } from '../config/sizes.ts';
import { decodeCursor, encodeCursor, listLimit } from './list-cursor.ts';
import { fromSupabaseError, isRouteMissing, isSupabaseNotFound, parseErrorBody, realStatus, supabaseAnswer, SupabaseHttpError } from './supabase-errors.ts';
import type { ByteRange, ListedObject, ListResult, ObjectMetadata, PresignedUpload, ProviderCapabilities, ProviderContext, StorageProvider, UploadOptions } from './provider.ts';
import { readHead } from './content-reader.ts';
import { TusContentFailure, uploadThroughTus } from './supabase-tus.ts';
import { fitMetadata } from './metadata-fit.ts';
import { httpRangeHeader } from './byte-range.ts';

const MiB = 1024 * 1024;
/** Supabase's TUS endpoint takes chunks of exactly 6 MiB. */
const TUS_CHUNK_BYTES = 6 * MiB;
/** Supabase's default lifetime of a signed upload token, when the token does not say. */
const SIGNED_UPLOAD_SECONDS = 2 * 3600;
/**
 * Metadata travels in a header (`x-metadata`, or TUS's Upload-Metadata), base64-encoded, and a
 * Node server (Supabase Storage is one) refuses request headers beyond 16 KiB in all: 8 KiB of
 * metadata leaves room for the rest. Larger metadata loses its largest entries (the catalog has them).
 */
const MAX_METADATA_BYTES = 8 * 1024;
/** Entries per folder listing request, and keys per createSignedUrls request. */
const PAGE = 1000;
/** Made by the Supabase dashboard for empty folders; never an artifact. */
const FOLDER_PLACEHOLDER = '.emptyFolderPlaceholder';

const bucketName = z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must be a Supabase bucket name (letters, digits, "_", "." and "-")');
const seconds = z.union([z.number().int().min(0), z.string().regex(/^\d+$/, 'must be a number of seconds').transform(Number)]);

export const supabaseProviderConfigSchema = z.object({
  /** The project URL (`https://<project>.supabase.co`); the storage API is at `/storage/v1` beneath it. */
  url: z.string().url().optional(),
  /** The storage API itself, for a self-hosted Supabase Storage server that serves it at its root. Overrides `url`. */
  storage_url: z.string().url().optional(),
  /** A service-role (secret) key: the service does its own authorization. */
  key: z.string().min(1),
  bucket: bucketName,
  /** A public bucket for public artifacts; changing an artifact's visibility moves it between the two. */
  public_bucket: bucketName.optional(),
  /** Lifetime of batch signed download URLs when the caller gives none. */
  signed_url_expiration: z.number().int().min(1).max(365 * 24 * 3600).default(3600),
  /** Cache-Control max-age in seconds; default: a year for public artifacts (keys never repeat), an hour for private ones. */
  cache_control: seconds.optional(),
  /** Content above this goes through the TUS resumable endpoint in 6 MiB chunks; up to it, one request with the complete metadata. */
  tus_threshold: sizeSetting(1 * MiB, 5 * 1024 * MiB).default(6 * MiB),
  /** Time for one request to get its answer's headers (each TUS chunk is one), and the longest a download may stall. */
  request_timeout_ms: z.number().int().min(100).max(3_600_000).default(30_000),
}).strict().superRefine((config, ctx) => {
  if (!config.url && !config.storage_url) ctx.addIssue({ code: 'custom', path: ['url'], message: 'give the project url (or storage_url for a self-hosted storage server)' });
  if (config.public_bucket !== undefined && config.public_bucket === config.bucket) ctx.addIssue({ code: 'custom', path: ['public_bucket'], message: 'must differ from bucket' });
});

export type SupabaseProviderConfig = z.input<typeof supabaseProviderConfigSchema>;
type Config = z.output<typeof supabaseProviderConfigSchema>;

/** The storage API base: `storage_url`, or `{url}/storage/v1`; no trailing slash. */
export function supabaseStorageUrl(config: { url?: string | undefined; storage_url?: string | undefined }): string {
  if (config.storage_url) return config.storage_url.replace(/\/+$/, '');
  return `${(config.url ?? '').replace(/\/+$/, '')}/storage/v1`;
}

/** One entry of a folder listing: an object, or a folder (Supabase lists one level at a time). */
export interface FolderEntry {
  name: string;
  folder: boolean;
  size: number;
  lastModified: string;
}

/**
 * Keys under `prefix` (a plain string prefix) greater than `after`, in byte order, at most
 * `wanted`, walking the folders one level at a time. Each folder's entries are sorted here by their
 * full path (a folder as `path/`), so the order does not depend on the database's collation.
 */
export async function walkFolders(listFolder: (folder: string) => Promise<FolderEntry[]>, prefix: string, after: string, wanted: number): Promise<ListedObject[]> {
  const out: ListedObject[] = [];
  const slash = prefix.lastIndexOf('/');
  await walk(listFolder, prefix.slice(0, slash + 1), prefix.slice(slash + 1), after, wanted, out);
  return out;
}

async function walk(listFolder: (folder: string) => Promise<FolderEntry[]>, folder: string, partial: string, after: string, wanted: number, out: ListedObject[]): Promise<void> {
  const entries = (await listFolder(folder))
    .filter((entry) => entry.name.startsWith(partial) && entry.name !== FOLDER_PLACEHOLDER && entry.name !== '')
    .map((entry) => ({ entry, sortKey: folder + entry.name + (entry.folder ? '/' : '') }))
    .sort((a, b) => compareBytes(a.sortKey, b.sortKey));
  for (const { entry, sortKey } of entries) {
    if (out.length >= wanted) return;
    if (entry.folder) {
      const inside = after.startsWith(sortKey);
      // Everything below a folder that sorts before `after` (and does not contain it) was listed already.
      if (!inside && compareBytes(sortKey, after) < 0) continue;
      await walk(listFolder, sortKey, '', inside ? after : '', wanted, out);
    } else if (compareBytes(sortKey, after) > 0) {
      out.push({ key: sortKey, size: entry.size, lastModified: entry.lastModified });
    }
  }
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Supabase Storage on @supabase/storage-js (the storage client alone). Content up to
 * `tus_threshold` is one request carrying its complete metadata; larger content goes through the
 * TUS resumable endpoint (tus-js-client) in 6 MiB chunks, never buffered whole. Private artifacts
 * live in `bucket`, public ones in `public_bucket` when it is configured.
 */
export class SupabaseProvider implements StorageProvider {
  readonly capabilities: ProviderCapabilities;
  readonly client: StorageClient;
  readonly storageUrl: string;
  private readonly config: Config;
  private readonly name: string;
  /** Set when the server has no flat listing (list-v2, 2025 and later). */
  private folderListingOnly = false;

  constructor(config: SupabaseProviderConfig, ctx?: Partial<ProviderContext>) {
    this.name = ctx?.name ?? 'supabase';
    this.config = parseProviderConfig(supabaseProviderConfigSchema, config, this.name);
    this.storageUrl = supabaseStorageUrl(this.config);
    this.capabilities = { presignDownload: true, presignUpload: 'PUT', publicUrl: this.config.public_bucket !== undefined, copy: true, selfSignedUrls: false, uploadChecksum: false };
    this.client = new StorageClient(this.storageUrl, this.authHeaders(), this.fetch);
  }

  async upload(key: string, content: AsyncIterable<Uint8Array>, opts: UploadOptions): Promise<{ url?: string }> {
    assertSafeKey(key);
    const bucket = this.bucketFor(opts.metadata);
    const iterator = content[Symbol.asyncIterator]();
    let read: Awaited<ReturnType<typeof readHead>>;
    try {
      read = await readHead(iterator, this.config.tus_threshold, opts.signal);
    } catch (error) {
      throw this.contentError(error, key);
    }
    const { head, size: buffered, ended } = read;
    if (ended) {
      // Everything is here: one request, with the metadata completed by the end of the content.
      opts.signal?.throwIfAborted();
      const { error } = await this.client.from(bucket).upload(key, Buffer.concat(head, buffered), {
        contentType: opts.contentType,
        cacheControl: String(this.cacheSeconds(opts.metadata)),
        upsert: false,
        metadata: fitMetadata(opts.metadata, MAX_METADATA_BYTES),
      });
      if (error) throw this.error(error, `storing ${key}`, bucket);
    } else {
      await this.uploadTus(key, bucket, head, iterator, opts);
    }
    return bucket === this.config.public_bucket ? { url: this.getPublicUrl(key)! } : {};
  }

  async openDownload(key: string, range?: ByteRange): Promise<Readable> {
    assertSafeKey(key);
    const header = httpRangeHeader(range);
    return this.inEitherBucket(key, `reading ${key}`, async (bucket) => {
      const controller = new AbortController();
      let response: Response;
      try {
        response = await this.fetch(`${this.storageUrl}/object/authenticated/${bucket}/${encodePath(key)}`, {
          headers: { ...this.authHeaders(), ...(header ? { Range: header } : {}) },
          signal: controller.signal,
        });
      } catch (error) {
        throw await this.rangeError(error, bucket, key, range);
      }
      let body = Readable.fromWeb(response.body! as WebReadableStream<Uint8Array>);
      // A server that ignores the Range header sends the whole object: cut the range out of it.
      if (header && response.status === 200) {
        const whole = body;
        body = whole.pipe(byteWindow(range!.start ?? 0, range!.end));
        whole.once('error', (error) => body.destroy(error));
        body.once('close', () => whole.destroy());
      }
      return idleLimited(body, controller, this.config.request_timeout_ms);
    });
  }

  /**
   * A ranged read that failed on the server: an S3-backed Supabase Storage passes a range that
   * starts past the end on to S3 and answers S3's refusal as a 500, so a 5xx on a ranged read is
   * checked against the object's size.
   */
  private async rangeError(error: unknown, bucket: string, key: string, range: ByteRange | undefined): Promise<unknown> {
    const answer = supabaseAnswer(error);
    if (!range?.start || !answer || realStatus(answer) < 500) return error;
    const size = await this.objectInfo(bucket, key).then(objectSize, () => undefined);
    return size !== undefined && range.start >= size ? new SupabaseHttpError(416, { code: 'InvalidRange', message: `the range starts at ${range.start}, past the end of ${size} bytes` }) : error;
  }

  async getPresignedDownloadUrl(key: string, opts: { expiresIn: number; filename?: string }): Promise<string> {
    assertSafeKey(key);
    const expiresIn = signSeconds(opts.expiresIn);
    return this.inEitherBucket(key, `signing a download of ${key}`, async (bucket) => {
      const { data, error } = await this.client.from(bucket).createSignedUrl(key, expiresIn);
      if (error) throw error;
      // Not storage-js's `download` option: it encodes the name twice.
      return opts.filename ? `${data.signedUrl}&download=${encodeURIComponent(opts.filename)}` : data.signedUrl;
    });
  }

  /**
   * Signed download URLs for many keys in one request per bucket (createSignedUrls), in the order
   * of `keys`. A key in neither bucket is a NotFoundError.
   */
  async getPresignedDownloadUrls(keys: string[], opts: { expiresIn?: number } = {}): Promise<string[]> {
    keys.forEach((key) => assertSafeKey(key));
    const expiresIn = signSeconds(opts.expiresIn ?? this.config.signed_url_expiration);
    const urls = new Map<string, string>();
    let missing = [...new Set(keys)];
    for (const bucket of this.buckets()) {
      if (missing.length === 0) break;
      for (let i = 0; i < missing.length; i += PAGE) {
        const batch = missing.slice(i, i + PAGE);
        const { data, error } = await this.client.from(bucket).createSignedUrls(batch, expiresIn);
        if (error) throw this.error(error, `signing downloads of ${batch.length} keys`, bucket);
        data.forEach((entry, index) => {
          const path = entry.path ?? batch[index]!;
          if (entry.signedUrl && !entry.error) urls.set(path, entry.signedUrl);
        });
      }
      missing = missing.filter((key) => !urls.has(key));
    }
    if (missing.length > 0) throw new NotFoundError(`supabase: signing downloads: not found: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`, { details: { keys: missing } });
    return keys.map((key) => urls.get(key)!);
  }

  /**
   * A signed PUT into the private bucket (createSignedUploadUrl). The server sets the token's
   * lifetime (two hours on hosted Supabase, `UPLOAD_SIGNED_URL_EXPIRATION_TIME` when self-hosted)
   * whatever `expiresIn` asks, so `expiresAt` is read from the token itself; nor can it limit the
   * size below the bucket's own limit: the manager's completion step checks what landed.
   */
  async getPresignedUploadUrl(key: string, opts: { contentType: string; expiresIn: number; maxSize?: number }): Promise<PresignedUpload> {
    assertSafeKey(key);
    signSeconds(opts.expiresIn);
    const bucket = this.config.bucket;
    const { data, error } = await this.client.from(bucket).createSignedUploadUrl(key);
    if (error) throw this.error(error, `signing an upload of ${key}`, bucket);
    return {
      url: data.signedUrl,
      method: 'PUT',
      headers: { 'Content-Type': opts.contentType, 'x-upsert': 'false', 'Cache-Control': `max-age=${this.cacheSeconds({})}` },
      expiresAt: new Date(tokenExpiry(data.token) ?? Date.now() + SIGNED_UPLOAD_SECONDS * 1000).toISOString(),
    };
  }

  async delete(key: string): Promise<boolean> {
    assertSafeKey(key);
    let deleted = false;
    for (const bucket of this.buckets()) {
      const { data, error } = await this.client.from(bucket).remove([key]);
      if (error) throw this.error(error, `deleting ${key}`, bucket);
      if (data.length > 0) deleted = true;
    }
    return deleted;
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.getMetadata(key);
      return true;
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
  }

  async getMetadata(key: string): Promise<ObjectMetadata> {
    assertSafeKey(key);
    return this.inEitherBucket(key, `reading the metadata of ${key}`, async (bucket) => {
      const info = await this.objectInfo(bucket, key);
      // Current servers answer with `size` and the user metadata as `metadata`; older ones with the
      // system metadata (size, mimetype) as `metadata` and the user's as `user_metadata`.
      const system = typeof info.size !== 'number' && info.metadata && typeof info.metadata === 'object' ? info.metadata as { size?: number; mimetype?: string; lastModified?: string } : undefined;
      return {
        key,
        size: objectSize(info),
        contentType: info.content_type ?? system?.mimetype ?? 'application/octet-stream',
        lastModified: new Date(info.last_modified ?? system?.lastModified ?? info.updated_at ?? info.created_at ?? Date.now()).toISOString(),
        metadata: stringValues(info.user_metadata ?? (system ? undefined : info.metadata)),
      };
    });
  }

  /** Keys under `prefix` in byte order across both buckets, a page at a time. */
  async list(prefix: string, opts: { cursor?: string; limit?: number } = {}): Promise<ListResult> {
    assertSafePrefix(prefix);
    const limit = listLimit(opts.limit);
    const after = decodeCursor(opts.cursor);
    const found: ListedObject[] = [];
    for (const bucket of this.buckets()) found.push(...await this.listBucket(bucket, prefix, after, limit + 1));
    found.sort((a, b) => compareBytes(a.key, b.key));
    const items = found.slice(0, limit);
    return { items, ...(found.length > limit ? { nextCursor: encodeCursor(items.at(-1)!.key) } : {}) };
  }

  /** The public bucket's URL for an artifact, when a public bucket is configured. */
  getPublicUrl(key: string): string | undefined {
    if (!this.config.public_bucket) return undefined;
    return `${this.storageUrl}/object/public/${this.config.public_bucket}/${encodePath(assertSafeKey(key))}`;
  }

  /** Server-side copy within the bucket that holds `from`; content type and metadata are kept. */
  async copy(from: string, to: string): Promise<void> {
    assertSafeKey(from);
    assertSafeKey(to);
    await this.inEitherBucket(from, `copying ${from} to ${to}`, async (bucket) => {
      const { error } = await this.client.from(bucket).copy(from, to);
      if (error) throw error;
    });
  }

  /**
   * The two-bucket visibility model: move the object into the public bucket (or back into the
   * private one) and return its URL (public artifacts only). Without a public bucket, nothing moves.
   */
  async setVisibility(key: string, visibility: 'public' | 'private'): Promise<{ url?: string }> {
    assertSafeKey(key);
    const target = visibility === 'public' ? this.config.public_bucket : this.config.bucket;
    if (!this.config.public_bucket || !target) return {};
    const source = visibility === 'public' ? this.config.bucket : this.config.public_bucket;
    const { error } = await this.client.from(source).move(key, key, { destinationBucket: target });
    if (error) {
      // Already where it should be?
      if (!isSupabaseNotFound(error) || !(await this.existsIn(target, key))) throw this.error(error, `moving ${key} to ${target}`, source);
    }
    return visibility === 'public' ? { url: this.getPublicUrl(key)! } : {};
  }

  /** GET /bucket/{id} for each configured bucket: proves the endpoint, the key and the buckets. */
  async health(): Promise<void> {
    for (const bucket of this.buckets()) {
      const { error } = await this.client.getBucket(bucket);
      if (error) throw this.error(error, 'health check (get bucket)', bucket);
    }
  }

  async close(): Promise<void> {
    // Nothing held open: fetch's pooled connections do not keep the process alive.
  }

  private async uploadTus(key: string, bucket: string, head: Uint8Array[], iterator: AsyncIterator<Uint8Array>, opts: UploadOptions): Promise<void> {
    try {
      await uploadThroughTus({
        endpoint: `${this.storageUrl}/upload/resumable`,
        headers: { ...this.authHeaders(), 'x-upsert': 'false' },
        // The metadata goes with the upload's creation, before the content has been read: the
        // sha256 and size the manager adds at the end are not on the object (the catalog has them).
        metadata: {
          bucketName: bucket,
          objectName: key,
          contentType: opts.contentType,
          cacheControl: String(this.cacheSeconds(opts.metadata)),
          metadata: JSON.stringify(fitMetadata(opts.metadata, MAX_METADATA_BYTES)),
        },
        chunkSize: TUS_CHUNK_BYTES,
        size: opts.size,
        head,
        iterator,
        signal: opts.signal,
        stallMs: this.config.request_timeout_ms + 5000,
        stallError: (message) => new SupabaseHttpError(504, { message }),
        shouldRetry: (error) => {
          const answer = supabaseAnswer(error);
          if (!answer) return true;
          const status = realStatus(answer);
          // 409 on a PATCH is an offset mismatch (tus-js-client asks the offset and goes on);
          // on the creation it is an existing key, which no retry changes.
          const creating = error.originalRequest?.getMethod() === 'POST';
          return status >= 500 || status === 429 || status === 423 || (status === 409 && !creating);
        },
      });
    } catch (error) {
      if (error instanceof TusContentFailure) throw this.contentError(error.reason, key);
      throw this.error(error, `storing ${key} (TUS upload)`, bucket);
    }
  }

  /**
   * Up to `wanted` keys of one bucket under `prefix` after `after`, through the flat listing
   * (`POST /object/list-v2`): byte order, full names, case-sensitive. Servers without it get the
   * folder walk of the older listing, whose matching ignores case.
   */
  private async listBucket(bucket: string, prefix: string, after: string, wanted: number): Promise<ListedObject[]> {
    const walk = () => walkFolders((folder) => this.listFolder(bucket, folder), prefix, after, wanted);
    if (this.folderListingOnly) return walk();
    try {
      return await flatListing(async (cursor) => {
        const { data, error } = await this.client.from(bucket).listV2({ prefix, limit: PAGE, with_delimiter: false, ...(cursor ? { cursor } : {}) });
        if (error) throw error;
        return data;
      }, prefix, after, wanted);
    } catch (error) {
      if (!isRouteMissing(error)) throw this.error(error, `listing ${prefix || '(the root)'}`, bucket);
      this.folderListingOnly = true;
      return walk();
    }
  }

  private async listFolder(bucket: string, folder: string): Promise<FolderEntry[]> {
    const entries: FolderEntry[] = [];
    for (let offset = 0; ; offset += PAGE) {
      const { data, error } = await this.client.from(bucket).list(folder.replace(/\/$/, ''), { limit: PAGE, offset, sortBy: { column: 'name', order: 'asc' } });
      if (error) throw this.error(error, `listing ${folder || '(the root)'}`, bucket);
      entries.push(...data.map(folderEntry));
      if (data.length < PAGE) return entries;
    }
  }

  /** Run `call` on the private bucket, then on the public one when the key is not in the first. */
  private async inEitherBucket<T>(key: string, what: string, call: (bucket: string) => Promise<T>): Promise<T> {
    const buckets = this.buckets();
    for (let i = 0; i < buckets.length; i++) {
      try {
        return await call(buckets[i]!);
      } catch (error) {
        if (i + 1 < buckets.length && isSupabaseNotFound(error)) continue;
        throw this.error(error, what, buckets[i]!);
      }
    }
    throw new NotFoundError(`supabase: ${what}: not found`);
  }

  private async existsIn(bucket: string, key: string): Promise<boolean> {
    return this.objectInfo(bucket, key).then(() => true, (error: unknown) => {
      if (isSupabaseNotFound(error)) return false;
      throw this.error(error, `checking ${key}`, bucket);
    });
  }

  /**
   * An object's info. Not storage-js's info(): it camel-cases the keys of the user metadata too.
   * The authenticated route, because the plain one takes a refused key for an anonymous caller.
   */
  private async objectInfo(bucket: string, key: string): Promise<ObjectInfo> {
    const response = await this.fetch(`${this.storageUrl}/object/info/authenticated/${bucket}/${encodePath(key)}`, { headers: this.authHeaders() });
    return await response.json() as ObjectInfo;
  }

  private buckets(): string[] {
    return this.config.public_bucket ? [this.config.bucket, this.config.public_bucket] : [this.config.bucket];
  }

  private bucketFor(metadata: Record<string, string>): string {
    return metadata.visibility === 'public' && this.config.public_bucket ? this.config.public_bucket : this.config.bucket;
  }

  private cacheSeconds(metadata: Record<string, string>): number {
    return this.config.cache_control ?? (metadata.visibility === 'public' ? 31_536_000 : 3600);
  }

  private authHeaders(): Record<string, string> {
    return { apikey: this.config.key, Authorization: `Bearer ${this.config.key}` };
  }

  /**
   * fetch with a bounded wait for the answer's headers; a non-2xx answer is thrown as a
   * SupabaseHttpError carrying the parsed body (storage-js keeps it as `originalError`).
   */
  private readonly fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const timeout = AbortSignal.timeout(this.config.request_timeout_ms);
    const controller = new AbortController();
    const onAbort = (signal: AbortSignal) => () => controller.abort(signal.reason);
    const stopTimeout = onAbort(timeout);
    timeout.addEventListener('abort', stopTimeout, { once: true });
    if (init.signal) init.signal.addEventListener('abort', onAbort(init.signal), { once: true });
    let response: Response;
    try {
      response = await fetch(input, { ...init, signal: controller.signal });
    } finally {
      // Headers are in: the body may take as long as it streams (downloads bound their own stalls).
      timeout.removeEventListener('abort', stopTimeout);
    }
    if (!response.ok) throw new SupabaseHttpError(response.status, parseErrorBody(await response.text().catch(() => '')));
    return response;
  };

  private error(error: unknown, what: string, bucket = this.config.bucket): StorageError {
    return fromSupabaseError(error, { bucket, endpoint: this.storageUrl, what });
  }

  /** The content iterable failed or the caller aborted: that failure, as a StorageError. */
  private contentError(error: unknown, key: string): StorageError {
    if (error instanceof StorageError) return error;
    const aborted = (error as Error | undefined)?.name === 'AbortError';
    return new StorageError(`supabase bucket "${this.config.bucket}": storing ${key}: ${aborted ? 'aborted' : `the content failed: ${(error as Error | undefined)?.message ?? String(error)}`}; nothing was kept`, { cause: error });
  }
}

interface ObjectInfo {
  size?: number;
  content_type?: string;
  last_modified?: string;
  updated_at?: string;
  created_at?: string;
  metadata?: Record<string, unknown> | null;
  user_metadata?: Record<string, unknown> | null;
}

function objectSize(info: ObjectInfo): number {
  if (typeof info.size === 'number') return info.size;
  return Number((info.metadata as { size?: unknown } | null | undefined)?.size ?? 0);
}

/** Passes on bytes `start` to `end` (inclusive; to the end when undefined) of what flows through. */
function byteWindow(start: number, end: number | undefined): Transform {
  let at = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const from = Math.max(start - at, 0);
      const to = end === undefined ? chunk.length : Math.min(end + 1 - at, chunk.length);
      at += chunk.length;
      done(null, from < to ? chunk.subarray(from, to) : undefined);
    },
  });
}

function folderEntry(object: FileObject): FolderEntry {
  const meta = (object.metadata ?? {}) as { size?: number; lastModified?: string };
  return {
    name: object.name,
    folder: object.id === null,
    size: Number(meta.size ?? 0),
    lastModified: new Date(meta.lastModified ?? object.updated_at ?? object.created_at ?? Date.now()).toISOString(),
  };
}

/**
 * The list-v2 continuation token that starts after `key`. Supabase Storage's tokens are
 * base64 of `l:<last name>` lines (the format its S3 endpoint's ListObjectsV2 shares), which
 * lets a listing resume after any key rather than only where the server stopped.
 */
export function listCursorAfter(key: string): string {
  return Buffer.from(`l:${key}`, 'utf8').toString('base64');
}

/** One page of the flat listing (`POST /object/list-v2/{bucket}` without a delimiter). */
export interface FlatPage {
  objects: Array<{ name: string; key?: string; metadata?: Record<string, unknown> | null; updated_at?: string; created_at?: string }>;
  hasNext: boolean;
  nextCursor?: string;
}

/**
 * Up to `wanted` keys under `prefix` (a plain string prefix) after `after`, in byte order, from the
 * flat listing: full names, case-sensitive, paged by the server's continuation token.
 */
export async function flatListing(listPage: (cursor: string | undefined) => Promise<FlatPage>, prefix: string, after: string, wanted: number): Promise<ListedObject[]> {
  const out: ListedObject[] = [];
  let cursor = after ? listCursorAfter(after) : undefined;
  while (out.length < wanted) {
    const page = await listPage(cursor);
    for (const object of page.objects) {
      const key = object.key ?? object.name;
      // The server matches the prefix with LIKE, where "_" stands for any character.
      if (!key.startsWith(prefix) || compareBytes(key, after) <= 0 || key.split('/').at(-1) === FOLDER_PLACEHOLDER) continue;
      const entry = folderEntry(object as unknown as FileObject);
      out.push({ key, size: entry.size, lastModified: entry.lastModified });
    }
    if (!page.hasNext || !page.nextCursor) break;
    cursor = page.nextCursor;
  }
  return out.slice(0, wanted);
}

/** `a/b c.png` -> `a/b%20c.png`: each segment encoded, the slashes kept. */
export function encodePath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}


/** Abort the download when no bytes arrive for `idleMs`. */
function idleLimited(stream: Readable, controller: AbortController, idleMs: number): Readable {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new SupabaseHttpError(504, { message: `the download stalled for ${idleMs} ms` })), idleMs);
    timer.unref();
  };
  stream.on('data', arm);
  stream.once('close', () => clearTimeout(timer));
  arm();
  return stream;
}


/** The `exp` of a JWT, in ms, or undefined when it has none (the signature is the server's to check). */
export function tokenExpiry(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function signSeconds(expiresIn: number): number {
  if (!Number.isInteger(expiresIn) || expiresIn < 1) throw new ValidationError('expiresIn must be a whole number of seconds, at least 1');
  return expiresIn;
}

function stringValues(metadata: Record<string, unknown> | null | undefined): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata ?? {})) {
    if (value !== null && value !== undefined) values[name] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return values;
}

export function createSupabaseProvider(config: Record<string, unknown>, ctx: ProviderContext): SupabaseProvider {
  return new SupabaseProvider(config as SupabaseProviderConfig, ctx);
}
