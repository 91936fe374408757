import { ValidationError } from '../errors.ts';

/** Listing cursors are the last key returned, opaque to callers. */
export function encodeCursor(lastKey: string): string {
  return Buffer.from(lastKey, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): string {
  if (cursor === undefined || cursor === '') return '';
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new ValidationError('the cursor is not one this service issued');
  return Buffer.from(cursor, 'base64url').toString('utf8');
}

export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;

export function listLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) throw new ValidationError('limit must be a positive whole number');
  return Math.min(limit, MAX_LIST_LIMIT);
}
