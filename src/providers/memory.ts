import { Readable } from 'node:stream';
import { z } from 'zod/v3';
import { NotFoundError, StorageError } from '../errors.ts';
import { assertSafeKey, assertSafePrefix } from '../keys.ts';
import { parseProviderConfig } from '../config/provider-config.ts';
import { decodeCursor, encodeCursor, listLimit } from './list-cursor.ts';
import { resolveRange } from './byte-range.ts';
import { publicArtifactUrl, signedDownloadUrl, signedUpload } from './signed-url.ts';
import type { ByteRange, ListResult, ObjectMetadata, PresignedUpload, ProviderCapabilities, ProviderContext, StorageProvider, UploadOptions } from './provider.ts';

export const memoryProviderConfigSchema = z.object({
  public_url_base: z.string().url().optional(),
  serve_url_base: z.string().url().default('http://127.0.0.1:8080'),
  signing_secret: z.string().min(16).optional(),
}).strict();

interface StoredObject {
  bytes: Buffer;
  contentType: string;
  lastModified: string;
  metadata: Record<string, string>;
}

/** Objects in a Map: for tests and examples. Everything is lost when the process ends. */
export class MemoryProvider implements StorageProvider {
  readonly capabilities: ProviderCapabilities = { presignDownload: true, presignUpload: 'PUT', publicUrl: true, copy: true, selfSignedUrls: true, uploadChecksum: false };
  private readonly objects = new Map<string, StoredObject>();
  private readonly config: z.output<typeof memoryProviderConfigSchema>;
  private readonly secret: string | undefined;

  constructor(config: z.input<typeof memoryProviderConfigSchema> = {}, ctx?: Partial<ProviderContext>) {
    this.config = parseProviderConfig(memoryProviderConfigSchema, config, ctx?.name ?? 'memory');
    this.secret = this.config.signing_secret ?? ctx?.signingSecret;
  }

  async upload(key: string, content: AsyncIterable<Uint8Array>, opts: UploadOptions): Promise<{ url?: string }> {
    assertSafeKey(key);
    const refuse = () => {
      if (opts.ifNotExists && this.objects.has(key)) throw new StorageError(`memory: ${key} exists already; it is not replaced`, { code: 'CONFLICT' });
    };
    refuse();
    const chunks: Uint8Array[] = [];
    for await (const chunk of content) {
      opts.signal?.throwIfAborted();
      chunks.push(chunk);
    }
    refuse();
    this.objects.set(key, { bytes: Buffer.concat(chunks), contentType: opts.contentType, lastModified: new Date().toISOString(), metadata: { ...opts.metadata } });
    const url = this.getPublicUrl(key);
    return url ? { url } : {};
  }

  async openDownload(key: string, range?: ByteRange): Promise<Readable> {
    const object = this.get(key);
    const { start, end } = resolveRange(range, object.bytes.length);
    return Readable.from([object.bytes.subarray(start, end === undefined ? undefined : end + 1)], { objectMode: false });
  }

  async getPresignedDownloadUrl(key: string, opts: { expiresIn: number; filename?: string }): Promise<string> {
    return signedDownloadUrl(this.config.serve_url_base, key, opts, this.requireSecret());
  }

  async getPresignedUploadUrl(key: string, opts: { contentType: string; expiresIn: number; maxSize?: number }): Promise<PresignedUpload> {
    return signedUpload(this.config.serve_url_base, key, opts, this.requireSecret());
  }

  async delete(key: string): Promise<boolean> {
    return this.objects.delete(assertSafeKey(key));
  }

  async exists(key: string): Promise<boolean> {
    return this.objects.has(assertSafeKey(key));
  }

  async getMetadata(key: string): Promise<ObjectMetadata> {
    const object = this.get(key);
    return { key, size: object.bytes.length, contentType: object.contentType, lastModified: object.lastModified, metadata: { ...object.metadata } };
  }

  async list(prefix: string, opts: { cursor?: string; limit?: number } = {}): Promise<ListResult> {
    assertSafePrefix(prefix);
    const limit = listLimit(opts.limit);
    const after = decodeCursor(opts.cursor);
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
    const page = keys.slice(0, limit);
    const items = page.map((key) => ({ key, size: this.objects.get(key)!.bytes.length, lastModified: this.objects.get(key)!.lastModified }));
    return { items, ...(keys.length > limit ? { nextCursor: encodeCursor(page.at(-1)!) } : {}) };
  }

  getPublicUrl(key: string): string {
    return publicArtifactUrl(this.config, assertSafeKey(key));
  }

  async copy(from: string, to: string): Promise<void> {
    const object = this.get(from);
    this.objects.set(assertSafeKey(to), { ...object, metadata: { ...object.metadata }, lastModified: new Date().toISOString() });
  }

  async health(): Promise<void> {}

  private get(key: string): StoredObject {
    const object = this.objects.get(assertSafeKey(key));
    if (!object) throw new NotFoundError(`memory: ${key} not found`);
    return object;
  }

  private requireSecret(): string {
    if (!this.secret) throw new StorageError('memory: no signing secret; set signing_secret in the provider config', { code: 'NOT_SUPPORTED' });
    return this.secret;
  }
}

export function createMemoryProvider(config: Record<string, unknown>, ctx: ProviderContext): MemoryProvider {
  return new MemoryProvider(config, ctx);
}
