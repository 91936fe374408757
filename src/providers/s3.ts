import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand, CopyObjectCommand, PutObjectAclCommand, DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand,
  ListObjectsV2Command, PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3';
import type { PutObjectCommandInput } from '@aws-sdk/client-s3';
import { z } from 'zod/v3';
import { StorageError, ValidationError } from '../errors.ts';
import { assertSafeKey, assertSafePrefix } from '../keys.ts';
import { parseProviderConfig } from '../config/provider-config.ts';
import { sizeSetting } from '../config/sizes.ts';
import { decodeCursor, encodeCursor, listLimit } from './list-cursor.ts';
import { fromS3Error, isS3NotFound, s3ErrorName } from './s3-errors.ts';
import type { BackendChecksum, ByteRange, ListResult, ProviderCapabilities, ObjectMetadata, PresignedUpload, ProviderContext, StorageProvider, UploadOptions, UploadResult } from './provider.ts';
import { checksumFromEtag, checksumFromPartEtags } from './backend-checksum.ts';
import { httpRangeHeader } from './byte-range.ts';
import { PooledMultipartUpload } from './s3-multipart.ts';
import { fitEntries } from './metadata-fit.ts';
import { attachmentDisposition } from '../content/content-disposition.ts';
import { backoffDelay } from '../layers/backoff.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** Largest object a single PUT, POST or CopyObject can make. */
const SINGLE_REQUEST_LIMIT = 5 * GiB;
/** S3 user metadata: all keys and values together, in UTF-8 bytes. */
const MAX_METADATA_BYTES = 2048;
/** SigV4 presigned URLs live at most 7 days. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
/** A multipart upload that could not be aborted at once (server unreachable) is retried for this long. */
const ABORT_RETRY_WINDOW_MS = 15 * 60 * 1000;

export const s3ProviderConfigSchema = z.object({
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name (3-63 lowercase letters, digits, "." and "-")'),
  region: z.string().min(1).default('us-east-1'),
  /** Static credentials; when both are absent the SDK's default chain is used (env, profile, role). */
  access_key_id: z.string().min(1).optional(),
  secret_access_key: z.string().min(1).optional(),
  session_token: z.string().min(1).optional(),
  /** An S3-compatible server (MinIO, R2, Ceph RGW, Supabase); AWS when absent. */
  endpoint: z.string().url().optional(),
  /** `endpoint/bucket/key` instead of `bucket.endpoint/key` (MinIO, Ceph, most self-hosted servers). */
  force_path_style: z.boolean().default(false),
  /** Every key is stored under `{prefix}/` and listed without it. */
  prefix: z.string().regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'must be "/"-separated segments of letters, digits, ".", "_" and "-", without leading or trailing "/"').optional(),
  /** Public artifacts are served from here (a CDN in front of the bucket); the object key follows it. */
  public_url_base: z.string().url().optional(),
  /** The bucket's own policy lets anyone read it, so the bucket URL is a public URL. */
  public_bucket: z.boolean().default(false),
  /** Object ACLs: public artifacts get `public-read`. Off for buckets without ACLs (R2, new AWS buckets). */
  acl: z.boolean().default(false),
  server_side_encryption: z.enum(['AES256', 'aws:kms']).optional(),
  kms_key_id: z.string().min(1).optional(),
  storage_class: z.string().regex(/^[A-Z_]+$/, 'must be an S3 storage class such as STANDARD or STANDARD_IA').optional(),
  /** Cache-Control on every object; default: long-lived for public artifacts (their keys never repeat), none for private ones. */
  cache_control: z.string().min(1).optional(),
  /** Multipart part size (5 MiB to 5 GiB); content up to this size is one PUT. Parts in memory: at most queue_size, one buffer each. */
  part_size: sizeSetting(5 * MiB, 5 * GiB).default(8 * MiB),
  /**
   * Parts uploaded at once. 3 by default: 4 gained no speed on Ceph RGW and cost 8 MiB more
   * (a 256 MiB store peaked at 131 MB with 3, 139-148 MB with 4).
   */
  queue_size: z.number().int().min(1).max(64).default(3),
  /**
   * Collect V8's young generation after each part of a multipart upload, so the content's chunks
   * copied into it are freed at once instead of when V8 next notices (about 64 MB later): a
   * 256 MiB store peaked at 139-149 MB instead of 177-197 MB, for a few ms per part.
   */
  gc_per_part: z.boolean().default(true),
  /** What getPresignedUploadUrl returns: POST (S3 enforces the size limit) or PUT (it cannot). */
  presigned_upload_method: z.enum(['post', 'put']).default('post'),
  connect_timeout_ms: z.number().int().min(100).max(120_000).default(5000),
  /** Time for one request to get its answer's headers, and the longest a socket may stay idle. */
  request_timeout_ms: z.number().int().min(100).max(3_600_000).default(30_000),
  /** Attempts per request, the first one included (the SDK's own retry). */
  max_attempts: z.number().int().min(1).max(10).default(3),
  /**
   * Put a SHA-256 of every request body into its signature. The default depends on the transport:
   * over https TLS already protects the body, and the manager hashes every artifact once anyway,
   * so the provider sends UNSIGNED-PAYLOAD (as the AWS SDKs for Java and Go do) and saves a second
   * SHA-256 pass (about 1 s per 256 MiB on a core without SHA extensions); over plain http nothing
   * else protects the body, so it is signed.
   */
  sign_payload: z.boolean().optional(),
  /**
   * The ETag a PUT or a multipart upload answers is the MD5 (or MD5 of the part MD5s) of the bytes
   * received, as on AWS S3 (except SSE-KMS), Ceph RGW and MinIO: copies (a migration) are verified
   * against it instead of being read back. Set false for a server where it is not.
   */
  etag_is_md5: z.boolean().default(true),
}).strict().superRefine((config, ctx) => {
  if ((config.access_key_id === undefined) !== (config.secret_access_key === undefined)) {
    ctx.addIssue({ code: 'custom', path: [config.access_key_id === undefined ? 'access_key_id' : 'secret_access_key'], message: 'access_key_id and secret_access_key go together (leave both out for the default credential chain)' });
  }
  if (config.kms_key_id !== undefined && config.server_side_encryption !== 'aws:kms') {
    ctx.addIssue({ code: 'custom', path: ['kms_key_id'], message: 'needs server_side_encryption: aws:kms' });
  }
});

