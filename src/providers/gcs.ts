import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { Storage } from '@google-cloud/storage';
import type { Bucket, File, FileMetadata, StorageOptions } from '@google-cloud/storage';
import { z } from 'zod/v3';
import { ConfigError, ProviderUnavailableError, StorageError, ValidationError } from '../errors.ts';
import { assertSafeKey, assertSafePrefix } from '../keys.ts';
import { parseProviderConfig } from '../config/provider-config.ts';
import { sizeSetting } from '../config/sizes.ts';
import { decodeCursor, encodeCursor, listLimit } from './list-cursor.ts';
import { fromGcsError, isGcsNotFound } from './gcs-errors.ts';
import type { ByteRange, ListResult, ObjectMetadata, PresignedUpload, ProviderCapabilities, ProviderContext, StorageProvider, UploadOptions, UploadResult } from './provider.ts';
import { checksumFromMd5Hash } from './backend-checksum.ts';
import { readHead, rest } from './content-reader.ts';
import type { ContentState } from './content-reader.ts';
import { fitMetadata } from './metadata-fit.ts';
import { attachmentDisposition } from '../content/content-disposition.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
/** V4 signatures live at most 7 days. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
/** GCS custom metadata: all keys and values together. */
const MAX_METADATA_BYTES = 8 * KiB;
const PUBLIC_ENDPOINT = 'https://storage.googleapis.com';

const serviceAccount = z.object({
  client_email: z.string().min(1),
  private_key: z.string().includes('PRIVATE KEY', { message: 'must be a PEM private key' }),
}).passthrough();

export const gcsProviderConfigSchema = z.object({
  bucket: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/, 'must be a valid GCS bucket name (lowercase letters, digits, "-", "_" and ".")'),
  project_id: z.string().min(1).optional(),
  /** A service-account key file; with neither this nor `credentials`, the default application credentials are used. */
  credentials_file: z.string().min(1).optional(),
  /** An inline service-account key: the JSON object, or its text. */
  credentials: z.union([serviceAccount, z.string().min(2)]).optional(),
  /** Public artifacts are served from here (a CDN or load balancer in front of the bucket); the object key follows it. */
  public_url_base: z.string().url().optional(),
  /** The bucket grants allUsers read (IAM): its object URLs are public URLs. */
  public_bucket: z.boolean().default(false),
  /** Fine-grained buckets only: public artifacts get the `publicRead` ACL. Off for uniform bucket-level access (the default for new buckets). */
  acl: z.boolean().default(false),
  /** An emulator or a private endpoint; Google's when absent. */
  api_endpoint: z.string().url().optional(),
  /** Cache-Control on every object; default: long-lived for public artifacts (their keys never repeat), none for private ones. */
  cache_control: z.string().min(1).optional(),
  /** Content up to this size is one request with its complete metadata; larger content is a resumable upload. */
  simple_upload_threshold: sizeSetting(256 * KiB, 64 * MiB).default(8 * MiB),
  /** Resumable upload chunk (a multiple of 256 KiB): the memory one upload holds, and what a retry resends. */
  chunk_size: sizeSetting(256 * KiB, 512 * MiB, 256 * KiB).default(8 * MiB),
  /** Time for one request (each resumable chunk is one), and the longest a socket may stay idle. */
  request_timeout_ms: z.number().int().min(100).max(3_600_000).default(30_000),
  /** Attempts per idempotent request, the first one included (the client's own retry). */
  max_attempts: z.number().int().min(1).max(10).default(3),
}).strict().superRefine((config, ctx) => {
  if (config.credentials !== undefined && config.credentials_file !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['credentials'], message: 'give credentials or credentials_file, not both' });
  }
  if (typeof config.credentials === 'string') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(config.credentials);
    } catch {
      ctx.addIssue({ code: 'custom', path: ['credentials'], message: 'must be a service-account key: a JSON object, or its text' });
      return;
    }
    if (!serviceAccount.safeParse(parsed).success) ctx.addIssue({ code: 'custom', path: ['credentials'], message: 'must be a service-account key with client_email and private_key' });
  }
});

export type GcsProviderConfig = z.input<typeof gcsProviderConfigSchema>;
type Config = z.output<typeof gcsProviderConfigSchema>;

/**
 * Google Cloud Storage on @google-cloud/storage. Content up to `simple_upload_threshold` is one
 * request with its complete metadata; larger content streams as a resumable upload in
 * `chunk_size` chunks and gets its `sha256`/`size` metadata by a metadata patch once complete.
 * Object metadata carries the artifact's metadata as GCS custom metadata.
 */
