import { z } from 'zod/v3';
import { ConfigError } from '../errors.ts';
import { formatIssues } from './provider-config.ts';

export const cleanupConfigSchema = z.object({
  /** How long temporary files live when the job does not clean up itself. */
  temp_file_ttl_hours: z.number().positive().default(24),
  /** How often the server sweeps expired files and uploads. */
  cleanup_interval_hours: z.number().positive().default(1),
  /** Artifacts claimed and deleted per batch. */
  max_cleanup_batch_size: z.number().int().min(1).max(10_000).default(100),
}).strict();

export type CleanupConfig = z.output<typeof cleanupConfigSchema>;

export function parseCleanupConfig(raw: Record<string, unknown>): CleanupConfig {
  const result = cleanupConfigSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(result.error, 'storage.cleanup'), { cause: result.error });
  return result.data;
}
