import { z } from 'zod/v3';
import { ConfigError } from '../errors.ts';
import { formatIssues } from './provider-config.ts';
import { parseDuration } from './sizes.ts';

/** `scrub:` — the background scrub that `serve` runs (off unless `interval` is set). */
export const scrubConfigSchema = z.object({
  /** How often a scrub pass starts (`24h`, `7d`, seconds); across all nodes sharing the catalog, one pass per interval. */
  interval: z.union([z.number().positive(), z.string().min(1)]).optional(),
  /** Read at most this many MB (MiB) per second, so that a scrub does not starve requests. */
  rate_mb_s: z.number().positive().default(10),
  /** The share of artifacts each pass checks (0 < sample <= 1). */
  sample: z.number().gt(0).max(1).default(1),
  /** Restore bad copies from a verified good copy (a mirror, the fallback). */
  repair: z.boolean().default(true),
}).strict();

export interface ScrubConfig {
  /** Undefined: no background scrub. */
  intervalMs?: number;
  bytesPerSecond: number;
  sample: number;
  repair: boolean;
}

export function parseScrubConfig(raw: Record<string, unknown>): ScrubConfig {
  const result = scrubConfigSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(result.error, 'storage.scrub'), { cause: result.error });
  const { interval, rate_mb_s, sample, repair } = result.data;
  return {
    ...(interval === undefined ? {} : { intervalMs: parseDuration(interval, 'storage.scrub.interval') * 1000 }),
    bytesPerSecond: rate_mb_s * 1024 * 1024,
    sample,
    repair,
  };
}
