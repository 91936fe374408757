import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { DatabaseSync } from 'node:sqlite';
import type { SharedDatabase } from '../sqlite/shared-database.ts';

/**
 * What a provider can do, declared up front so callers and tests branch on capability rather than
 * on caught failures.
 */
export interface ProviderCapabilities {
  /** Signed download URLs that a client can use without other credentials. */
  presignDownload: boolean;
  /** Direct client uploads: 'POST' (size enforced by the backend), 'PUT', or none. */
  presignUpload: 'POST' | 'PUT' | false;
  /** URLs that need no signature for public artifacts. */
  publicUrl: boolean;
  /** Server-side copy. */
  copy: boolean;
  /**
   * Its signed URLs point at this service (`/v1/signed/...`) and are checked with the service's
   * signing secret (local, memory): the manager hands it that secret and the service serves them.
   * Declared per provider type, at registration, since it decides what the provider is created with.
   */
  selfSignedUrls: boolean;
  /**
   * The upload's result carries a checksum the backend computed over the bytes it stored
   * (`UploadResult.backendChecksum`), so a copy can be verified without reading it back; this says
   * what the sender must compute to compare (see backend-checksum.ts). False when the backend gives
   * none that is a digest of the bytes (S3 with SSE-KMS, Supabase): callers read the copy back.
   */
  uploadChecksum: UploadChecksumPlan | false;
}

/**
 * What a provider's backend checksum is a digest of: MD5 of the whole object, or, for objects
 * larger than `partSize`, S3's multipart ETag (the MD5 of the binary MD5s of parts of `partSize`
 * bytes, the last one shorter).
 */
export interface UploadChecksumPlan {
  algorithm: 'md5';
  partSize?: number;
}

/** A checksum of the stored bytes that the backend computed itself (S3's ETag, GCS's md5Hash). */
export interface BackendChecksum {
  /**
   * `md5`: of the whole object; `md5-of-parts`: S3's multipart ETag over `parts` parts of
   * `partSize` bytes; `sha256`: the upload's `sha256`, which the backend checked the bytes it
   * received against and accepted (S3's signed payload hash, on a server shown to refuse a mismatch).
   */
  algorithm: 'md5' | 'md5-of-parts' | 'sha256';
  /** Hex digest. */
  value: string;
  partSize?: number;
  parts?: number;
}

export interface UploadResult {
  /** The object's public URL, when it has one. */
  url?: string;
  /** Present when the backend reported a checksum of what it stored (see capabilities.uploadChecksum). */
  backendChecksum?: BackendChecksum;
  /**
   * Present when the upload was given `commitWith` and took it: the object is in place but
   * invisible until `ready` runs, inside a transaction of that connection (its commit makes the
   * object visible; its rollback leaves it invisible). A caller that will not commit calls
   * `abandon`, which removes it. A crash before the commit leaves nothing visible.
   */
  deferred?: DeferredObject;
}

/** An uploaded object whose visibility waits for the caller's commit (see UploadOptions.commitWith). */
export interface DeferredObject {
  /**
   * Writes the row that makes the object visible; run it inside the caller's transaction. May run
   * again after that transaction rolled back (a group commit retried entry by entry).
   */
  ready(): void;
  /** Removes the object (its row, if `ready` ran in a transaction that rolled back, and its file). */
  abandon(): Promise<void>;
}

export interface UploadOptions {
  contentType: string;
  /** Byte count when known in advance (a hint; the manager enforces the real count). */
  size?: number;
  /**
   * String metadata to keep with the object. The manager fills in the entries that are known only
   * once the content has been read (`sha256`, `size`) when the content iterable completes, so a
   * provider reads this object after it has consumed the content, before it commits the object.
   */
  metadata: Record<string, string>;
  /** Aborted when the caller gives up; the provider stops and leaves nothing behind. */
  signal?: AbortSignal;
  /**
   * Refuse (CONFLICT) rather than replace an object that is already there, including at the final
   * step: a direct upload never replaces a recorded artifact. Honoured by the providers that
   * receive direct uploads through the service (local, memory).
   */
  ifNotExists?: boolean;
  /**
   * Starts the content again from its first byte, when it can be (bytes in memory, a spooled
   * file). Layers that retry or fail over use it; a one-shot stream has none and is never resent
   * once a byte of it has gone.
   */
  replay?: () => AsyncIterable<Uint8Array>;
  /**
   * The content's SHA-256 (hex), when the caller has already checked every byte against it before
   * handing over the last one (a migration). A provider may send it for the backend to check,
   * instead of hashing the bytes again (S3 signs it as the payload hash).
   */
  sha256?: string;
  /**
   * The SQLite connection whose transaction the caller runs next to record this store (the
   * catalog's). A provider whose index is kept in that same database may leave the object
   * invisible and return `UploadResult.deferred`, so the object and its record become visible in
   * one commit. Any other provider ignores it and makes the object visible before returning.
   */
  commitWith?: DatabaseSync;
}

