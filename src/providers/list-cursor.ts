import { isUtf8 } from 'node:buffer';
import { ValidationError } from '../errors.ts';

/** Listing cursors are the last key returned, opaque to callers. */
export function encodeCursor(lastKey: string): string {
  return Buffer.from(lastKey, 'utf8').toString('base64url');
}

/**
 * The key a cursor resumes after. Anything this service did not issue is refused (400) rather than
 * read as some key, which would answer with a wrong or empty page: an issued cursor is canonical
 * base64url of UTF-8.
 */
export function decodeCursor(cursor: string | undefined): string {
  if (cursor === undefined || cursor === '') return '';
  const bytes = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url') : undefined;
  if (!bytes || bytes.length === 0 || !isUtf8(bytes) || bytes.toString('base64url') !== cursor) throw invalidCursor();
  return bytes.toString('utf8');
}

export function invalidCursor(): ValidationError {
  return new ValidationError('the cursor is not one this service issued; pass back the nextCursor of the previous page, or no cursor to start at the beginning', { details: { field: 'cursor' } });
}

export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;

export function listLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) throw new ValidationError('limit must be a positive whole number');
  return Math.min(limit, MAX_LIST_LIMIT);
}
