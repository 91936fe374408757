import { randomUUID } from 'node:crypto';
import { SecurityError } from './errors.ts';
import { extensionForContentType } from './content/content-types.ts';

/** The characters an id may contain. Anything else is refused, never rewritten. */
export const SAFE_ID = /^[A-Za-z0-9._-]{1,128}$/;
const MAX_KEY_LENGTH = 1024;
/** A key segment may be longer than an id: the artifact folder adds `_{timestamp}_{uuid8}`. */
const SAFE_SEGMENT = /^[A-Za-z0-9._-]{1,160}$/;

/**
 * Check one id (tenant, board, artifact id, artifact type, variant, job id, temp file name).
 * Throws a SecurityError that names the field; returns the id unchanged.
 */
export function assertSafeId(field: string, value: unknown): string {
  if (typeof value !== 'string') throw new SecurityError(`${field} must be a string`, { details: { field } });
  if (value.length === 0) throw new SecurityError(`${field} must not be empty`, { details: { field } });
  if (value.length > 128) throw new SecurityError(`${field} is longer than 128 characters`, { details: { field } });
  if (value === '.' || value === '..') throw new SecurityError(`${field} must not be "." or ".."`, { details: { field } });
  if (!SAFE_ID.test(value)) {
    throw new SecurityError(`${field} may contain only letters, digits, ".", "_" and "-"`, { details: { field } });
  }
  return value;
}

/** Check a whole storage key: segments of safe ids separated by single slashes. */
export function assertSafeKey(key: unknown, field = 'key'): string {
  if (typeof key !== 'string' || key.length === 0) throw new SecurityError(`${field} must be a non-empty string`, { details: { field } });
  if (key.length > MAX_KEY_LENGTH) throw new SecurityError(`${field} is longer than ${MAX_KEY_LENGTH} characters`, { details: { field } });
  for (const segment of key.split('/')) {
    if (segment === '.' || segment === '..' || !SAFE_SEGMENT.test(segment)) {
      throw new SecurityError(`${field} must be "/"-separated segments of letters, digits, ".", "_" and "-" (no empty, "." or ".." segments)`, { details: { field } });
    }
  }
  return key;
}

/** Same rules for a listing prefix, which may end in "/" or in a partial segment. */
export function assertSafePrefix(prefix: string): string {
  if (prefix === '') return prefix;
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  assertSafeKey(trimmed, 'prefix');
  return prefix;
}

export interface ArtifactKeyParts {
  tenantId: string;
  artifactType: string;
  boardId?: string;
  artifactId: string;
  /** Defaults to `original`; given without an extension, the content type's extension is added. */
  variant?: string;
  contentType: string;
  now?: Date;
  /** Eight hex characters; random unless given (tests). */
  uniqueSuffix?: string;
}

/**
 * `{tenant}/{type}/{board}/{artifactId}_{YYYYMMDDHHmmss}_{uuid8}/{variant}`; the board segment is
 * absent when there is no board.
 */
export function buildArtifactKey(parts: ArtifactKeyParts): string {
  const tenant = assertSafeId('tenantId', parts.tenantId);
  if (tenant === 'temp') throw new SecurityError('tenantId "temp" is reserved for temporary files', { details: { field: 'tenantId' } });
  const type = assertSafeId('artifactType', parts.artifactType);
  const board = parts.boardId === undefined ? undefined : assertSafeId('boardId', parts.boardId);
  const artifactId = assertSafeId('artifactId', parts.artifactId);
  const variant = variantFileName(parts.variant, parts.contentType);
  const suffix = parts.uniqueSuffix ?? randomUUID().replaceAll('-', '').slice(0, 8);
  const folder = `${artifactId}_${timestamp(parts.now ?? new Date())}_${suffix}`;
  return [tenant, type, board, folder, variant].filter((s) => s !== undefined).join('/');
}

/** `temp/{jobId}/{name}` */
export function buildTempKey(jobId: string, name: string): string {
  return `temp/${assertSafeId('jobId', jobId)}/${assertSafeId('name', name)}`;
}

export function variantFileName(variant: string | undefined, contentType: string): string {
  const name = assertSafeId('variant', variant ?? 'original');
  if (/\.[A-Za-z0-9]+$/.test(name) && !name.startsWith('.')) return name;
  return `${name}.${extensionForContentType(contentType)}`;
}

export interface ParsedArtifactKey {
  tenantId: string;
  artifactType: string;
  boardId?: string;
  artifactId: string;
  variant: string;
  createdAt?: string;
}

/** Read the parts back out of an artifact key; undefined for keys of another shape (temp files). */
export function parseArtifactKey(key: string): ParsedArtifactKey | undefined {
  const segments = key.split('/');
  if (segments.length !== 4 && segments.length !== 5) return undefined;
  const [tenantId, artifactType] = segments as [string, string];
  const boardId = segments.length === 5 ? segments[2] : undefined;
  const folder = segments[segments.length - 2]!;
  const variant = segments[segments.length - 1]!;
  const match = /^(.+)_(\d{14})_([0-9a-f]{8})$/.exec(folder);
  if (!match) return undefined;
  const ts = match[2]!;
  const createdAt = `${ts.slice(0, 4)}-${ts.slice(4, 6)}-${ts.slice(6, 8)}T${ts.slice(8, 10)}:${ts.slice(10, 12)}:${ts.slice(12, 14)}Z`;
  return { tenantId, artifactType, ...(boardId === undefined ? {} : { boardId }), artifactId: match[1]!, variant, createdAt };
}

function timestamp(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}
