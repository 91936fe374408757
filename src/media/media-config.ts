import { z } from 'zod/v3';
import { ConfigError } from '../errors.ts';
import { formatIssues } from '../config/provider-config.ts';

/**
 * The `media:`, `variants:` and `transforms:` sections: analysis at store time, placeholders,
 * variant presets per artifact type and the limits of on-the-fly transforms. Parsed once when the
 * manager is created.
 */

export const VARIANT_FORMATS = ['webp', 'avif', 'jpeg', 'png'] as const;
export type VariantFormat = typeof VARIANT_FORMATS[number];
export const VARIANT_FITS = ['cover', 'contain', 'fill', 'inside', 'outside'] as const;
export type VariantFit = typeof VARIANT_FITS[number];

const dimension = z.number().int().min(1).max(16_384);

export const variantSpecSchema = z.object({
  /** The variant's file name without extension: `thumb_256` becomes `thumb_256.webp`. */
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a variant name is 1-64 letters, digits, "_" and "-"'),
  width: dimension.optional(),
  height: dimension.optional(),
  /** How the image fits width x height (sharp's fit); default `inside` (never cropped or enlarged). */
  fit: z.enum(VARIANT_FITS).default('inside'),
  format: z.enum(VARIANT_FORMATS).default('webp'),
  quality: z.number().int().min(1).max(100).optional(),
}).strict();

export type VariantSpecInput = z.input<typeof variantSpecSchema>;
export type VariantSpec = z.output<typeof variantSpecSchema>;

export const mediaSectionSchema = z.object({
  /** Read media facts from the bytes while they stream in. */
  analyze: z.boolean().default(true),
  /** Facts a caller supplies that disagree with the bytes: `correct` them (logged) or `refuse` the store. */
  caller_facts: z.enum(['correct', 'refuse']).default('correct'),
  /** A ThumbHash placeholder for images (needs sharp). */
  placeholder: z.boolean().default(true),
  /**
   * Images up to this many bytes are decoded at store time for the placeholder and the frame
   * count; larger ones get the facts their header holds. Bounds the memory a store may use.
   */
  analysis_max_bytes: z.number().int().min(1024).max(512 * 1024 * 1024).default(32 * 1024 * 1024),
  /** The ffmpeg that takes video poster frames; without it video variants are skipped. */
  ffmpeg_path: z.string().min(1).default('ffmpeg'),
  /**
   * Each store starts a background pass over the variant queue. Off: jobs wait for a worker
   * (startVariantTask, the server's task, or flushVariants), e.g. in a process of their own.
   */
  background_variants: z.boolean().default(true),
  /** Background variant jobs made at once by one process. */
  variant_concurrency: z.number().int().min(1).max(64).default(2),
}).strict();

/** Variant presets per artifact type, made in the background after a store and on demand. */
export const variantsSectionSchema = z.record(z.string().regex(/^[A-Za-z0-9._-]{1,128}$/), z.array(variantSpecSchema));

export const transformsSectionSchema = z.object({
  /** On-the-fly transforms over HTTP (`?width=...`); preset variants (`?variant=`) are always served. */
  enabled: z.boolean().default(true),
  /** Requested widths and heights are rounded up to one of these (the largest caps them). */
  allowed_sizes: z.array(dimension).min(1).default([64, 128, 256, 512, 1024, 2048]),
  /** Qualities are rounded to the nearest of these. */
  allowed_qualities: z.array(z.number().int().min(1).max(100)).min(1).default([50, 75, 90]),
  /** Images declaring more pixels than this (width x height) are refused before decoding. */
  max_pixels: z.number().int().min(1).default(40_000_000),
  /** Animated images with more frames than this are refused. */
  max_frames: z.number().int().min(1).default(500),
  /** Image transforms (on the fly, on demand, in the background) running at once; more wait in line. */
  max_concurrent: z.number().int().min(1).max(256).default(4),
  /** Transforms waiting for a slot; past this a request is refused with a 503 and Retry-After. */
  max_queue: z.number().int().min(0).default(64),
}).strict();

export interface MediaConfig {
  media: z.output<typeof mediaSectionSchema>;
  variants: Record<string, VariantSpec[]>;
  transforms: z.output<typeof transformsSectionSchema>;
}

export function parseMediaConfig(raw: { media?: unknown; variants?: unknown; transforms?: unknown }): MediaConfig {
  const config: MediaConfig = {
    media: parseSection(mediaSectionSchema, raw.media, 'storage.media'),
    variants: parseSection(variantsSectionSchema, raw.variants, 'storage.variants'),
    transforms: parseSection(transformsSectionSchema, raw.transforms, 'storage.transforms'),
  };
  for (const [type, specs] of Object.entries(config.variants)) {
    const names = new Set<string>();
    for (const spec of specs) {
      if (names.has(spec.name)) throw new ConfigError(`storage.variants.${type}: the name ${spec.name} is used twice`);
      if (spec.name.startsWith('original')) throw new ConfigError(`storage.variants.${type}: ${spec.name}: names starting with "original" are the original's`);
      names.add(spec.name);
    }
  }
  return config;
}

function parseSection<S extends z.ZodType>(schema: S, raw: unknown, path: string): z.output<S> {
  const result = schema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(formatIssues(result.error, path), { cause: result.error });
  return result.data;
}
