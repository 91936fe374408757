// The library's schemas use Zod's v3 API (`zod/v3`, shipped inside zod 4 and kept there for good):
// zod 4's own API loads its core and 50 locale modules (a bare Node process grows by about 18 MB
// importing it, 5 MB importing v3, which also loads several times faster), for the same checks.
// The service's route schemas (src/server) stay on zod 4 for its JSON Schema output; both report
// issues the same way (see formatIssues).
import { z } from 'zod/v3';
import { DEFAULT_ALLOWED_CONTENT_TYPES } from '../content/content-types.ts';
import { ARTIFACT_FAMILIES, DEFAULT_ARTIFACT_TYPES } from '../content/artifact-types.ts';
import { clusterConfigSchema } from './cluster-config.ts';

const size = z.union([z.number().int().nonnegative(), z.string().min(1)]);
const oneOrMany = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

export const routingConditionSchema = z.object({
  artifact_type: oneOrMany.optional(),
  content_type: oneOrMany.optional(),
  size_gt: size.optional(),
  size_lt: size.optional(),
  tenant_id: oneOrMany.optional(),
}).strict();

/** Resilience around one provider: the layers its calls pass through. */
export const providerEntrySchema = z.object({
  type: z.string().min(1),
  config: z.record(z.string(), z.unknown()).default({}),
  /**
   * Each attempt of each operation, uploads included, fails after this long (ProviderUnavailableError).
   * Unset: 30 s for every operation but upload, whose total time is unbounded (see upload_idle_timeout_ms).
   */
  timeout_ms: z.number().int().min(1).max(86_400_000).optional(),
  /** An upload attempt fails when the provider takes no chunk, or gives no answer after the last, for this long (default 60 s). */
  upload_idle_timeout_ms: z.number().int().min(1).max(86_400_000).optional(),
  retry: z.object({
    /** Attempts in all, the first one included. */
    max_attempts: z.number().int().min(1).max(20).default(3),
    base_delay_ms: z.number().int().min(0).default(100),
    max_delay_ms: z.number().int().min(0).default(5_000),
    /** No attempt starts after this much time since the first. */
    max_total_ms: z.number().int().min(1).default(30_000),
  }).strict().optional(),
  circuit_breaker: z.object({
    /** Open after this many consecutive failures (default 5)... */
    failure_threshold: z.number().int().min(1).optional(),
    /** ...or when this share of calls (0-1) fails within window_ms, given min_requests calls. */
    error_rate: z.number().gt(0).lt(1).optional(),
    window_ms: z.number().int().min(100).default(60_000),
    min_requests: z.number().int().min(1).default(10),
    /** Time open before one probe call is let through. */
    reset_timeout_ms: z.number().int().min(1).default(30_000),
  }).strict().optional(),
  /** Where writes go when this provider is down (breaker open or retries exhausted). */
  fallback: z.string().min(1).optional(),
  /** Providers that receive a copy of every artifact stored here (queued durably, copied after the write). */
  mirrors: z.array(z.string().min(1)).default([]),
  /** Spool one-shot streams to a temporary file first, so that they can be retried and failed over. */
  spool: z.boolean().default(false),
  /**
   * Check every whole read from this provider against the recorded SHA-256 as the bytes pass (a
   * corrupt copy fails with CorruptionError before its last byte). Ranged reads cannot be checked.
   */
  verify_reads: z.boolean().default(true),
}).strict();

/** The object under `storage:` in YAML, as users write it. */
export const storageConfigSchema = z.object({
  default_provider: z.string().min(1).default('local'),
  // Optional: without providers, the embedded default (local disk under data_dir) is added before parsing.
  providers: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'provider names are letters, digits, "_" and "-"'), providerEntrySchema).default({}),
  routing_rules: z.array(z.object({ condition: routingConditionSchema.optional(), provider: z.string().min(1) }).strict()).default([]),
  max_file_size: size.default('5GB'),
  allowed_content_types: z.array(z.string().min(1)).min(1).default([...DEFAULT_ALLOWED_CONTENT_TYPES]),
  /** Artifact type -> the family of content it holds (image, video, audio, text, model, any); replaces the default list. */
  artifact_types: z.record(z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'artifact types are letters, digits, ".", "_" and "-"'), z.enum(ARTIFACT_FAMILIES))
    .refine((types) => Object.keys(types).length > 0, 'list at least one artifact type')
    .default({ ...DEFAULT_ARTIFACT_TYPES }),
  /** Where the service keeps its own state: signing secret, SQLite catalog, default local files. */
  data_dir: z.string().min(1).default('.boards-storage'),
  /** HMAC secret for the local provider's signed URLs; generated into data_dir when absent. */
  signing_secret: z.string().min(32, 'use at least 32 characters').optional(),
  database_url: z.string().min(1).optional(),
  /** How long a deleted artifact stays in the trash (undeletable) before the cleanup task purges it: `7d`, `12h`, seconds; 0 turns the trash off. */
  trash_retention: z.union([z.number().nonnegative(), z.string().min(1)]).default('7d'),
  // The sections below belong to the server, auth and lifecycle; they are checked where they are used.
  server: z.record(z.string(), z.unknown()).default({}),
  auth: z.record(z.string(), z.unknown()).default({}),
  cleanup: z.record(z.string(), z.unknown()).default({}),
  /** The background scrub (see src/config/scrub-config.ts). */
  scrub: z.record(z.string(), z.unknown()).default({}),
  generation: z.record(z.string(), z.unknown()).default({}),
  /** Per-tenant limits on stored bytes and artifacts (see src/quotas). */
  quotas: z.record(z.string(), z.unknown()).default({}),
  /** Event receivers (see src/webhooks). */
  webhooks: z.array(z.unknown()).default([]),
  /** Redis (`redis://host:6379`): rate-limit counters and cache invalidations shared by every node. */
  redis_url: z.string().min(1).optional(),
  /** Several nodes on one catalog: the leader lease and background health polls (src/config/cluster-config.ts). */
  cluster: clusterConfigSchema.default({ lease_ttl: '15s', health_interval: '5s' }),
  /** Media analysis, variant presets per artifact type, on-the-fly transforms (src/media/media-config.ts). */
  media: z.record(z.string(), z.unknown()).default({}),
  variants: z.record(z.string(), z.unknown()).default({}),
  transforms: z.record(z.string(), z.unknown()).default({}),
}).strict();

export type StorageConfigInput = z.input<typeof storageConfigSchema>;
export type RawStorageConfig = z.output<typeof storageConfigSchema>;
