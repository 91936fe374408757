import type { Readable } from 'node:stream';
import { ConfigError, NotFoundError, StorageError, ValidationError } from '../errors.ts';
import { assertSafeKey, buildArtifactKey } from '../keys.ts';
import { isContentTypeAllowed, isWellFormedContentType, normalizeContentType } from '../content/content-types.ts';
import { inMemoryBytes, sha256OffThread, toByteStream } from '../content/source.ts';
import type { ArtifactContent } from '../content/source.ts';
import { validateContent } from '../content/validate-stream.ts';
import type { ContentDigest } from '../content/validate-stream.ts';
import type { StorageConfig } from '../config/load.ts';
import type { ByteRange, StorageProvider } from '../providers/provider.ts';
import { ProviderIndex } from './artifact-index.ts';
import type { ArtifactIndex, ArtifactPage, ListArtifactsQuery } from './artifact-index.ts';
import { META, referenceMetadata } from './artifact-reference.ts';
import type { ArtifactReference, Visibility } from './artifact-reference.ts';
import { selectProvider } from './routing.ts';

export interface StoreArtifactInput {
  artifactId: string;
  artifactType: string;
  contentType: string;
  content: ArtifactContent;
  /** Defaults to `default`. */
  tenantId?: string;
  boardId?: string;
  /** Defaults to `original` plus the content type's extension. */
  variant?: string;
  /** Defaults to `private`. */
  visibility?: Visibility;
  metadata?: Record<string, unknown>;
  /** The exact byte count, when known: used for routing, refused early when over the limit, and checked. */
  size?: number;
  /** Aborting stops the store; nothing is left behind. */
  signal?: AbortSignal;
}

export interface UploadUrlRequest {
  artifactId: string;
  artifactType: string;
  contentType: string;
  size?: number;
  tenantId?: string;
  boardId?: string;
  variant?: string;
  /** Seconds; default 3600. */
  expiresIn?: number;
}

export interface UploadUrl {
  url: string;
  method: 'PUT' | 'POST';
  headers?: Record<string, string>;
  fields?: Record<string, string>;
  expiresAt: string;
  storageKey: string;
  storageProvider: string;
}

export interface DownloadUrlOptions {
  /** Seconds; default 3600, at most 7 days. */
  expiresIn?: number;
  /** Asks the browser to save the download under this name. */
  filename?: string;
}

const DEFAULT_TENANT = 'default';
const DEFAULT_URL_SECONDS = 3600;
const MAX_URL_SECONDS = 7 * 24 * 3600;
/** User metadata travels with the object; keep it to what every backend's headers can carry. */
const MAX_USER_METADATA_BYTES = 16 * 1024;

/**
 * The one entry point: validates, routes, hashes and stores artifacts on the configured providers,
 * and finds them again. Every method throws StorageError subclasses only.
 */
export class StorageManager {
  readonly config: StorageConfig;
  private readonly providers = new Map<string, StorageProvider>();
  private readonly index: ArtifactIndex;
  private closed = false;

  constructor(config: StorageConfig, providers: Map<string, StorageProvider>) {
    this.config = config;
    for (const [name, provider] of providers) this.providers.set(name, provider);
    this.index = new ProviderIndex(() => this.providers, () => this.config.defaultProvider, ({ provider, key, visibility }) => this.storageUrl(provider, key, visibility));
  }

  /**
   * Validate and store one artifact. The content streams through the size limit, the signature
   * check and SHA-256 to the provider chosen by the routing rules; on any failure nothing is left.
   */
  async storeArtifact(input: StoreArtifactInput): Promise<ArtifactReference> {
    this.assertOpen();
    const tenantId = input.tenantId ?? DEFAULT_TENANT;
    const contentType = this.checkContentType(input.contentType);
    const visibility = checkVisibility(input.visibility);
    const metadata = checkUserMetadata(input.metadata);
    const size = this.checkDeclaredSize(input.size);
    const createdAt = new Date();
    const storageKey = buildArtifactKey({ tenantId, artifactType: input.artifactType, ...(input.boardId === undefined ? {} : { boardId: input.boardId }), artifactId: input.artifactId, ...(input.variant === undefined ? {} : { variant: input.variant }), contentType, now: createdAt });
    const providerName = selectProvider(this.config.routingRules, this.config.defaultProvider, { artifactType: input.artifactType, contentType, tenantId, ...(size === undefined ? {} : { size }) });
    const provider = this.provider(providerName);

    const base = { artifactId: input.artifactId, artifactType: input.artifactType, tenantId, ...(input.boardId === undefined ? {} : { boardId: input.boardId }), variant: storageKey.slice(storageKey.lastIndexOf('/') + 1), visibility, createdAt: createdAt.toISOString(), metadata };
    const objectMetadata = referenceMetadata(base);
    let digest: ContentDigest | undefined;
    let contentFailure: unknown;
    const bytes = inMemoryBytes(input.content);
    const precomputed = bytes && bytes.length <= this.config.maxFileSize ? sha256OffThread(bytes) : undefined;
    precomputed?.catch(() => undefined);
    const checked = validateContent(bytes ? toByteStream(bytes) : toByteStream(input.content), { contentType, maxSize: this.config.maxFileSize, ...(size === undefined ? {} : { declaredSize: size }), ...(precomputed ? { sha256: precomputed } : {}) }, (d) => {
      digest = d;
      objectMetadata[META.sha256] = d.sha256;
      objectMetadata[META.size] = String(d.size);
    });
    async function* tracked(): AsyncGenerator<Uint8Array> {
      try {
        yield* checked;
      } catch (error) {
        contentFailure = error;
        throw error;
      }
    }

    let uploaded: { url?: string };
    try {
      uploaded = await provider.upload(storageKey, tracked(), { contentType, ...(size === undefined ? {} : { size }), metadata: objectMetadata, ...(input.signal ? { signal: input.signal } : {}) });
    } catch (error) {
      // The content's own failure is the one the caller needs, whatever the provider wrapped it in.
      throw asStorageError(contentFailure ?? error, `storing ${storageKey} on ${providerName}`);
    }
    if (!digest) {
      await provider.delete(storageKey).catch(() => undefined);
      throw new StorageError(`provider "${providerName}" returned before reading the whole content; nothing was kept`);
    }
    return {
      ...base,
      storageKey,
      storageProvider: providerName,
      // A private artifact never gets a URL that works without a signature.
      storageUrl: visibility === 'public' ? (provider.getPublicUrl?.(storageKey) ?? uploaded.url ?? this.storageUrl(providerName, storageKey, visibility)) : this.storageUrl(providerName, storageKey, visibility),
      contentType,
      size: digest.size,
      sha256: digest.sha256,
    };
  }