export class GcsProvider implements StorageProvider {
  readonly capabilities: ProviderCapabilities;
  readonly storage: Storage;
  readonly bucket: Bucket;
  private readonly config: Config;
  private readonly name: string;
  private readonly endpoint: string;

  constructor(config: GcsProviderConfig, ctx?: Partial<ProviderContext>) {
    this.name = ctx?.name ?? 'gcs';
    this.config = parseProviderConfig(gcsProviderConfigSchema, config, this.name);
    const c = this.config;
    this.endpoint = (c.api_endpoint ?? PUBLIC_ENDPOINT).replace(/\/+$/, '');
    this.capabilities = {
      presignDownload: true,
      presignUpload: 'PUT',
      publicUrl: c.public_url_base !== undefined || c.public_bucket || c.acl,
      copy: true,
      selfSignedUrls: false,
      // GCS keeps the MD5 of every object written in one piece (all of ours; not composed ones).
      uploadChecksum: { algorithm: 'md5' },
    };
    const options: StorageOptions = {
      ...(c.project_id ? { projectId: c.project_id } : {}),
      ...(c.api_endpoint ? { apiEndpoint: this.endpoint } : {}),
      ...this.credentials(),
      timeout: c.request_timeout_ms,
      retryOptions: { autoRetry: c.max_attempts > 1, maxRetries: c.max_attempts - 1, totalTimeout: Math.ceil((c.request_timeout_ms * c.max_attempts) / 1000) + 10, maxRetryDelay: 8 },
    };
    this.storage = new Storage(options);
    this.bucket = this.storage.bucket(c.bucket);
  }

  async upload(key: string, content: AsyncIterable<Uint8Array>, opts: UploadOptions): Promise<UploadResult> {
    const file = this.file(key);
    const iterator = content[Symbol.asyncIterator]();
    let read: Awaited<ReturnType<typeof readHead>>;
    try {
      read = await readHead(iterator, this.config.simple_upload_threshold, opts.signal);
    } catch (error) {
      throw this.contentError(error, key);
    }
    const { head, size: buffered, ended } = read;
    if (ended) {
      // Everything is here: one request, with the metadata completed by the end of the content.
      await this.send(`storing ${key}`, () => file.save(Buffer.concat(head, buffered), { resumable: false, ...this.writeOptions(opts), ...(opts.signal ? { signal: opts.signal } : {}) }));
    } else {
      await this.uploadResumable(key, file, head, iterator, opts);
    }
    // The client keeps the object resource the last request answered: md5Hash is GCS's own MD5 of what it stored.
    const backendChecksum = checksumFromMd5Hash(file.metadata.md5Hash);
    return { ...this.visibleUrl(key, opts.metadata), ...(backendChecksum ? { backendChecksum } : {}) };
  }

  async openDownload(key: string, range?: ByteRange): Promise<Readable> {
    const bounds = checkRange(range);
    const stream = this.file(key).createReadStream({ ...bounds, validation: bounds ? false : 'crc32c' });
    try {
      await responded(stream);
    } catch (error) {
      stream.destroy();
      throw this.error(error, `reading ${key}`);
    }
    return stream;
  }

  async getPresignedDownloadUrl(key: string, opts: { expiresIn: number; filename?: string }): Promise<string> {
    const expiresIn = presignSeconds(opts.expiresIn);
    const [url] = await this.send(`signing a download of ${key}`, () => this.file(key).getSignedUrl({
      version: 'v4',
      action: 'read',
      expires: Date.now() + expiresIn * 1000,
      ...(opts.filename ? { responseDisposition: attachmentDisposition(opts.filename) } : {}),
    }));
    return url;
  }

  /**
   * A V4-signed PUT. With `maxSize`, the signature covers `x-goog-content-length-range: 0,maxSize`,
   * which the client must send and GCS enforces.
   */
  async getPresignedUploadUrl(key: string, opts: { contentType: string; expiresIn: number; maxSize?: number }): Promise<PresignedUpload> {
    const expiresIn = presignSeconds(opts.expiresIn);
    const expires = Date.now() + expiresIn * 1000;
    const extensionHeaders: Record<string, string> = opts.maxSize === undefined ? {} : { 'x-goog-content-length-range': `0,${opts.maxSize}` };
    const [url] = await this.send(`signing an upload of ${key}`, () => this.file(key).getSignedUrl({ version: 'v4', action: 'write', expires, contentType: opts.contentType, extensionHeaders }));
    return { url, method: 'PUT', headers: { 'Content-Type': opts.contentType, ...extensionHeaders }, expiresAt: new Date(expires).toISOString() };
  }

