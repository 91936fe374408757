import {
  AccessDeniedError, InsufficientStorageError, NotFoundError, ProviderUnavailableError, StorageError, ValidationError,
} from '../errors.ts';

/** What a GCS call was doing, for messages: `gcs bucket "b": reading a/b.png`. */
export interface GcsErrorContext {
  bucket: string;
  endpoint: string;
  /** The operation and key, in words. */
  what: string;
}

interface GcsErrorShape {
  /** HTTP status (ApiError) or a Node/undici code (`ECONNREFUSED`). */
  code?: number | string;
  name?: string;
  type?: string;
  message?: string;
  errors?: { reason?: string; message?: string }[];
  cause?: unknown;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'EPIPE', 'EHOSTUNREACH',
  'ENETUNREACH', 'ECONNABORTED', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT',
]);
const UNAVAILABLE_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'backendError', 'internalError', 'serviceUnavailable']);
const DENIED_REASONS = new Set(['forbidden', 'authError', 'required', 'accessNotConfigured', 'insufficientPermissions', 'SignatureDoesNotMatch', 'AccessDenied']);

/** The HTTP status of a client error, when the server answered. */
export function gcsHttpStatus(error: unknown): number | undefined {
  const code = (error as GcsErrorShape | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

function gcsReason(error: unknown): string | undefined {
  return (error as GcsErrorShape | undefined)?.errors?.find((e) => e.reason)?.reason;
}

/** A network-level failure: no answer, a refused or reset connection, a timeout. */
function networkCode(error: unknown, depth = 0): string | undefined {
  const e = error as GcsErrorShape | undefined;
  if (!e || depth > 4) return undefined;
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return e.code;
  if (e.type === 'request-timeout' || e.type === 'body-timeout' || e.name === 'TimeoutError') return 'ETIMEDOUT';
  if (typeof e.code !== 'number' && /socket hang up|ECONNRESET|ECONNREFUSED|premature close|network timeout|timed out|Timeout/i.test(e.message ?? '')) return 'ECONNRESET';
  const inner = (e as { errors?: unknown[] }).errors;
  if (Array.isArray(inner)) {
    for (const nested of inner) {
      const code = networkCode(nested, depth + 1);
      if (code) return code;
    }
  }
  return e.cause !== undefined && e.cause !== error ? networkCode(e.cause, depth + 1) : undefined;
}

/** True when the object is missing (not the bucket). */
export function isGcsNotFound(error: unknown): boolean {
  return gcsHttpStatus(error) === 404 && !isBucketMissing(error);
}

function isBucketMissing(error: unknown): boolean {
  return gcsHttpStatus(error) === 404 && /bucket does not exist|No such bucket|NoSuchBucket/i.test((error as Error).message ?? '');
}

/**
 * Map an @google-cloud/storage error to the library's types, keeping the original as `cause`.
 * Retryable failures (network, timeouts, 408, 429, 5xx) become ProviderUnavailableError.
 */
export function fromGcsError(error: unknown, ctx: GcsErrorContext): StorageError {
  if (error instanceof StorageError) return error;
  const status = gcsHttpStatus(error);
  const reason = gcsReason(error);
  const network = status === undefined ? networkCode(error) : undefined;
  const message = (error as Error | undefined)?.message || 'no message';
  const where = `gcs bucket "${ctx.bucket}" at ${ctx.endpoint}: ${ctx.what}`;
  const said = `${status ? `HTTP ${status}` : network ?? (error as Error | undefined)?.name ?? 'error'}${reason ? ` ${reason}` : ''}: ${message}`;
  const options = { cause: error, details: { bucket: ctx.bucket, ...(status ? { httpStatus: status } : {}), ...(reason ? { gcsReason: reason } : {}) } };

  if (isBucketMissing(error)) {
    return new StorageError(`${where}: the bucket "${ctx.bucket}" does not exist; create it or fix the provider's "bucket" setting`, { ...options, code: 'CONFIG_INVALID' });
  }
  if (status === 404) return new NotFoundError(`${where}: not found`, options);
  if (status === 416) return new ValidationError(`${where}: the range is outside the object`, { ...options, code: 'RANGE_NOT_SATISFIABLE' });
  if (status === 413) return new ValidationError(`${where}: refused as too large (${said})`, { ...options, code: 'CONTENT_TOO_LARGE' });
  if (status === 412 || status === 409) return new StorageError(`${where}: conflict (${said})`, { ...options, code: 'CONFLICT' });
  if (status === 401 || status === 403 || (reason && DENIED_REASONS.has(reason))) {
    if (reason === 'quotaExceeded' || reason === 'storageQuotaExceeded') return new InsufficientStorageError(`${where}: quota exhausted (${said})`, options);
    return new AccessDeniedError(`${where}: access denied (${said}); check the credentials (credentials_file, credentials or the default application credentials) and their roles on the bucket`, options);
  }
  if (/Could not load the default credentials|Could not refresh access token|invalid_grant|private key|client_email/i.test(message) && status === undefined) {
    return new AccessDeniedError(`${where}: no usable credentials (${message}); set credentials_file or credentials, or configure the default application credentials`, options);
  }
  if ((error as Error | undefined)?.name === 'AbortError' && !network) return new StorageError(`${where}: aborted`, options);
  if (network || (status !== undefined && (status >= 500 || status === 429 || status === 408)) || (reason && UNAVAILABLE_REASONS.has(reason))) {
    return new ProviderUnavailableError(`${where}: the server is unavailable (${said})`, options);
  }
  if (status === 400) return new ValidationError(`${where}: refused (${said})`, options);
  return new StorageError(`${where}: ${said}`, options);
}
