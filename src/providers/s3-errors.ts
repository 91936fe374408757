import {
  AccessDeniedError, CorruptionError, InsufficientStorageError, NotFoundError, ProviderUnavailableError, StorageError, ValidationError,
} from '../errors.ts';

/** What an S3 call was doing, for messages: `s3 bucket "b" at http://host: reading a/b.png`. */
export interface S3ErrorContext {
  bucket: string;
  endpoint: string;
  /** The operation and key, in words. */
  what: string;
}

/** Error names (S3 codes) that mean the key is missing. HEAD answers have no body: only `NotFound`. */
const MISSING = new Set(['NoSuchKey', 'NotFound', 'NoSuchVersion']);
const DENIED = new Set([
  'AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AllAccessDisabled', 'AccountProblem',
  'InvalidToken', 'ExpiredToken', 'TokenRefreshRequired', 'RequestTimeTooSkewed', 'CredentialsProviderError',
  'InvalidSecurity', 'UnauthorizedAccess', 'Forbidden',
]);
const UNAVAILABLE = new Set([
  'SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequests', 'TooManyRequestsException', 'RequestLimitExceeded',
  'ServiceUnavailable', 'InternalError', 'RequestTimeout', 'RequestTimeoutException', 'TimeoutError', 'ServerBusy',
  'OperationAborted', 'BandwidthLimitExceeded',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH',
  'ECONNABORTED', 'EADDRNOTAVAIL', 'ERR_SOCKET_CONNECTION_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET',
]);
/** Quota exhausted: RGW answers `QuotaExceeded` with 403, other servers with 507 or their own names. */
const NO_SPACE = new Set(['QuotaExceeded', 'InsufficientStorage', 'XMinioStorageFull', 'StorageFull', 'ServiceQuotaExceeded']);
const TOO_LARGE = new Set(['EntityTooLarge', 'MaxMessageLengthExceeded', 'MetadataTooLarge', 'RequestHeaderSectionTooLarge']);

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  errors?: unknown[];
  cause?: unknown;
}

/** The S3 error name of an SDK error (`NoSuchKey`), or a network code (`ECONNREFUSED`). */
export function s3ErrorName(error: unknown): string {
  const e = (error ?? {}) as SdkErrorShape;
  if (e.code && NETWORK_CODES.has(e.code)) return e.code;
  // Node reports a refused connection to a name with several addresses as an AggregateError.
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const code = (inner as SdkErrorShape | undefined)?.code;
      if (code && NETWORK_CODES.has(code)) return code;
    }
  }
  return e.Code ?? e.name ?? 'Error';
}

export function s3HttpStatus(error: unknown): number | undefined {
  return (error as SdkErrorShape | undefined)?.$metadata?.httpStatusCode;
}

/** True when the key is missing (not the bucket). */
export function isS3NotFound(error: unknown): boolean {
  return MISSING.has(s3ErrorName(error)) || (s3HttpStatus(error) === 404 && s3ErrorName(error) !== 'NoSuchBucket');
}

/**
 * Map an AWS SDK error to the library's types, keeping the original as `cause`. Retryable failures
 * (network, timeouts, 5xx, throttling) become ProviderUnavailableError.
 */
export function fromS3Error(error: unknown, ctx: S3ErrorContext): StorageError {
  if (error instanceof StorageError) return error;
  const name = s3ErrorName(error);
  const status = s3HttpStatus(error);
  const where = `s3 bucket "${ctx.bucket}" at ${ctx.endpoint}: ${ctx.what}`;
  const message = (error as Error | undefined)?.message;
  // Answers to HEAD have no body, so the SDK knows only the status.
  const reason = name === 'Unknown' || (name === 'NotFound' && !message)
    ? `HTTP ${status ?? '?'}`
    : `${name}${status ? ` (HTTP ${status})` : ''}: ${message || 'no message'}`;
  const options = { cause: error, details: { bucket: ctx.bucket, s3Error: name, ...(status ? { httpStatus: status } : {}) } };

  if (name === 'NoSuchBucket') {
    return new StorageError(`${where}: the bucket "${ctx.bucket}" does not exist; create it or fix the provider's "bucket" setting`, { ...options, code: 'CONFIG_INVALID' });
  }
  if (MISSING.has(name)) return new NotFoundError(`${where}: not found`, options);
  if (NO_SPACE.has(name) || status === 507) return new InsufficientStorageError(`${where}: the storage quota is exhausted (${reason})`, options);
  if (TOO_LARGE.has(name)) return new ValidationError(`${where}: refused as too large (${reason})`, { ...options, code: 'CONTENT_TOO_LARGE' });
  if (name === 'InvalidRange' || status === 416) return new ValidationError(`${where}: the range is outside the object`, { ...options, code: 'RANGE_NOT_SATISFIABLE' });
  if (DENIED.has(name) || status === 403 || status === 401) {
    return new AccessDeniedError(`${where}: access denied (${reason}); check access_key_id, secret_access_key and the bucket's policy`, options);
  }
  // The body the server received is not the one whose checksum was signed or sent (changed on the way).
  if (name === 'XAmzContentSHA256Mismatch' || name === 'BadDigest') return new CorruptionError(`${where}: the server received bytes other than those whose checksum was sent (${reason})`, options);
  if (name === 'AbortError') return new StorageError(`${where}: aborted`, options);
  if (NETWORK_CODES.has(name) || UNAVAILABLE.has(name) || (status !== undefined && (status >= 500 || status === 429)) || isSocketFailure(error)) {
    return new ProviderUnavailableError(`${where}: the server is unavailable (${reason})`, options);
  }
  if (status === 404) return new NotFoundError(`${where}: not found`, options);
  return new StorageError(`${where}: ${reason}`, options);
}

/** Connection-level failures the SDK reports without a code: `socket hang up`, a body cut short. */
function isSocketFailure(error: unknown): boolean {
  const e = error as SdkErrorShape | undefined;
  if (!e || s3HttpStatus(error) !== undefined) return false;
  const message = e.message ?? '';
  if (/socket hang up|ECONNRESET|ECONNREFUSED|premature close|aborted|timed out/i.test(message)) return true;
  return e.cause !== undefined && e.cause !== error && isSocketFailure(e.cause);
}