  async delete(key: string): Promise<boolean> {
    try {
      await this.file(key).delete();
      return true;
    } catch (error) {
      if (isGcsNotFound(error)) return false;
      throw this.error(error, `deleting ${key}`);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.file(key).getMetadata();
      return true;
    } catch (error) {
      if (isGcsNotFound(error)) return false;
      throw this.error(error, `checking ${key}`);
    }
  }

  async getMetadata(key: string): Promise<ObjectMetadata> {
    const [meta] = await this.send(`reading the metadata of ${key}`, () => this.file(key).getMetadata());
    return {
      key,
      size: Number(meta.size ?? 0),
      contentType: meta.contentType ?? 'application/octet-stream',
      lastModified: new Date(meta.updated ?? meta.timeCreated ?? Date.now()).toISOString(),
      metadata: stringValues(meta.metadata),
    };
  }

  /** objects.list from `startOffset` = the cursor's key (inclusive, so that key itself is skipped). */
  async list(prefix: string, opts: { cursor?: string; limit?: number } = {}): Promise<ListResult> {
    assertSafePrefix(prefix);
    const limit = listLimit(opts.limit);
    const after = decodeCursor(opts.cursor);
    const [files, nextQuery] = await this.send(`listing ${prefix || '(everything)'}`, () => this.bucket.getFiles({
      prefix,
      autoPaginate: false,
      maxResults: limit + 1,
      ...(after ? { startOffset: after } : {}),
    }));
    const found = files.filter((f) => f.name > after);
    const items = found.slice(0, limit).map((f) => ({ key: f.name, size: Number(f.metadata.size ?? 0), lastModified: new Date(f.metadata.updated ?? f.metadata.timeCreated ?? Date.now()).toISOString() }));
    const more = found.length > limit || (nextQuery !== null && nextQuery !== undefined && items.length > 0);
    return { items, ...(more ? { nextCursor: encodeCursor(items.at(-1)!.key) } : {}) };
  }

  /** The public URL of an artifact: `public_url_base`, or the object URL when the bucket or its ACLs allow it. */
  getPublicUrl(key: string): string | undefined {
    if (!this.capabilities.publicUrl) return undefined;
    const path = assertSafeKey(key).split('/').map(encodeURIComponent).join('/');
    if (this.config.public_url_base) return `${this.config.public_url_base.replace(/\/+$/, '')}/${path}`;
    return `${this.endpoint}/${this.config.bucket}/${path}`;
  }

  /** Server-side copy (a rewrite): content type, Cache-Control and metadata are kept. */
  /**
   * Make an object public or private for anonymous readers. With `acl` (fine-grained buckets), the
   * object's ACL (makePublic / makePrivate) and its visibility metadata and Cache-Control change.
   * A bucket anyone may read (`public_bucket`, IAM) or one served through `public_url_base`,
   * without ACLs, cannot hide one object: making it private is refused. Otherwise (a private
   * bucket with uniform access) nothing of it is readable anonymously, whatever the catalog says.
   */
  async setVisibility(key: string, visibility: 'private' | 'public'): Promise<{ url?: string }> {
    if (!this.config.acl) {
      if (visibility === 'private' && (this.config.public_bucket || this.config.public_url_base)) {
        throw new StorageError(`gcs bucket "${this.config.bucket}": cannot make ${key} private: the bucket is readable by anyone (${this.config.public_bucket ? 'public_bucket' : 'public_url_base'}) and has no object ACLs; set acl: true on a fine-grained bucket, or keep private artifacts on a private bucket`, { code: 'NOT_SUPPORTED', details: { provider: this.name } });
      }
      return this.visibleUrl(key, { visibility });
    }
    const file = this.file(key);
    await this.send(`making ${key} ${visibility}`, () => (visibility === 'public' ? file.makePublic() : file.makePrivate({ strict: false })));
    // Cache-Control 'private' rather than none: a cache that kept the public answer must not keep serving it.
    const cacheControl = this.config.cache_control ?? (visibility === 'public' ? 'public, max-age=31536000, immutable' : 'private');
    await this.send(`updating the metadata of ${key}`, () => file.setMetadata({ cacheControl, metadata: { visibility } }));
    return this.visibleUrl(key, { visibility });
  }

