import { ValidationError } from '../errors.ts';
import type { ByteRange } from './provider.ts';

/** Turn an optional HTTP-style range into stream bounds, refusing ranges outside the object. */
export function resolveRange(range: ByteRange | undefined, size: number): { start: number; end: number | undefined } {
  if (!range || (range.start === undefined && range.end === undefined)) return { start: 0, end: undefined };
  const start = range.start ?? 0;
  const end = Math.min(range.end ?? size - 1, size - 1);
  if (!Number.isSafeInteger(start) || start < 0 || (range.end !== undefined && (!Number.isSafeInteger(range.end) || range.end < start)) || start >= size) {
    throw new ValidationError(`range ${start}-${range.end ?? ''} is outside the object of ${size} bytes`, { code: 'RANGE_NOT_SATISFIABLE', details: { size } });
  }
  return { start, end };
}

/** The HTTP Range header for a range: `bytes=start-end` (end inclusive); `{ end }` alone means from 0, not a suffix. */
export function httpRangeHeader(range: ByteRange | undefined): string | undefined {
  if (!range || (range.start === undefined && range.end === undefined)) return undefined;
  const start = range.start ?? 0;
  if (!Number.isSafeInteger(start) || start < 0 || (range.end !== undefined && (!Number.isSafeInteger(range.end) || range.end < start))) {
    throw new ValidationError(`range ${start}-${range.end ?? ''} is not a valid byte range`, { code: 'RANGE_NOT_SATISFIABLE' });
  }
  return `bytes=${start}-${range.end ?? ''}`;
}
