/**
 * Every error Boards Storage throws is a StorageError with a stable string `code` and the HTTP
 * status that fits it. Subclasses say what kind of failure it is; the code says which one exactly.
 * The original error, when there is one, is kept as `cause`.
 */

export type StorageErrorCode =
  | 'STORAGE_ERROR'
  | 'SECURITY_VIOLATION'
  | 'VALIDATION_FAILED'
  | 'CONFIG_INVALID'
  | 'CONTENT_TYPE_NOT_ALLOWED'
  | 'CONTENT_MISMATCH'
  | 'CONTENT_TOO_LARGE'
  | 'SIZE_MISMATCH'
  | 'RANGE_NOT_SATISFIABLE'
  | 'NOT_FOUND'
  | 'UNAUTHENTICATED'
  | 'ACCESS_DENIED'
  | 'PROVIDER_UNAVAILABLE'
  | 'INSUFFICIENT_STORAGE'
  | 'QUOTA_EXCEEDED'
  | 'RATE_LIMITED'
  | 'CORRUPTION'
  | 'CONFLICT'
  | 'NOT_SUPPORTED'
  | 'REQUEST_TIMEOUT'
  | 'TOO_MANY_UPLOADS'
  | 'SERVER_BUSY'
  | 'MEDIA_MISMATCH'
  | 'MEDIA_UNREADABLE'
  | 'MEDIA_TOO_LARGE'
  | 'TRANSFORMS_DISABLED'
  | 'INPUT_NOT_FOUND';

export interface StorageErrorOptions {
  cause?: unknown;
  /** Overrides the subclass's default code with a more specific one. */
  code?: StorageErrorCode;
  /** Extra machine-readable facts (field name, limit, key); never secrets. */
  details?: Record<string, unknown>;
}

export class StorageError extends Error {
  readonly code: StorageErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown>;

  constructor(message: string, options: StorageErrorOptions = {}, defaults: { code: StorageErrorCode; status: number } = { code: 'STORAGE_ERROR', status: 500 }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? defaults.code;
    this.status = STATUS_BY_CODE[this.code] ?? defaults.status;
    this.details = options.details ?? {};
  }

  toJSON(): { code: StorageErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Unsafe ids or keys, path escapes, signatures that do not verify. */
export class SecurityError extends StorageError {
  constructor(message: string, options: StorageErrorOptions = {}) {
    super(message, options, { code: 'SECURITY_VIOLATION', status: 400 });
  }
}

/** Input that breaks a rule: content type, size, bytes that are not what they claim, bad config. */
export class ValidationError extends StorageError {
  constructor(message: string, options: StorageErrorOptions = {}) {
    super(message, options, { code: 'VALIDATION_FAILED', status: 400 });
  }
}

/** A configuration that cannot work; the message names the offending path. */
export class ConfigError extends ValidationError {
  constructor(message: string, options: StorageErrorOptions = {}) {
    super(message, { ...options, code: 'CONFIG_INVALID' });
  }
}

export class NotFoundError extends StorageError {
  constructor(message: string, options: StorageErrorOptions = {}) {
    super(message, options, { code: 'NOT_FOUND', status: 404 });
  }
}

export class AccessDeniedError extends StorageError {
  constructor(message: string, options: StorageErrorOptions = {}) {
    super(message, options, { code: 'ACCESS_DENIED', status: 403 });
  }
}

/** The backend is down, refusing, throttling or timing out: the retryable failures. */
export class ProviderUnavailableError extends StorageError {
  constructor(message: string, options: StorageErrorOptions = {}) {
    super(message, options, { code: 'PROVIDER_UNAVAILABLE', status: 503 });
  }
}

/** Disk full, quota exhausted. */
export class InsufficientStorageError extends StorageError {
  constructor(message: string, options: StorageErrorOptions = {}) {
    super(message, options, { code: 'INSUFFICIENT_STORAGE', status: 507 });
  }
}

/** Stored bytes do not match their recorded checksum or size. */
export class CorruptionError extends StorageError {
  constructor(message: string, options: StorageErrorOptions = {}) {
    super(message, options, { code: 'CORRUPTION', status: 500 });
  }
}

const STATUS_BY_CODE: Partial<Record<StorageErrorCode, number>> = {
  CONTENT_TYPE_NOT_ALLOWED: 415,
  CONTENT_MISMATCH: 415,
  CONTENT_TOO_LARGE: 413,
  RANGE_NOT_SATISFIABLE: 416,
  CONFLICT: 409,
  UNAUTHENTICATED: 401,
  NOT_SUPPORTED: 501,
  QUOTA_EXCEEDED: 507,
  RATE_LIMITED: 429,
  REQUEST_TIMEOUT: 408,
  TOO_MANY_UPLOADS: 429,
  SERVER_BUSY: 503,
  MEDIA_MISMATCH: 422,
  MEDIA_UNREADABLE: 422,
  MEDIA_TOO_LARGE: 422,
  TRANSFORMS_DISABLED: 403,
};

export function isStorageError(error: unknown): error is StorageError {
  return error instanceof StorageError;
}

/** Map a Node filesystem error to the library's types, keeping the original as `cause`. */
export function fromFsError(error: unknown, what: string): StorageError {
  if (error instanceof StorageError) return error;
  if (isDiskFull(error)) return new InsufficientStorageError(`${what}: the disk is full (${(error as Error).message}); free space and retry`, { cause: error });
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return new NotFoundError(`${what}: not found`, { cause: error });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new AccessDeniedError(`${what}: permission denied (${code}); check that the directory is writable by this process`, { cause: error });
    case 'ENOSPC':
    case 'EDQUOT':
      return new InsufficientStorageError(`${what}: no space left on the device (${code})`, { cause: error });
    case 'EIO':
    case 'EMFILE':
    case 'ENFILE':
    case 'EBUSY':
      return new ProviderUnavailableError(`${what}: ${code}`, { cause: error });
    default:
      return new StorageError(`${what}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
}

/**
 * A write refused for want of space: ENOSPC/EDQUOT from the filesystem, SQLITE_FULL from SQLite
 * ("database or disk is full", primary result code 13), disk_full (53100) from PostgreSQL.
 */
export function isDiskFull(error: unknown): boolean {
  const e = error as { code?: unknown; errcode?: unknown; message?: unknown } | undefined;
  if (!e || typeof e !== 'object') return false;
  if (e.code === 'ENOSPC' || e.code === 'EDQUOT' || e.code === '53100') return true;
  if (typeof e.errcode === 'number' && (e.errcode & 0xff) === 13) return true;
  return typeof e.message === 'string' && /database or disk is full/i.test(e.message);
}