  async copy(from: string, to: string): Promise<void> {
    const publicCopy = this.config.acl && (await this.getMetadata(from)).metadata.visibility === 'public';
    await this.send(`copying ${from} to ${to}`, () => this.file(from).copy(this.file(to), publicCopy ? { predefinedAcl: 'publicRead' } : {}));
  }

  /** One objects.list of at most one name: proves the endpoint, the credentials and the bucket. */
  async health(): Promise<void> {
    await this.send('health check (objects.list)', () => this.bucket.getFiles({ maxResults: 1, autoPaginate: false }));
  }

  async close(): Promise<void> {
    // The client holds only keep-alive sockets, which do not keep the process alive.
  }

  private async uploadResumable(key: string, file: File, head: Uint8Array[], iterator: AsyncIterator<Uint8Array>, opts: UploadOptions): Promise<void> {
    const state: ContentState = {};
    const body = Readable.from(rest(head, iterator, opts.signal, state), { objectMode: false, highWaterMark: 64 * KiB });
    // The metadata goes with the session's start, before the content has been read: without sha256
    // and size. They are patched in below, once the object is complete.
    const writer = file.createWriteStream({ resumable: true, chunkSize: this.config.chunk_size, timeout: this.config.request_timeout_ms, validation: 'crc32c', ...this.writeOptions(opts) });
    // A final answer to a PUT of the session before the content has ended, or for another byte
    // count, means the server closed the session early (firebase-tools' stock emulator finalises on
    // the first PUT). Unwatched, the upload either never settled (a writer that no longer reads) or
    // "succeeded" with a truncated object.
    const early: { error?: ProviderUnavailableError } = {};
    let cutShort: (error: ProviderUnavailableError) => void = () => undefined;
    const endedEarly = new Promise<never>((_, reject) => { cutShort = reject; });
    endedEarly.catch(() => undefined); // observed by the race below; unhandled only when the upload won
    const onResponse = (response: { status?: number; data?: unknown; config?: { method?: string } }) => {
      const status = response?.status ?? 0;
      if (early.error || status < 200 || status >= 300 || response.config?.method?.toUpperCase() !== 'PUT') return;
      const stored = Number((response.data as { size?: unknown } | undefined)?.size);
      if (state.ended && stored === state.bytes) return;
      early.error = new ProviderUnavailableError(`gcs bucket "${this.config.bucket}" at ${this.endpoint}: storing ${key}: the server ended the upload after ${Number.isFinite(stored) ? stored : 'an unknown number of'} of ${state.ended ? '' : 'at least '}${state.bytes ?? 0} bytes; nothing was kept. Is it a GCS server (the stock firebase-tools emulator finalises resumable uploads on their first request)?`, { details: { provider: this.name, stored, sent: state.bytes ?? 0 } });
      cutShort(early.error);
    };
    writer.on('response', onResponse);
    try {
      await Promise.race([pipeline(body, writer, opts.signal ? { signal: opts.signal } : {}), endedEarly]);
      if (early.error) throw early.error;
    } catch (error) {
      if (early.error) {
        // The server made an object of part of the content: stop sending, and remove it.
        body.destroy();
        writer.destroy();
        // Best effort: the early end is the error to report; a part left behind is reported by `findOrphans`.
        await file.delete().catch(() => undefined);
        throw early.error;
      }
      // An unfinished session leaves no object (GCS drops it after a week, at no cost).
      if (state.failure !== undefined) throw this.contentError(state.failure, key);
      if (opts.signal?.aborted) throw this.contentError(opts.signal.reason, key);
      throw this.error(error, `storing ${key}`);
    }
    // Setting the same metadata again is harmless, but the client does not retry a PATCH without a
    // precondition: a dropped keep-alive socket would otherwise cost the whole upload.
    for (let attempt = 1; ; attempt++) {
      try {
        await file.setMetadata({ metadata: fitGcsMetadata(opts.metadata) });
        return;
      } catch (error) {
        const failure = this.error(error, `storing ${key} (setting its metadata)`);
        if (failure instanceof ProviderUnavailableError && attempt < this.config.max_attempts) {
          await delay(250 * attempt);
          continue;
        }
        // Best effort: the metadata failure is the error to report; an object left behind is reported by `findOrphans`.
        await file.delete().catch(() => undefined);
        throw failure;
      }
    }
  }

