import { z } from 'zod';
import { DEFAULT_ALLOWED_CONTENT_TYPES } from '../content/content-types.ts';

const size = z.union([z.number().int().nonnegative(), z.string().min(1)]);
const oneOrMany = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

export const routingConditionSchema = z.object({
  artifact_type: oneOrMany.optional(),
  content_type: oneOrMany.optional(),
  size_gt: size.optional(),
  size_lt: size.optional(),
  tenant_id: oneOrMany.optional(),
}).strict();

export const providerEntrySchema = z.object({
  type: z.string().min(1),
  config: z.record(z.string(), z.unknown()).default({}),
}).strict();

/** The object under `storage:` in YAML, as users write it. */
export const storageConfigSchema = z.object({
  default_provider: z.string().min(1).default('local'),
  providers: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'provider names are letters, digits, "_" and "-"'), providerEntrySchema),
  routing_rules: z.array(z.object({ condition: routingConditionSchema.optional(), provider: z.string().min(1) }).strict()).default([]),
  max_file_size: size.default('5GB'),
  allowed_content_types: z.array(z.string().min(1)).min(1).default([...DEFAULT_ALLOWED_CONTENT_TYPES]),
  /** Where the service keeps its own state: signing secret, SQLite catalog, default local files. */
  data_dir: z.string().min(1).default('.boards-storage'),
  /** HMAC secret for the local provider's signed URLs; generated into data_dir when absent. */
  signing_secret: z.string().min(32, 'use at least 32 characters').optional(),
  database_url: z.string().min(1).optional(),
  // The sections below belong to the server, auth and lifecycle; they are checked where they are used.
  server: z.record(z.string(), z.unknown()).default({}),
  auth: z.record(z.string(), z.unknown()).default({}),
  cleanup: z.record(z.string(), z.unknown()).default({}),
  generation: z.record(z.string(), z.unknown()).default({}),
}).strict();

export type StorageConfigInput = z.input<typeof storageConfigSchema>;
export type RawStorageConfig = z.output<typeof storageConfigSchema>;