export type S3ProviderConfig = z.input<typeof s3ProviderConfigSchema>;
type Config = z.output<typeof s3ProviderConfigSchema>;

/**
 * AWS S3 and everything that speaks its protocol (MinIO, R2, Ceph RGW, Supabase's S3 endpoint).
 * Small content is one PUT; larger or unknown-length content streams as a multipart upload, never
 * buffered whole. Object metadata carries the artifact's metadata as `x-amz-meta-*`.
 */
export class S3Provider implements StorageProvider {
  readonly capabilities: ProviderCapabilities;
  readonly client: S3Client;
  readonly bucket: string;
  private readonly config: Config;
  private readonly name: string;
  private readonly endpoint: string;
  private readonly pendingAborts = new Set<Promise<void>>();
  /** Bodies whose SHA-256 the caller has checked (UploadOptions.sha256): the payload hash to sign. */
  private readonly knownPayloadHashes = new WeakMap<object, string>();
  private closing = false;
  /** Request bodies are signed (sign_payload): a body's SHA-256 is part of its signature. */
  private readonly signsPayload: boolean;
  /** Whether the server checks signed payload hashes (see serverChecksPayload); set once found. */
  private payloadCheck: Promise<boolean> | undefined;

  constructor(config: S3ProviderConfig, ctx?: Partial<ProviderContext>) {
    this.name = ctx?.name ?? 's3';
    this.config = parseProviderConfig(s3ProviderConfigSchema, config, this.name);
    this.bucket = this.config.bucket;
    this.endpoint = (this.config.endpoint ?? `https://s3.${this.config.region}.amazonaws.com`).replace(/\/+$/, '');
    this.capabilities = {
      presignDownload: true,
      presignUpload: this.config.presigned_upload_method === 'post' ? 'POST' : 'PUT',
      publicUrl: this.config.public_url_base !== undefined || this.config.public_bucket || this.config.acl,
      copy: true,
      selfSignedUrls: false,
      // An SSE-KMS object's ETag is not a digest of its bytes.
      uploadChecksum: this.config.etag_is_md5 && this.config.server_side_encryption !== 'aws:kms' ? { algorithm: 'md5', partSize: this.config.part_size } : false,
    };
    const c = this.config;
    this.client = new S3Client({
      region: c.region,
      ...(c.endpoint ? { endpoint: c.endpoint } : {}),
      forcePathStyle: c.force_path_style,
      ...(c.access_key_id && c.secret_access_key
        ? { credentials: { accessKeyId: c.access_key_id, secretAccessKey: c.secret_access_key, ...(c.session_token ? { sessionToken: c.session_token } : {}) } }
        : {}),
      maxAttempts: c.max_attempts,
      // Checksums only where the API requires them: most S3-compatible servers reject the newer
      // trailing-checksum encoding, and presigned URLs would carry a checksum of no body.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Options for the SDK's NodeHttpHandler: every request has a bounded time.
      requestHandler: {
        connectionTimeout: c.connect_timeout_ms,
        requestTimeout: c.request_timeout_ms,
        throwOnRequestTimeout: true,
        socketTimeout: c.request_timeout_ms,
        httpAgent: { keepAlive: true, maxSockets: 64 },
        httpsAgent: { keepAlive: true, maxSockets: 64 },
      },
    });
    const signed = this.signsPayload = c.sign_payload ?? this.endpoint.startsWith('http:');
    // Before signing (finalizeRequest): the signer takes a payload hash it finds in the headers as
    // given. Unsigned, it is UNSIGNED-PAYLOAD; signed, a body whose SHA-256 the caller already
    // checked is signed with that (the gateway checks the body against it) rather than hashed again.
    this.client.middlewareStack.add((next) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      if (request.headers && ArrayBuffer.isView(request.body) && request.body.byteLength > 0) {
        const known = signed ? this.knownPayloadHashes.get(request.body) : 'UNSIGNED-PAYLOAD';
        if (known) request.headers['x-amz-content-sha256'] = known;
      }
      return next(args);
    }, { step: 'build', name: 'boardsPayloadHash' });
  }

  async upload(key: string, content: AsyncIterable<Uint8Array>, opts: UploadOptions): Promise<UploadResult> {
    const objectKey = this.objectKey(key);
    const source = new GuardedSource(content, opts.signal);
    const head: Uint8Array[] = [];
    let buffered = 0;
    let ended = false;
    try {
      while (buffered <= this.config.part_size) {
        const next = await source.next();
        if (next.done) {
          ended = true;
          break;
        }
        head.push(next.value);
        buffered += next.value.length;
      }
    } catch (error) {
      throw this.contentError(error, key);
    }
    let checksum: BackendChecksum | undefined;
    if (ended) {
      // Everything fits in one part: one PUT, with the metadata completed by the end of the content.
      // A body read in one chunk (a small file) is sent as it is, not copied.
      const body = head.length === 1 ? head[0]! : Buffer.concat(head, buffered);
      const sha256 = this.signsPayload && opts.sha256 !== undefined && /^[0-9a-f]{64}$/.test(opts.sha256) ? opts.sha256 : undefined;
      if (sha256) this.knownPayloadHashes.set(body, sha256);
      // Found beside the first such PUT, then known: whether the server's acceptance proves the hash.
      const checking = sha256 ? this.serverChecksPayload().catch(() => false) : undefined;
      const { ETag: etag } = await this.send(`storing ${key}`, () => this.client.send(new PutObjectCommand({
        ...this.writeParams(objectKey, opts),
        Body: body,
        ContentLength: buffered,
      }), opts.signal ? { abortSignal: opts.signal } : {}));
      checksum = sha256 && (await checking) ? { algorithm: 'sha256', value: sha256 } : checksumFromEtag(etag, this.config.part_size);
    } else {
      checksum = await this.uploadMultipart(key, objectKey, head, source, opts);
    }
    // An SSE-KMS object's ETag (or one a server makes its own way) is no digest of the bytes; a
    // checked payload hash is one whatever the encryption.
    const reported = checksum && (checksum.algorithm === 'sha256' || this.capabilities.uploadChecksum) ? checksum : undefined;
    return { ...this.visibleUrl(key, opts.metadata), ...(reported ? { backendChecksum: reported } : {}) };
  }

  /**
   * Whether this server refuses a PUT whose body does not match its signed payload hash (AWS S3,
   * Ceph RGW and MinIO do), so that accepting one proves the bytes it received have that SHA-256.
   * Found once, by a PUT of a few bytes signed with the hash of others, under a key no artifact can
   * have ("~"); a server that stores it anyway fails the check and the probe object is deleted. An
   * inconclusive probe (the server unreachable) rejects, and is tried again at the next upload.
   */
  private serverChecksPayload(): Promise<boolean> {
    this.payloadCheck ??= (async () => {
      const key = `${this.config.prefix ? `${this.config.prefix}/` : ''}~boards-payload-check-${randomUUID()}`;
      const body = Buffer.from('boards-storage payload check');
      this.knownPayloadHashes.set(body, createHash('sha256').update('not the body').digest('hex'));
      try {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: body.length }));
      } catch (error) {
        if (s3ErrorName(error) === 'XAmzContentSHA256Mismatch') return true;
        throw error;
      }
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })).catch(() => undefined);
      return false;
    })();
    this.payloadCheck.catch(() => { this.payloadCheck = undefined; });
    return this.payloadCheck;
  }

  async openDownload(key: string, range?: ByteRange): Promise<Readable> {
    const header = httpRangeHeader(range);
    const response = await this.send(`reading ${key}`, () => this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), ...(header ? { Range: header } : {}) })));
    const body = response.Body;
    if (body instanceof Readable) return body;
    if (body === undefined) return Readable.from([]);
    // Not on Node's own HTTP handler: a web stream, which Node can iterate.
    return Readable.from(body as AsyncIterable<Uint8Array>, { objectMode: false });
  }

  async getPresignedDownloadUrl(key: string, opts: { expiresIn: number; filename?: string }): Promise<string> {
    const expiresIn = presignSeconds(opts.expiresIn);
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: this.objectKey(key),
      ...(opts.filename ? { ResponseContentDisposition: attachmentDisposition(opts.filename) } : {}),
    });
    const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
    return this.send(`signing a download of ${key}`, () => getSignedUrl(this.client, command, { expiresIn }));
  }

  /**
   * A direct client upload. POST (the default) signs a policy with a content-length-range of
   * [0, maxSize] and the content type fixed, so S3 itself refuses anything larger; PUT cannot
   * limit the size (the manager's completion step checks what landed).
   */
  async getPresignedUploadUrl(key: string, opts: { contentType: string; expiresIn: number; maxSize?: number }): Promise<PresignedUpload> {
    const objectKey = this.objectKey(key);
    const expiresIn = presignSeconds(opts.expiresIn);
    const expiresAt = new Date(Date.now() + expiresIn * 1000).toISOString();
    const maxSize = Math.min(opts.maxSize ?? SINGLE_REQUEST_LIMIT, SINGLE_REQUEST_LIMIT);
    const encryption = this.encryptionHeaders();
    if (this.config.presigned_upload_method === 'put') {
      const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
      const command = new PutObjectCommand({ Bucket: this.bucket, Key: objectKey, ContentType: opts.contentType, ...this.encryptionParams(), ...this.storageClass() });
      // Encryption and storage class stay signed headers the client must send (not query parameters).
      const url = await this.send(`signing an upload of ${key}`, () => getSignedUrl(this.client, command, { expiresIn, signableHeaders: new Set(['content-type']), unhoistableHeaders: new Set(Object.keys(encryption)) }));
      return { url, method: 'PUT', headers: { 'Content-Type': opts.contentType, ...encryption }, expiresAt };
    }
    // Loaded at the first presigned POST: about 3 MB a process that only streams does not need.
    const { createPresignedPost } = await import('@aws-sdk/s3-presigned-post');
    const { url, fields } = await this.send(`signing an upload of ${key}`, () => createPresignedPost(this.client, {
      Bucket: this.bucket,
      Key: objectKey,
      Conditions: [['content-length-range', 0, maxSize]],
      // Each field is also signed into the policy as an exact match.
      Fields: { 'Content-Type': opts.contentType, ...encryption },
      Expires: expiresIn,
    }));
    return { url, method: 'POST', fields, expiresAt };
  }

  async delete(key: string): Promise<boolean> {
    // S3's DeleteObject answers the same whether or not the key existed.
    if (!(await this.exists(key))) return false;
    await this.send(`deleting ${key}`, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) })));
    return true;
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return true;
    } catch (error) {
      if (isS3NotFound(error)) return false;
      throw this.error(error, `checking ${key}`);
    }
  }

  async getMetadata(key: string): Promise<ObjectMetadata> {
    const head = await this.send(`reading the metadata of ${key}`, () => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) })));
    return {
      key,
      size: head.ContentLength ?? 0,
      contentType: head.ContentType ?? 'application/octet-stream',
      lastModified: (head.LastModified ?? new Date()).toISOString(),
      metadata: decodeMetadata(head.Metadata ?? {}),
    };
  }

  async list(prefix: string, opts: { cursor?: string; limit?: number } = {}): Promise<ListResult> {
    assertSafePrefix(prefix);
    const limit = listLimit(opts.limit);
    const after = decodeCursor(opts.cursor);
    const base = this.config.prefix ? `${this.config.prefix}/` : '';
    const page = await this.send(`listing ${prefix || '(everything)'}`, () => this.client.send(new ListObjectsV2Command({
      Bucket: this.bucket,
      Prefix: base + prefix,
      MaxKeys: limit,
      ...(after ? { StartAfter: base + after } : {}),
    })));
    const items = (page.Contents ?? [])
      .filter((object) => object.Key !== undefined && object.Key.startsWith(base))
      .map((object) => ({ key: object.Key!.slice(base.length), size: object.Size ?? 0, lastModified: (object.LastModified ?? new Date()).toISOString() }));
    const last = items.at(-1);
    return { items, ...(page.IsTruncated && last ? { nextCursor: encodeCursor(last.key) } : {}) };
  }

  /** The public URL of an artifact: `public_url_base`, or the bucket URL when its policy or ACLs allow it. */
  getPublicUrl(key: string): string | undefined {
    if (!this.capabilities.publicUrl) return undefined;
    const path = this.objectKey(key).split('/').map(encodeURIComponent).join('/');
    if (this.config.public_url_base) return `${this.config.public_url_base.replace(/\/+$/, '')}/${path}`;
    const endpoint = new URL(this.endpoint);
    if (this.config.force_path_style || (!this.config.endpoint && this.bucket.includes('.'))) return `${this.endpoint}/${this.bucket}/${path}`;
    return `${endpoint.protocol}//${this.bucket}.${endpoint.host}/${path}`;
  }

  /** Server-side copy (up to 5 GiB): content type, Cache-Control and metadata are kept. */
  async copy(from: string, to: string): Promise<void> {
    let acl: { ACL?: 'public-read' } = {};
    if (this.config.acl) {
      // ACLs are not copied: give the copy the same visibility as its source.
      const source = await this.getMetadata(from);
      acl = source.metadata.visibility === 'public' ? { ACL: 'public-read' } : {};
    }
    await this.send(`copying ${from} to ${to}`, () => this.client.send(new CopyObjectCommand({
      Bucket: this.bucket,
      Key: this.objectKey(to),
      CopySource: this.copySource(from),
      MetadataDirective: 'COPY',
      ...acl,
      ...this.encryptionParams(),
      ...this.storageClass(),
    })));
  }

  /**
   * Make an object public or private for anonymous readers. With `acl`, its ACL (public-read or
   * private), its visibility metadata and its Cache-Control change together, in one self-copy
   * (objects over 5 GiB, which CopyObject cannot take, get the ACL alone). A bucket anyone may read
   * (`public_bucket`) or one served through `public_url_base`, without ACLs, cannot hide one
   * object: making it private is refused rather than left readable. Otherwise (a private bucket
   * without ACLs) nothing of it is readable anonymously, whatever the catalog says.
   */
  async setVisibility(key: string, visibility: 'private' | 'public'): Promise<{ url?: string }> {
    const objectKey = this.objectKey(key);
    if (!this.config.acl) {
      if (visibility === 'private' && (this.config.public_bucket || this.config.public_url_base)) {
        throw new StorageError(`s3 bucket "${this.bucket}": cannot make ${key} private: the bucket is readable by anyone (${this.config.public_bucket ? 'public_bucket' : 'public_url_base'}) and has no object ACLs; set acl: true on a bucket with ACLs, or keep private artifacts on a private bucket`, { code: 'NOT_SUPPORTED', details: { provider: this.name } });
      }
      return visibility === 'public' ? this.visibleUrl(key, { visibility }) : {};
    }
    const acl = visibility === 'public' ? 'public-read' as const : 'private' as const;
    const head = await this.send(`reading the metadata of ${key}`, () => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey })));
    if ((head.ContentLength ?? 0) > 5 * 1024 ** 3) {
      await this.send(`making ${key} ${visibility}`, () => this.client.send(new PutObjectAclCommand({ Bucket: this.bucket, Key: objectKey, ACL: acl })));
    } else {
      const metadata = { ...decodeMetadata(head.Metadata ?? {}), visibility };
      const cacheControl = this.config.cache_control ?? (visibility === 'public' ? 'public, max-age=31536000, immutable' : undefined);
      await this.send(`making ${key} ${visibility}`, () => this.client.send(new CopyObjectCommand({
        Bucket: this.bucket, Key: objectKey, CopySource: this.copySource(key), MetadataDirective: 'REPLACE',
        ContentType: head.ContentType ?? 'application/octet-stream', ...(cacheControl ? { CacheControl: cacheControl } : {}), Metadata: encodeMetadata(metadata),
        ACL: acl, ...this.encryptionParams(), ...this.storageClass(),
      })));
    }
    return visibility === 'public' ? this.visibleUrl(key, { visibility }) : {};
  }

  /** HeadBucket: one cheap round trip that proves the endpoint, the credentials and the bucket. */
  async health(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      if (isS3NotFound(error)) {
        throw new StorageError(`s3 bucket "${this.bucket}" at ${this.endpoint}: the bucket does not exist; create it or fix storage.providers.${this.name}.config.bucket`, { cause: error, code: 'CONFIG_INVALID', details: { bucket: this.bucket } });
      }
      throw this.error(error, 'health check (HeadBucket)');
    }
  }

  /** Waits (up to 10 s) for multipart uploads still being aborted, then closes the connections. */
  async close(): Promise<void> {
    if (this.pendingAborts.size > 0) {
      await Promise.race([Promise.allSettled([...this.pendingAborts]), sleep(10_000, undefined, { ref: false })]);
    }
    this.closing = true;
    this.client.destroy();
  }

  /** Returns the checksum the ETags of the upload (or of its parts) give of the bytes received. */
  private async uploadMultipart(key: string, objectKey: string, head: Uint8Array[], source: GuardedSource, opts: UploadOptions): Promise<BackendChecksum | undefined> {
    // The metadata is sent with CreateMultipartUpload, before the content has been read: without
    // sha256 and size. They are set below, once the upload is complete.
    const upload = new PooledMultipartUpload({
      client: this.client,
      params: this.writeParams(objectKey, opts),
      partSize: this.config.part_size,
      queueSize: this.config.queue_size,
      collectEachPart: this.config.gc_per_part,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    let checksum: BackendChecksum | undefined;
    try {
      const { etag, partEtags } = await upload.run(head, source);
      checksum = checksumFromEtag(etag, this.config.part_size) ?? checksumFromPartEtags(partEtags, this.config.part_size);
      opts.signal?.throwIfAborted();
    } catch (error) {
      source.release();
      // No part request is in flight any more: abort, and keep trying while the server is unreachable.
      if (upload.uploadId) await this.discardMultipart(objectKey, upload.uploadId);
      if (opts.signal?.aborted) await this.removeQuietly(objectKey);
      if (source.failure !== undefined) throw this.contentError(source.failure, key);
      if (opts.signal?.aborted) throw this.contentError(opts.signal.reason, key);
      throw this.error(error, `storing ${key}`);
    }
    if (source.bytes > SINGLE_REQUEST_LIMIT) {
      // CopyObject cannot rewrite objects above 5 GiB: such objects keep the metadata known at the
      // start (no sha256 or size); the catalog records both anyway.
      return checksum;
    }
    try {
      // Rewrite the object's metadata in place (S3 copies no data for this), now complete.
      await this.client.send(new CopyObjectCommand({
        ...this.writeParams(objectKey, opts),
        CopySource: this.copySource(key),
        MetadataDirective: 'REPLACE',
      }));
    } catch (error) {
      await this.removeQuietly(objectKey);
      throw this.error(error, `storing ${key} (setting its metadata)`);
    }
    // The server copied its own bytes: the checksum of what it received still vouches for them.
    return checksum;
  }

  /** Abort a multipart upload; when the server cannot be reached, keep trying in the background. */
  private async discardMultipart(objectKey: string, uploadId: string): Promise<void> {
    const attempt = async (): Promise<boolean> => {
      try {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId }));
        return true;
      } catch (error) {
        // Gone already, or a failure that retrying cannot fix.
        return s3ErrorName(error) === 'NoSuchUpload' || isS3NotFound(error) || fromS3Error(error, this.context('')).code !== 'PROVIDER_UNAVAILABLE';
      }
    };
    if (await attempt()) return;
    const retrying = (async () => {
      const deadline = Date.now() + ABORT_RETRY_WINDOW_MS;
      for (let retry = 0; Date.now() < deadline && !this.closing; retry++) {
        await sleep(backoffDelay(retry, { baseMs: 1000, maxMs: 30_000 }), undefined, { ref: false });
        if (this.closing || await attempt()) return;
      }
    })();
    this.pendingAborts.add(retrying);
    void retrying.finally(() => this.pendingAborts.delete(retrying));
  }

  /** Best-effort removal after a failed store: that failure is the error to report; an object left behind is reported by `findOrphans`. */
  private async removeQuietly(objectKey: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey })).catch(() => undefined);
  }

  /** The parameters every write of an object carries. */
  private writeParams(objectKey: string, opts: UploadOptions): PutObjectCommandInput & { Bucket: string; Key: string } {
    const publicArtifact = opts.metadata.visibility === 'public';
    const cacheControl = this.config.cache_control ?? (publicArtifact ? 'public, max-age=31536000, immutable' : undefined);
    return {
      Bucket: this.bucket,
      Key: objectKey,
      ContentType: opts.contentType,
      ...(cacheControl ? { CacheControl: cacheControl } : {}),
      Metadata: encodeMetadata(opts.metadata),
      ...(this.config.acl && publicArtifact ? { ACL: 'public-read' } : {}),
      ...this.encryptionParams(),
      ...this.storageClass(),
    };
  }

  private storageClass(): Pick<PutObjectCommandInput, 'StorageClass'> {
    return this.config.storage_class ? { StorageClass: this.config.storage_class as PutObjectCommandInput['StorageClass'] } : {};
  }

  private encryptionParams(): Pick<PutObjectCommandInput, 'ServerSideEncryption' | 'SSEKMSKeyId'> {
    return {
      ...(this.config.server_side_encryption ? { ServerSideEncryption: this.config.server_side_encryption } : {}),
      ...(this.config.kms_key_id ? { SSEKMSKeyId: this.config.kms_key_id } : {}),
    };
  }

  private encryptionHeaders(): Record<string, string> {
    return {
      ...(this.config.server_side_encryption ? { 'x-amz-server-side-encryption': this.config.server_side_encryption } : {}),
      ...(this.config.kms_key_id ? { 'x-amz-server-side-encryption-aws-kms-key-id': this.config.kms_key_id } : {}),
      ...(this.config.storage_class ? { 'x-amz-storage-class': this.config.storage_class } : {}),
    };
  }

  private visibleUrl(key: string, metadata: Record<string, string>): { url?: string } {
    const url = metadata.visibility === 'public' ? this.getPublicUrl(key) : undefined;
    return url ? { url } : {};
  }

  private objectKey(key: string): string {
    assertSafeKey(key);
    return this.config.prefix ? `${this.config.prefix}/${key}` : key;
  }

  private copySource(key: string): string {
    return `${this.bucket}/${this.objectKey(key).split('/').map(encodeURIComponent).join('/')}`;
  }

  private async send<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw this.error(error, what);
    }
  }

  private error(error: unknown, what: string): StorageError {
    return fromS3Error(error, this.context(what));
  }

  private context(what: string): { bucket: string; endpoint: string; what: string } {
    return { bucket: this.bucket, endpoint: this.endpoint, what };
  }

  /** The content iterable failed or the caller aborted: that failure, as a StorageError. */
  private contentError(error: unknown, key: string): StorageError {
    if (error instanceof StorageError) return error;
    const aborted = (error as Error | undefined)?.name === 'AbortError';
    return new StorageError(`s3 bucket "${this.bucket}": storing ${key}: ${aborted ? 'aborted' : `the content failed: ${(error as Error | undefined)?.message ?? String(error)}`}; nothing was kept`, { cause: error });
  }
}