  /** The reference of a stored artifact. */
  async getArtifact(storageKey: string): Promise<ArtifactReference> {
    this.assertOpen();
    const ref = await this.index.get(assertSafeKey(storageKey, 'storageKey'));
    if (!ref) throw new NotFoundError(`artifact ${storageKey} not found`);
    return ref;
  }

  async exists(storageKey: string): Promise<boolean> {
    this.assertOpen();
    return (await this.index.get(assertSafeKey(storageKey, 'storageKey'))) !== undefined;
  }

  /** The whole artifact in memory; use openDownload for anything large. */
  async download(storageKey: string): Promise<Uint8Array> {
    const stream = await this.openDownload(storageKey);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** A stream of the artifact's bytes, or of `start`..`end` (inclusive). */
  async openDownload(storageKey: string, range?: ByteRange, providerName?: string): Promise<Readable> {
    this.assertOpen();
    const { provider, name } = await this.locate(storageKey, providerName);
    return wrap(() => provider.openDownload(storageKey, range), `reading ${storageKey} from ${name}`);
  }

  /** A time-limited URL that downloads the artifact without other credentials. */
  async getDownloadUrl(storageKey: string, providerName?: string, opts: DownloadUrlOptions = {}): Promise<string> {
    this.assertOpen();
    const { provider, name } = await this.locate(storageKey, providerName);
    const expiresIn = checkExpiry(opts.expiresIn);
    return wrap(() => provider.getPresignedDownloadUrl(storageKey, { expiresIn, ...(opts.filename ? { filename: checkFilename(opts.filename) } : {}) }), `signing ${storageKey} on ${name}`);
  }

  /** Signed URLs for many keys at once, in the order given. */
  async getDownloadUrls(storageKeys: string[], providerName?: string, opts: DownloadUrlOptions = {}): Promise<string[]> {
    return Promise.all(storageKeys.map((key) => this.getDownloadUrl(key, providerName, opts)));
  }

  /** A presigned direct upload; the size limit is signed into it. */
  async getUploadUrl(request: UploadUrlRequest): Promise<UploadUrl> {
    this.assertOpen();
    const tenantId = request.tenantId ?? DEFAULT_TENANT;
    const contentType = this.checkContentType(request.contentType);
    const size = this.checkDeclaredSize(request.size);
    const storageKey = buildArtifactKey({ tenantId, artifactType: request.artifactType, ...(request.boardId === undefined ? {} : { boardId: request.boardId }), artifactId: request.artifactId, ...(request.variant === undefined ? {} : { variant: request.variant }), contentType });
    const name = selectProvider(this.config.routingRules, this.config.defaultProvider, { artifactType: request.artifactType, contentType, tenantId, ...(size === undefined ? {} : { size }) });
    const provider = this.provider(name);
    const presigned = await wrap(() => provider.getPresignedUploadUrl(storageKey, { contentType, expiresIn: checkExpiry(request.expiresIn), maxSize: size ?? this.config.maxFileSize }), `presigning an upload on ${name}`);
    return { ...presigned, storageKey, storageProvider: name };
  }

  /** Delete an artifact; true when something was deleted, false when it did not exist. */
  async deleteArtifact(storageKey: string, providerName?: string): Promise<boolean> {
    this.assertOpen();
    assertSafeKey(storageKey, 'storageKey');
    let located;
    try {
      located = await this.locate(storageKey, providerName);
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
    return wrap(() => located.provider.delete(storageKey), `deleting ${storageKey} from ${located.name}`);
  }

  /** A tenant's artifacts in key order, a page at a time. */
  async listArtifacts(query: ListArtifactsQuery = {}): Promise<ArtifactPage> {
    this.assertOpen();
    return this.index.list(query);
  }

  /** Add (or replace) a provider at run time; routing rules and `default_provider` may name it. */
  registerProvider(name: string, provider: StorageProvider): void {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw new ConfigError(`provider name "${name}" must be letters, digits, "_" and "-"`);
    for (const method of ['upload', 'openDownload', 'delete', 'exists', 'getMetadata', 'list'] as const) {
      if (typeof (provider as unknown as Record<string, unknown>)[method] !== 'function') {
        throw new ConfigError(`provider "${name}" does not implement ${method}()`);
      }
    }
    this.providers.set(name, provider);
  }

  /** The provider registered under `name`. */
  provider(name: string): StorageProvider {
    const provider = this.providers.get(name);
    if (!provider) throw new ConfigError(`no provider named "${name}" (configured: ${[...this.providers.keys()].join(', ')})`);
    return provider;
  }

  providerNames(): string[] {
    return [...this.providers.keys()];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.providers.values()].map((p) => p.close?.()));
  }

