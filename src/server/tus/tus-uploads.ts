import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { FileStore } from '@tus/file-store';
import { EVENTS, Server } from '@tus/server';
import type { Upload } from '@tus/server';
import { StorageError, ValidationError } from '../../errors.ts';
import { assertSafeId } from '../../keys.ts';
import { isContentTypeAllowed, isWellFormedContentType, normalizeContentType, contentTypeForFileName } from '../../content/content-types.ts';
import type { StorageManager } from '../../manager/storage-manager.ts';
import type { ArtifactReference } from '../../manager/artifact-reference.ts';
import { renderError, renderedBody } from '../errors.ts';
import type { ServerConfig } from '../server-config.ts';

/** Where the TUS endpoint lives; an upload's URL is this plus `/{uploadId}`. */
export const TUS_PATH = '/v1/uploads/tus';
/** The response header of a finished upload that names the stored artifact. */
export const STORAGE_KEY_HEADER = 'Storage-Key';

/** Who sent a request, as the route established it (the TUS handlers see only the raw request). */
export interface UploadCaller {
  tenantId: string;
  actor: string;
}

/**
 * Resumable uploads (TUS 1.0: creation, creation-with-upload, termination, expiration) on
 * `@tus/server`. Partial uploads live in a directory as a file plus a JSON info file each (the
 * `@tus/file-store` layout), so their state is never in this process: any node sharing the
 * directory resumes an upload another started. A finished upload is stored through the manager
 * like any other artifact (allowlist, sniffing, size limit, SHA-256, routing) and the partial file
 * is removed whatever the outcome.
 */
export class TusUploads {
  readonly directory: string;
  private readonly server: Server;
  private readonly store: FileStore;
  private readonly storage: StorageManager;
  private readonly callers = new WeakMap<object, UploadCaller>();

  constructor(storage: StorageManager, config: ServerConfig) {
    this.storage = storage;
    this.directory = resolve(config.tus.directory ?? resolve(storage.config.dataDir, 'tus'));
    this.store = new FileStore({ directory: this.directory, expirationPeriodInMilliseconds: config.tus.expirationMs });
    const origins = config.cors.origins;
    this.server = new Server({
      path: TUS_PATH,
      datastore: this.store,
      maxSize: storage.config.maxFileSize,
      // Behind a load balancer the client keeps talking to whatever host it used.
      ...(config.publicUrl ? { generateUrl: (_req, { id }) => `${config.publicUrl}${TUS_PATH}/${id}` } : { relativeLocation: true }),
      // @tus/server allows every origin unless told otherwise; follow server.cors instead.
      allowedOrigins: (origin: string) => origins.includes('*') || origins.includes(origin),
      allowedCredentials: config.cors.credentials,
      exposedHeaders: [STORAGE_KEY_HEADER],
      namingFunction: (req) => uploadId(this.caller(req).tenantId),
      onUploadCreate: async (req, upload) => this.onCreate(this.caller(req), upload),
      onUploadFinish: async (req, upload) => this.onFinish(this.caller(req), upload, req.method === 'POST' ? 201 : 200),
      onResponseError: (_req, error) => tusError(error),
    });
    // Removed only once the answer is written: the creation-with-upload handler still reads the upload after the hook.
    this.server.on(EVENTS.POST_FINISH, (_req: unknown, _res: unknown, upload: Upload) => {
      // The answer is sent; an upload file left behind expires and the TUS sweep removes it.
      this.store.remove(upload.id).catch(() => undefined);
    });
  }

  /** Hand a request to the TUS handlers; the caller has been authenticated and may address `uploadId`. */
  async handle(req: IncomingMessage, res: ServerResponse, caller: UploadCaller): Promise<void> {
    this.callers.set(req, caller);
    await this.server.handle(req, res);
  }

  /** Remove uploads unfinished past their expiration; returns how many went. */
  async sweepExpired(): Promise<number> {
    return this.server.cleanUpExpiredUploads();
  }