export interface ByteRange {
  start?: number;
  /** Inclusive, as in HTTP Range. */
  end?: number;
}

/**
 * A stored object's file, opened for a caller that reads it itself (the server, into buffers it
 * reuses, so that a large download allocates nothing per read). The caller closes `handle`.
 */
export interface OpenFile {
  handle: FileHandle;
  /** First byte to send. */
  start: number;
  /** Last byte to send, inclusive (`start - 1` for an empty file). */
  end: number;
  /** The whole file's size. */
  size: number;
  /** The caller reports the bytes of each read as it sends them (the metrics layer counts them). */
  sent?: (bytes: number) => void;
}

export interface ObjectMetadata {
  key: string;
  size: number;
  contentType: string;
  lastModified: string;
  metadata: Record<string, string>;
}

export interface ListedObject {
  key: string;
  size: number;
  lastModified: string;
}

export interface ListResult {
  items: ListedObject[];
  nextCursor?: string;
}

export interface PresignedUpload {
  url: string;
  method: 'PUT' | 'POST';
  headers?: Record<string, string>;
  fields?: Record<string, string>;
  expiresAt: string;
}

/**
 * One backend. A provider only moves bytes: keys, validation, hashing, routing and the catalog are
 * the manager's. A missing object is a NotFoundError from every method that reads one.
 */
export interface StorageProvider {
  readonly capabilities?: Partial<ProviderCapabilities>;
  /**
   * Store `content` under `key`. Either the whole object becomes visible at once, or (when the
   * content iterable throws, the signal aborts or the backend fails) nothing is left behind.
   */
  upload(key: string, content: AsyncIterable<Uint8Array>, opts: UploadOptions): Promise<UploadResult>;
  openDownload(key: string, range?: ByteRange): Promise<Readable>;
  /**
   * The object's file itself, for providers whose objects are local files: the same checks,
   * errors and range rules as openDownload.
   */
  openFile?(key: string, range?: ByteRange): Promise<OpenFile>;
  getPresignedDownloadUrl(key: string, opts: { expiresIn: number; filename?: string }): Promise<string>;
  getPresignedUploadUrl(key: string, opts: { contentType: string; expiresIn: number; maxSize?: number }): Promise<PresignedUpload>;
  /** True when something was deleted; deleting a missing key is not an error. */
  delete(key: string): Promise<boolean>;
  exists(key: string): Promise<boolean>;
  getMetadata(key: string): Promise<ObjectMetadata>;
  /**
   * Keys that start with `prefix` (a plain string prefix, not only a folder), in ascending byte
   * order. `nextCursor` is present only when more remain; it is `encodeCursor(lastKeyReturned)`
   * (base64url of the key), so a caller may resume after any key by passing `encodeCursor(key)`.
   */
  list(prefix: string, opts?: { cursor?: string; limit?: number }): Promise<ListResult>;
  /** A URL that needs no signature, when the provider has one configured. */
  getPublicUrl?(key: string): string | undefined;
  copy?(from: string, to: string): Promise<void>;
  /** Signed download URLs for many keys in one request, in the order given (when the backend can batch). */
  getPresignedDownloadUrls?(keys: string[], opts: { expiresIn: number }): Promise<string[]>;
  /** Backends whose visibility is physical (Supabase's two buckets) move the object; returns its new public URL. */
  setVisibility?(key: string, visibility: 'private' | 'public'): Promise<{ url?: string }>;
  /** A cheap real round trip; throws when the backend does not answer. */
  health?(): Promise<void>;
  close?(): Promise<void>;
}

/** Context handed to a provider factory by the manager. */
export interface ProviderContext {
  /** The provider's name in the configuration, for messages. */
  name: string;
  /** Secret for providers that sign their own URLs (local, memory). */
  signingSecret?: string;
  /** Where the service keeps its state (`./.boards-storage` by default). */
  dataDir: string;
  /**
   * A SQLite database (the catalog's) in which a provider may keep its own index, so that its
   * rows can be written in the catalog's transactions (see UploadOptions.commitWith).
   */
  database?: SharedDatabase;
}

export type ProviderFactory = (config: Record<string, unknown>, ctx: ProviderContext) => StorageProvider | Promise<StorageProvider>;
