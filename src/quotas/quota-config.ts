import { z } from 'zod/v3';
import { ConfigError } from '../errors.ts';
import { formatIssues } from '../config/provider-config.ts';
import { parseSize } from '../config/sizes.ts';

const limit = z.object({
  /** Stored bytes (`50GB`, or a number of bytes). */
  bytes: z.union([z.number().int().nonnegative(), z.string().min(1)]).optional(),
  /** Stored artifacts. */
  artifacts: z.number().int().nonnegative().optional(),
}).strict();

export const quotasSchema = z.object({
  /** Every tenant without an entry of its own. */
  default: limit.optional(),
  /** Per tenant id; replaces the default for that tenant (a missing field: no limit on it). */
  tenants: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'tenant ids are letters, digits, ".", "_" and "-"'), limit).default({}),
}).strict();

/** One tenant's limits; an absent field is no limit. */
export interface Quota {
  bytes?: number;
  artifacts?: number;
}

export interface QuotaConfig {
  default?: Quota;
  tenants: Record<string, Quota>;
}

/** Parse `storage.quotas`; throws a ConfigError naming the offending path. */
export function parseQuotaConfig(raw: Record<string, unknown>): QuotaConfig {
  const result = quotasSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(result.error, 'storage.quotas'), { cause: result.error });
  const resolve = (q: z.output<typeof limit>, path: string): Quota => ({
    ...(q.bytes === undefined ? {} : { bytes: parseSize(q.bytes, `${path}.bytes`) }),
    ...(q.artifacts === undefined ? {} : { artifacts: q.artifacts }),
  });
  return {
    ...(result.data.default ? { default: resolve(result.data.default, 'storage.quotas.default') } : {}),
    tenants: Object.fromEntries(Object.entries(result.data.tenants).map(([t, q]) => [t, resolve(q, `storage.quotas.tenants.${t}`)])),
  };
}