/**
 * The content, read one chunk at a time, counting bytes; an abort signal interrupts even a wait for
 * the next chunk. The first failure is kept, so it can be told apart from the server's.
 */
class GuardedSource {
  bytes = 0;
  failure: unknown;
  private readonly iterator: AsyncIterator<Uint8Array>;
  private readonly signal: AbortSignal | undefined;

  constructor(content: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined) {
    this.iterator = content[Symbol.asyncIterator]();
    this.signal = signal;
  }

  async next(): Promise<IteratorResult<Uint8Array>> {
    try {
      this.signal?.throwIfAborted();
      const result = await (this.signal ? raceAbort(this.iterator.next(), this.signal) : this.iterator.next());
      if (!result.done) this.bytes += result.value.length;
      return result;
    } catch (error) {
      this.failure ??= error;
      // Let the source release what it holds; it may be stuck, so do not wait for it.
      void Promise.resolve(this.iterator.return?.()).catch(() => undefined);
      throw error;
    }
  }

  /** Let the source release what it holds, without waiting for it (it may be stuck). */
  release(): void {
    void Promise.resolve(this.iterator.return?.()).catch(() => undefined);
  }
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value); },
      (error: unknown) => { signal.removeEventListener('abort', onAbort); reject(error); },
    );
  });
}


