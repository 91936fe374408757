import { z } from 'zod/v3';
import { ConfigError } from '../errors.ts';

const UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4, K: 1024, M: 1024 ** 2, G: 1024 ** 3, KIB: 1024, MIB: 1024 ** 2, GIB: 1024 ** 3, TIB: 1024 ** 4 };

/** `1048576`, `"500KB"`, `"1.5 GB"` -> bytes (binary units: 1 KB = 1024 bytes). */
export function parseSize(value: string | number, path: string): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    throw new ConfigError(`${path}: ${value} is not a whole number of bytes`);
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(value);
  const unit = UNITS[(match?.[2] || 'B').toUpperCase()];
  if (!match || unit === undefined) throw new ConfigError(`${path}: "${value}" is not a size (use bytes or a number with KB, MB, GB or TB)`);
  return Math.round(Number(match[1]) * unit);
}

/** `"30s"`, `"15m"`, `"1h"`, `"7d"` or seconds -> seconds. */
export function parseDuration(value: string | number, path: string): number {
  if (typeof value === 'number' && value > 0) return value;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$/i.exec(String(value));
  if (!match) throw new ConfigError(`${path}: "${value}" is not a duration (use seconds or a number with s, m, h, d or w)`);
  const factor = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[(match[2] ?? 's').toLowerCase() as 's'];
  return Number(match[1]) * factor;
}

/** `268435456` -> `256 MiB`: the largest binary unit that divides it. */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [['TiB', 1024 ** 4], ['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor} ${unit}`;
  }
  return `${bytes} bytes`;
}

/**
 * A size setting in a provider's config schema: bytes or a string with a unit (as parseSize reads
 * it), between `min` and `max`, optionally a multiple of `multipleOf`.
 */
export function sizeSetting(min: number, max: number, multipleOf?: number) {
  return z.union([z.number(), z.string()]).transform((value, ctx) => {
    let bytes: number;
    try {
      bytes = parseSize(value, 'size');
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message.replace(/^size: /, '') });
      return z.NEVER;
    }
    if (bytes < min || bytes > max || (multipleOf !== undefined && bytes % multipleOf !== 0)) {
      ctx.addIssue({ code: 'custom', message: `must be between ${formatSize(min)} and ${formatSize(max)}${multipleOf ? ` and a multiple of ${formatSize(multipleOf)}` : ''}` });
      return z.NEVER;
    }
    return bytes;
  });
}
