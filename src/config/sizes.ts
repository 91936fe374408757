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