function presignSeconds(expiresIn: number): number {
  if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_PRESIGN_SECONDS) {
    throw new ValidationError(`expiresIn must be a whole number of seconds from 1 to ${MAX_PRESIGN_SECONDS} (7 days, the most S3 signatures allow)`);
  }
  return expiresIn;
}

const PLAIN_VALUE = /^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/;
const ENCODED_VALUE = /^=\?UTF-8\?B\?([A-Za-z0-9+/]*={0,2})\?=$/i;
const METADATA_NAME = /^[a-z0-9][a-z0-9._-]*$/;
/**
 * Metadata as S3 carries it: names lowercase header tokens (others are dropped), values US-ASCII
 * (others travel as RFC 2047 `=?UTF-8?B?...?=` and are decoded on read). S3 allows 2 KB in all;
 * when the entries are larger, the largest are dropped (sha256 and size last), never failing the store.
 */
export function encodeMetadata(metadata: Record<string, string>): Record<string, string> {
  const entries: [string, string][] = [];
  for (const [rawName, rawValue] of Object.entries(metadata)) {
    const name = rawName.toLowerCase();
    if (!METADATA_NAME.test(name)) continue;
    const value = String(rawValue);
    entries.push([name, PLAIN_VALUE.test(value) && !ENCODED_VALUE.test(value) ? value : `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=`]);
  }
  return Object.fromEntries(fitEntries(entries, MAX_METADATA_BYTES));
}

export function decodeMetadata(metadata: Record<string, string>): Record<string, string> {
  const decoded: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata)) {
    const match = ENCODED_VALUE.exec(value);
    decoded[name.toLowerCase()] = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : value;
  }
  return decoded;
}

export function createS3Provider(config: Record<string, unknown>, ctx: ProviderContext): S3Provider {
  return new S3Provider(config as S3ProviderConfig, ctx);
}