  private caller(req: { runtime?: { node?: { req?: object } } }): UploadCaller {
    const raw = req.runtime?.node?.req;
    const caller = raw ? this.callers.get(raw) : undefined;
    if (!caller) throw new StorageError('a TUS request reached the handlers without its caller');
    return caller;
  }

  /** Refuse what would be refused at the end, before any byte is sent; record who owns it. */
  private async onCreate(caller: UploadCaller, upload: Upload): Promise<{ metadata: Record<string, string | null> }> {
    const meta = checkUploadMetadata(upload.metadata ?? {}, this.storage.config.allowedContentTypes);
    // Lineage inputs are checked now as well (and again when it is stored): same tenant, live.
    await this.storage.catalog.lineage.checkInputs(caller.tenantId, meta.inputs);
    // The quota is checked here with the declared length (a client learns before sending a byte) and again when it is stored.
    if (upload.size !== undefined) await this.storage.quotas.assertRoom(caller.tenantId, upload.size);
    const { metadata, inputs, ...fields } = meta;
    return { metadata: { ...fields, ...(metadata ? { metadata: JSON.stringify(metadata) } : {}), ...(inputs ? { inputs: inputs.join(',') } : {}), tenantId: caller.tenantId, actor: caller.actor } };
  }

  private async onFinish(caller: UploadCaller, upload: Upload, status: number): Promise<{ status_code: number; headers: Record<string, string>; body: string }> {
    const meta = upload.metadata ?? {};
    let ref: ArtifactReference;
    try {
      // The owner recorded at creation: a service token finishing another tenant's upload stores it there.
      const tenantId = meta.tenantId ?? caller.tenantId;
      const checked = checkUploadMetadata(meta, this.storage.config.allowedContentTypes);
      ref = await this.storage.storeArtifact({
        artifactId: checked.artifactId ?? idFromFileName(checked.filename) ?? randomUUID(),
        artifactType: checked.artifactType,
        contentType: checked.contentType,
        content: this.store.read(upload.id),
        tenantId,
        actor: caller.actor,
        ...(upload.size === undefined ? {} : { size: upload.size }),
        ...(checked.boardId ? { boardId: checked.boardId } : {}),
        ...(checked.visibility ? { visibility: checked.visibility } : {}),
        ...(checked.filename || checked.metadata ? { metadata: { ...checked.metadata, ...(checked.filename ? { filename: checked.filename } : {}) } } : {}),
        ...(checked.inputs ? { inputs: checked.inputs } : {}),
      });
    } catch (error) {
      // Refused: nothing stays behind (a stored one goes once its answer is written).
      // The refusal is the answer; an upload file left behind expires and the TUS sweep removes it.
      await this.store.remove(upload.id).catch(() => undefined);
      throw error;
    }
    // Creation-with-upload stays a 201 (with its Location); a final PATCH answers 200 with the reference.
    return { status_code: status, headers: { [STORAGE_KEY_HEADER]: ref.storageKey, 'Content-Type': 'application/json; charset=utf-8' }, body: JSON.stringify(ref) };
  }
}

/** `{tenant}_{32 hex}`: the owner is readable from the id, so a request for another tenant's upload is refused before any lookup. */
function uploadId(tenantId: string): string {
  return `${tenantId}_${randomBytes(16).toString('hex')}`;
}

/** The tenant an upload id belongs to; undefined for anything that is not an upload id. */
export function uploadOwner(id: string): string | undefined {
  const match = /^([A-Za-z0-9._-]{1,128})_[0-9a-f]{32}$/.exec(id);
  return match?.[1];
}

interface UploadMetadata {
  artifactType: string;
  contentType: string;
  artifactId?: string;
  boardId?: string;
  visibility?: 'private' | 'public';
  filename?: string;
  /** User metadata: a JSON object in the `metadata` entry. */
  metadata?: Record<string, unknown>;
  /** Lineage: the `inputs` entry, storage keys separated by commas. */
  inputs?: string[];
}