  private async locate(storageKey: string, providerName?: string): Promise<{ provider: StorageProvider; name: string }> {
    assertSafeKey(storageKey, 'storageKey');
    if (providerName !== undefined) return { provider: this.provider(providerName), name: providerName };
    const ref = await this.index.get(storageKey);
    if (!ref) throw new NotFoundError(`artifact ${storageKey} not found`);
    return { provider: this.provider(ref.storageProvider), name: ref.storageProvider };
  }

  private storageUrl(providerName: string, key: string, visibility: string): string {
    const provider = this.providers.get(providerName);
    return (visibility === 'public' ? provider?.getPublicUrl?.(key) : undefined) ?? `${providerName}://${key}`;
  }

  private checkContentType(contentType: string): string {
    if (typeof contentType !== 'string' || !isWellFormedContentType(contentType)) {
      throw new ValidationError(`contentType "${String(contentType)}" is not a valid content type`, { code: 'CONTENT_TYPE_NOT_ALLOWED' });
    }
    const type = normalizeContentType(contentType);
    if (!isContentTypeAllowed(this.config.allowedContentTypes, type)) {
      throw new ValidationError(`content type ${type} is not allowed (allowed: ${this.config.allowedContentTypes.join(', ')}); add it to allowed_content_types to accept it`, { code: 'CONTENT_TYPE_NOT_ALLOWED', details: { contentType: type } });
    }
    return type;
  }

  private checkDeclaredSize(size: number | undefined): number | undefined {
    if (size === undefined) return undefined;
    if (!Number.isSafeInteger(size) || size < 0) throw new ValidationError('size must be a whole number of bytes');
    if (size > this.config.maxFileSize) {
      throw new ValidationError(`the content's ${size} bytes exceed the limit of ${this.config.maxFileSize} bytes (max_file_size)`, { code: 'CONTENT_TOO_LARGE', details: { limit: this.config.maxFileSize } });
    }
    return size;
  }

  private assertOpen(): void {
    if (this.closed) throw new StorageError('the storage manager is closed');
  }
}

function checkVisibility(visibility: unknown): Visibility {
  if (visibility === undefined) return 'private';
  if (visibility === 'private' || visibility === 'public') return visibility;
  throw new ValidationError(`visibility must be "private" or "public", not "${String(visibility)}"`);
}

function checkUserMetadata(metadata: unknown): Record<string, unknown> {
  if (metadata === undefined) return {};
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) throw new ValidationError('metadata must be a plain object');
  let encoded: string;
  try {
    encoded = JSON.stringify(metadata);
  } catch (error) {
    throw new ValidationError('metadata must be JSON-serialisable', { cause: error });
  }
  if (Buffer.byteLength(encoded) > MAX_USER_METADATA_BYTES) throw new ValidationError(`metadata is larger than ${MAX_USER_METADATA_BYTES} bytes as JSON`);
  return JSON.parse(encoded) as Record<string, unknown>;
}

function checkExpiry(expiresIn: number | undefined): number {
  const seconds = expiresIn ?? DEFAULT_URL_SECONDS;
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_URL_SECONDS) {
    throw new ValidationError(`expiresIn must be between 1 and ${MAX_URL_SECONDS} seconds`);
  }
  return seconds;
}

function checkFilename(filename: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (filename.length > 255 || /[\u0000-\u001f\u007f"\\/]/.test(filename)) {
    throw new ValidationError('filename may not contain control characters, quotes, slashes or backslashes, and is at most 255 characters');
  }
  return filename;
}

function asStorageError(error: unknown, what: string): StorageError {
  if (error instanceof StorageError) return error;
  if ((error as Error)?.name === 'AbortError') return new StorageError(`${what}: aborted`, { cause: error });
  return new StorageError(`${what}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

async function wrap<T>(operation: () => Promise<T>, what: string): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw asStorageError(error, what);
  }
}
