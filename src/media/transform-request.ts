import { ValidationError } from '../errors.ts';
import { VARIANT_FITS, VARIANT_FORMATS } from './media-config.ts';
import type { MediaConfig, VariantFit, VariantFormat, VariantSpec } from './media-config.ts';

/** `?width=&height=&fit=&format=&quality=` as a request gives them (strings, any of them absent). */
/** As a querystring or a JSON body gives it (schema-derived types): a field may be present and undefined. */
export interface TransformQuery {
  width?: string | number | undefined;
  height?: string | number | undefined;
  fit?: string | undefined;
  format?: string | undefined;
  quality?: string | number | undefined;
}

export const TRANSFORM_PARAMS = ['width', 'height', 'fit', 'format', 'quality'] as const;

export function hasTransformParams(query: Record<string, unknown>): boolean {
  return TRANSFORM_PARAMS.some((p) => query[p] !== undefined && query[p] !== '');
}

/**
 * A free-form transform as one of a small set of variants: widths and heights round up to the
 * next of `transforms.allowed_sizes` (the largest caps them), the quality to the nearest allowed
 * one, so however a crawler varies the numbers it reaches only a handful of cached variants.
 */
export function bucketTransform(query: TransformQuery, config: MediaConfig['transforms']): VariantSpec {
  const width = dimension(query.width, 'width', config.allowed_sizes);
  const height = dimension(query.height, 'height', config.allowed_sizes);
  if (width === undefined && height === undefined) throw new ValidationError('a transform needs width or height (or both)');
  const fit = oneOf(query.fit, 'fit', VARIANT_FITS, 'inside');
  const format = oneOf(query.format, 'format', VARIANT_FORMATS, 'webp');
  const quality = nearest(query.quality === undefined || query.quality === '' ? 75 : whole(query.quality, 'quality', 1, 100), config.allowed_qualities);
  const name = `t_w${width ?? 0}_h${height ?? 0}_${fit}_q${quality}`;
  return { name, ...(width === undefined ? {} : { width }), ...(height === undefined ? {} : { height }), fit, format, quality };
}

/** The transform as one string, signed into a URL: `w256.h0.inside.webp.q75`. */
export function transformClaim(spec: VariantSpec): string {
  return `w${spec.width ?? 0}.h${spec.height ?? 0}.${spec.fit}.${spec.format}.q${spec.quality ?? 75}`;
}

export function parseTransformClaim(claim: string): TransformQuery {
  const match = /^w(\d+)\.h(\d+)\.([a-z]+)\.([a-z]+)\.q(\d+)$/.exec(claim);
  if (!match) throw new ValidationError('the signed transform is malformed');
  const [, width, height, fit, format, quality] = match as unknown as [string, string, string, string, string, string];
  return { ...(width === '0' ? {} : { width }), ...(height === '0' ? {} : { height }), fit, format, quality };
}

function dimension(value: string | number | undefined, field: string, allowed: number[]): number | undefined {
  if (value === undefined || value === '') return undefined;
  const wanted = whole(value, field, 1, 100_000);
  const sizes = [...allowed].sort((a, b) => a - b);
  return sizes.find((s) => s >= wanted) ?? sizes.at(-1)!;
}

function nearest(value: number, allowed: number[]): number {
  return allowed.reduce((best, q) => (Math.abs(q - value) < Math.abs(best - value) ? q : best), allowed[0]!);
}

function whole(value: string | number, field: string, min: number, max: number): number {
  const n = typeof value === 'number' ? value : /^\d{1,6}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new ValidationError(`${field} must be a whole number from ${min} to ${max}`, { details: { field } });
  return n;
}

function oneOf<T extends string>(value: string | undefined, field: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined || value === '') return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new ValidationError(`${field} must be one of ${allowed.join(', ')}`, { details: { field } });
  return value as T;
}

export type { VariantFit, VariantFormat };