  /** What every write of an object carries. */
  private writeOptions(opts: UploadOptions): { contentType: string; metadata: FileMetadata; predefinedAcl?: 'publicRead' } {
    const publicArtifact = opts.metadata.visibility === 'public';
    const cacheControl = this.config.cache_control ?? (publicArtifact ? 'public, max-age=31536000, immutable' : undefined);
    return {
      contentType: opts.contentType,
      metadata: { contentType: opts.contentType, ...(cacheControl ? { cacheControl } : {}), metadata: fitGcsMetadata(opts.metadata) },
      ...(this.config.acl && publicArtifact ? { predefinedAcl: 'publicRead' as const } : {}),
    };
  }

  private credentials(): Pick<StorageOptions, 'credentials' | 'keyFilename' | 'projectId'> {
    const c = this.config;
    if (c.credentials_file) {
      let key: { project_id?: string };
      try {
        key = JSON.parse(readFileSync(c.credentials_file, 'utf8')) as { project_id?: string };
      } catch (error) {
        throw new ConfigError(`storage.providers.${this.name}.config.credentials_file: cannot read "${c.credentials_file}" as a service-account key (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
      }
      return { keyFilename: c.credentials_file, ...(!c.project_id && key.project_id ? { projectId: key.project_id } : {}) };
    }
    if (c.credentials) {
      const key = (typeof c.credentials === 'string' ? JSON.parse(c.credentials) : c.credentials) as { client_email: string; private_key: string; project_id?: string };
      return { credentials: key, ...(!c.project_id && key.project_id ? { projectId: key.project_id } : {}) };
    }
    return {};
  }

  private visibleUrl(key: string, metadata: Record<string, string>): { url?: string } {
    const url = metadata.visibility === 'public' ? this.getPublicUrl(key) : undefined;
    return url ? { url } : {};
  }

  private file(key: string): File {
    return this.bucket.file(assertSafeKey(key));
  }

  private async send<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw this.error(error, what);
    }
  }

  private error(error: unknown, what: string): StorageError {
    return fromGcsError(error, { bucket: this.config.bucket, endpoint: this.endpoint, what });
  }

  /** The content iterable failed or the caller aborted: that failure, as a StorageError. */
  private contentError(error: unknown, key: string): StorageError {
    if (error instanceof StorageError) return error;
    const aborted = (error as Error | undefined)?.name === 'AbortError';
    return new StorageError(`gcs bucket "${this.config.bucket}": storing ${key}: ${aborted ? 'aborted' : `the content failed: ${(error as Error | undefined)?.message ?? String(error)}`}; nothing was kept`, { cause: error });
  }
}


/** Resolves once the download answered with a success status; rejects with the client's error otherwise. */
function responded(stream: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      stream.off('error', onError);
      stream.off('response', onResponse);
    };
    const onError = (error: unknown) => { done(); reject(error); };
    // An error status is followed by the client's error event, which carries the details.
    const onResponse = (response: { statusCode?: number }) => {
      if ((response.statusCode ?? 200) < 300) {
        done();
        resolve();
      }
    };
    stream.on('error', onError);
    stream.on('response', onResponse);
    stream.read(0); // the request starts on the first read
  });
}

function checkRange(range: ByteRange | undefined): { start: number; end?: number } | undefined {
  if (!range || (range.start === undefined && range.end === undefined)) return undefined;
  const start = range.start ?? 0;
  if (!Number.isSafeInteger(start) || start < 0 || (range.end !== undefined && (!Number.isSafeInteger(range.end) || range.end < start))) {
    throw new ValidationError(`range ${start}-${range.end ?? ''} is not a valid byte range`, { code: 'RANGE_NOT_SATISFIABLE' });
  }
  return { start, ...(range.end === undefined ? {} : { end: range.end }) };
}

function presignSeconds(expiresIn: number): number {
  if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_PRESIGN_SECONDS) {
    throw new ValidationError(`expiresIn must be a whole number of seconds from 1 to ${MAX_PRESIGN_SECONDS} (7 days, the most V4 signatures allow)`);
  }
  return expiresIn;
}

/** GCS allows 8 KiB of custom metadata: when larger, the largest entries are dropped (sha256 and size last), never failing the store. */
export function fitGcsMetadata(metadata: Record<string, string>): Record<string, string> {
  return fitMetadata(metadata, MAX_METADATA_BYTES);
}

function stringValues(metadata: Record<string, unknown> | undefined): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata ?? {})) if (value !== null && value !== undefined) values[name] = String(value);
  return values;
}

export function createGcsProvider(config: Record<string, unknown>, ctx: ProviderContext): GcsProvider {
  return new GcsProvider(config as GcsProviderConfig, ctx);
}
