import {
  AccessDeniedError, InsufficientStorageError, NotFoundError, ProviderUnavailableError, StorageError, ValidationError,
} from '../errors.ts';

/** What a Supabase Storage call was doing, for messages. */
export interface SupabaseErrorContext {
  bucket: string;
  endpoint: string;
  what: string;
}

/**
 * The JSON body Supabase Storage answers errors with. Many errors arrive as HTTP 400 with the real
 * status in `statusCode` (a string): a missing object is `{"statusCode":"404","code":"NoSuchKey",
 * "error":"not_found","message":"Object not found"}`. Older servers leave out `code`.
 */
export interface SupabaseErrorBody {
  statusCode?: string | number;
  code?: string;
  error?: string;
  message?: string;
}

/** A non-2xx answer, with its parsed body; thrown by the provider's fetch. */
export class SupabaseHttpError extends Error {
  readonly status: number;
  readonly body: SupabaseErrorBody;

  constructor(status: number, body: SupabaseErrorBody) {
    super(body.message ?? body.error ?? `HTTP ${status}`);
    this.name = 'SupabaseHttpError';
    this.status = status;
    this.body = body;
  }
}

/** Parse an error body (JSON or not) into its fields. */
export function parseErrorBody(text: string): SupabaseErrorBody {
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object') return parsed as SupabaseErrorBody;
  } catch {
    // not JSON
  }
  return text ? { message: text.slice(0, 500) } : {};
}

const DENIED = new Set(['InvalidJWT', 'AccessDenied', 'Unauthorized', 'InvalidSignature', 'SignatureDoesNotMatch', 'InvalidAccessKeyId', 'MissingToken']);
const UNAVAILABLE = new Set(['ResourceLocked', 'InternalError', 'DatabaseTimeout', 'DatabaseError', 'SlowDown', 'TooManyRequests', 'ServiceUnavailable', 'S3Error', 'DatabaseConnectionError', 'LockTimeout']);
const CONFLICT = new Set(['KeyAlreadyExists', 'ResourceAlreadyExists', 'Duplicate', 'BucketAlreadyExists']);
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED',
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
]);

/** The HTTP answer inside whatever wrapped it: storage-js's StorageApiError/StorageUnknownError, tus's DetailedError, ours. */
export function supabaseAnswer(error: unknown, depth = 0): { status: number; body: SupabaseErrorBody } | undefined {
  if (!error || typeof error !== 'object' || depth > 5) return undefined;
  if (error instanceof SupabaseHttpError) return { status: error.status, body: error.body };
  const e = error as Record<string, unknown>;
  // tus-js-client DetailedError
  const response = e.originalResponse as { getStatus?: () => number; getBody?: () => string } | null | undefined;
  if (response?.getStatus) return { status: response.getStatus(), body: parseErrorBody(response.getBody?.() ?? '') };
  // storage-js StorageApiError: `status` is the HTTP status, `statusCode` the body's statusCode (or code)
  if (e.__isStorageError && typeof e.status === 'number') {
    const statusCode = typeof e.statusCode === 'string' ? e.statusCode : undefined;
    return { status: e.status, body: { ...(statusCode ? (/^\d+$/.test(statusCode) ? { statusCode } : { code: statusCode }) : {}), message: String(e.message ?? '') } };
  }
  return supabaseAnswer(e.originalError ?? e.causingError ?? e.cause, depth + 1);
}

function networkCode(error: unknown, depth = 0): string | undefined {
  if (!error || typeof error !== 'object' || depth > 5) return undefined;
  const e = error as { code?: unknown; name?: string; message?: string; cause?: unknown; originalError?: unknown; causingError?: unknown };
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return e.code;
  if (e.name === 'TimeoutError') return 'ETIMEDOUT';
  if (/fetch failed|socket hang up|ECONNRESET|ECONNREFUSED|other side closed|timed out/i.test(e.message ?? '') && !e.cause && !e.originalError && !e.causingError) return 'ECONNRESET';
  return networkCode(e.cause, depth + 1) ?? networkCode(e.originalError, depth + 1) ?? networkCode(e.causingError, depth + 1)
    ?? (/fetch failed|socket hang up|other side closed|timed out/i.test(e.message ?? '') ? 'ECONNRESET' : undefined);
}

/** The real status of an answer: the body's `statusCode` when it has one, else the HTTP status. */
export function realStatus(answer: { status: number; body: SupabaseErrorBody }): number {
  const fromBody = Number(answer.body.statusCode);
  return Number.isInteger(fromBody) && fromBody >= 100 ? fromBody : answer.status;
}