/** The store's limit on user metadata, refused here before any byte is sent. */
const MAX_METADATA_BYTES = 16 * 1024;

/**
 * The `Upload-Metadata` an upload needs: `artifactType`, and `contentType` (or Uppy's `filetype`,
 * or a type the `filename` suggests); optional `artifactId`, `boardId`, `visibility`, `filename`,
 * `metadata` (a JSON object) and `inputs` (storage keys, separated by commas: keys have no commas).
 */
function checkUploadMetadata(meta: Record<string, string | null>, allowed: string[]): UploadMetadata {
  const value = (name: string) => (meta[name] === null || meta[name] === undefined || meta[name] === '' ? undefined : meta[name]);
  const artifactType = value('artifactType');
  if (!artifactType) throw new ValidationError('Upload-Metadata needs artifactType (base64 in the TUS header)');
  assertSafeId('artifactType', artifactType);
  const filename = value('filename');
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (filename !== undefined && (filename.length > 255 || /[\u0000-\u001f\u007f"\\/]/.test(filename))) {
    throw new ValidationError('filename may not contain control characters, quotes, slashes or backslashes, and is at most 255 characters');
  }
  const declared = value('contentType') ?? value('filetype') ?? (filename ? contentTypeForFileName(filename) : undefined);
  if (!declared || !isWellFormedContentType(declared)) throw new ValidationError('Upload-Metadata needs a valid contentType', { code: 'CONTENT_TYPE_NOT_ALLOWED' });
  const contentType = normalizeContentType(declared);
  if (!isContentTypeAllowed(allowed, contentType)) {
    throw new ValidationError(`content type ${contentType} is not allowed (allowed: ${allowed.join(', ')})`, { code: 'CONTENT_TYPE_NOT_ALLOWED' });
  }
  const artifactId = value('artifactId');
  const boardId = value('boardId');
  const visibility = value('visibility');
  if (visibility !== undefined && visibility !== 'private' && visibility !== 'public') throw new ValidationError(`visibility must be "private" or "public", not "${visibility}"`);
  if (artifactId !== undefined) assertSafeId('artifactId', artifactId);
  if (boardId !== undefined) assertSafeId('boardId', boardId);
  const metadata = userMetadata(value('metadata'));
  const inputs = value('inputs')?.split(',').map((key) => key.trim()).filter((key) => key !== '');
  return {
    ...(metadata ? { metadata } : {}), ...(inputs?.length ? { inputs } : {}),
    artifactType, contentType,
    ...(artifactId ? { artifactId } : {}), ...(boardId ? { boardId } : {}),
    ...(visibility ? { visibility } : {}), ...(filename ? { filename } : {}),
  };
}

function userMetadata(json: string | undefined): Record<string, unknown> | undefined {
  if (json === undefined) return undefined;
  if (Buffer.byteLength(json) > MAX_METADATA_BYTES) throw new ValidationError(`metadata is larger than ${MAX_METADATA_BYTES} bytes as JSON`, { details: { field: 'metadata' } });
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new ValidationError('the metadata entry of Upload-Metadata must be a JSON object', { cause: error, details: { field: 'metadata' } });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ValidationError('the metadata entry of Upload-Metadata must be a JSON object', { details: { field: 'metadata' } });
  return parsed as Record<string, unknown>;
}

function idFromFileName(filename: string | undefined): string | undefined {
  if (!filename) return undefined;
  const id = filename.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 128);
  return id && id !== '.' && id !== '..' ? id : undefined;
}

/** Our errors as TUS responses: the status that fits and the one JSON error shape as the body. */
function tusError(error: Error | { status_code: number; body: string }): { status_code: number; body: string } | undefined {
  if (!(error instanceof StorageError)) return undefined;
  const rendered = renderError(error);
  return { status_code: rendered.status, body: JSON.stringify(renderedBody(rendered)) };
}