/** True when the answer says the object is missing (not the bucket). */
export function isSupabaseNotFound(error: unknown): boolean {
  const answer = supabaseAnswer(error);
  return answer !== undefined && !isBucketMissing(answer.body) && (answer.body.code === 'NoSuchKey' || realStatus(answer) === 404 || answer.body.error === 'not_found');
}

/**
 * True when the server has no such route (an older server) or refuses the feature for this tenant
 * (a multi-tenant server whose tenant has not migrated to it).
 */
export function isRouteMissing(error: unknown): boolean {
  const answer = supabaseAnswer(error);
  if (!answer) return false;
  const text = `${answer.body.error ?? ''} ${answer.body.message ?? ''}`;
  return /\bRoute \S+ not found/i.test(text) || /feature is not available for your tenant/i.test(text);
}

function isBucketMissing(body: SupabaseErrorBody): boolean {
  return body.code === 'NoSuchBucket' || /bucket not found/i.test(`${body.error ?? ''} ${body.message ?? ''}`);
}

/**
 * Map a Supabase Storage failure to the library's types by the error body, keeping the original as
 * `cause`: missing object NotFoundError, refused JWT AccessDeniedError, 413 ValidationError, 5xx and
 * network failures ProviderUnavailableError.
 */
export function fromSupabaseError(error: unknown, ctx: SupabaseErrorContext): StorageError {
  if (error instanceof StorageError) return error;
  const where = `supabase bucket "${ctx.bucket}" at ${ctx.endpoint}: ${ctx.what}`;
  const answer = supabaseAnswer(error);
  if (!answer) {
    const network = networkCode(error);
    const options = { cause: error, details: { bucket: ctx.bucket } };
    const message = (error as Error | undefined)?.message ?? String(error);
    if (network) return new ProviderUnavailableError(`${where}: the server is unavailable (${network}: ${message})`, options);
    if ((error as Error | undefined)?.name === 'AbortError') return new StorageError(`${where}: aborted`, options);
    return new StorageError(`${where}: ${message}`, options);
  }
  const status = realStatus(answer);
  const { code, error: kind, message } = answer.body;
  const said = `HTTP ${answer.status}${status !== answer.status ? ` (statusCode ${status})` : ''}${code ?? kind ? ` ${code ?? kind}` : ''}: ${message ?? 'no message'}`;
  const options = { cause: error, details: { bucket: ctx.bucket, httpStatus: answer.status, statusCode: status, ...(code ? { supabaseCode: code } : {}) } };

  if (isBucketMissing(answer.body)) {
    return new StorageError(`${where}: the bucket does not exist (${said}); create it or fix the provider's bucket settings`, { ...options, code: 'CONFIG_INVALID' });
  }
  if (code === 'NoSuchKey' || status === 404 || kind === 'not_found') return new NotFoundError(`${where}: not found`, options);
  if ((code && DENIED.has(code)) || (kind && DENIED.has(kind)) || status === 401 || status === 403) {
    return new AccessDeniedError(`${where}: access denied (${said}); check that "key" is the project's service-role key`, options);
  }
  if (code === 'EntityTooLarge' || status === 413) return new ValidationError(`${where}: refused as too large (${said}); raise the bucket's or the project's file size limit`, { ...options, code: 'CONTENT_TOO_LARGE' });
  if (code === 'InvalidMimeType' || status === 415) return new ValidationError(`${where}: the bucket refuses this content type (${said}); widen the bucket's allowed MIME types`, { ...options, code: 'CONTENT_TYPE_NOT_ALLOWED' });
  if (code === 'InvalidRange' || status === 416) return new ValidationError(`${where}: the range is outside the object`, { ...options, code: 'RANGE_NOT_SATISFIABLE' });
  if ((code && CONFLICT.has(code)) || (kind && CONFLICT.has(kind)) || status === 409) return new StorageError(`${where}: already exists (${said})`, { ...options, code: 'CONFLICT' });
  if (status === 507 || code === 'QuotaExceeded') return new InsufficientStorageError(`${where}: the storage quota is exhausted (${said})`, options);
  if ((code && UNAVAILABLE.has(code)) || status >= 500 || status === 429 || status === 408 || status === 423) {
    return new ProviderUnavailableError(`${where}: the server is unavailable (${said})`, options);
  }
  if (status === 400) return new ValidationError(`${where}: refused (${said})`, options);
  return new StorageError(`${where}: ${said}`, options);
}
