import type { FormatEnum, SharpOptions } from 'sharp';
import type { ImageLimits } from './image-guard.ts';
import { assertFramesWithinLimits, imageError } from './image-guard.ts';
import type { VariantFormat, VariantSpec } from './media-config.ts';
import { loadSharp } from './sharp-loader.ts';
import type { MediaFacts } from './media-facts.ts';

export const FORMAT_CONTENT_TYPES: Record<VariantFormat, string> = { webp: 'image/webp', avif: 'image/avif', jpeg: 'image/jpeg', png: 'image/png' };
export const FORMAT_EXTENSIONS: Record<VariantFormat, string> = { webp: 'webp', avif: 'avif', jpeg: 'jpg', png: 'png' };

/** How sharp opens an original for a transform: the pixel limit, truncation refused, one pass. */
export function transformInputOptions(limits: ImageLimits): SharpOptions {
  return { limitInputPixels: limits.maxPixels, failOn: 'truncated', sequentialRead: true };
}

/**
 * One variant of an image with sharp, from its bytes or from a file sharp reads itself: the image
 * is checked first (its first bytes' declared pixels by the caller, with assertHeaderWithinLimits;
 * pixels per frame and frames here, unless a still image's recorded facts stand for them), then
 * decoded once, oriented, resized (never enlarged) and encoded. An animation gives its first frame.
 */
export async function renderImage(input: Uint8Array | string, spec: VariantSpec, limits: ImageLimits, options: { inspected: boolean }): Promise<{ data: Buffer; facts: MediaFacts }> {
  // Without facts recorded at store time (a still image within max_pixels), sharp reads the header first.
  if (!options.inspected) await assertFramesWithinLimits(input, limits);
  const sharp = await loadSharp();
  try {
    let image = sharp(input, transformInputOptions(limits)).rotate();
    if (spec.width !== undefined || spec.height !== undefined) {
      image = image.resize({ ...(spec.width ? { width: spec.width } : {}), ...(spec.height ? { height: spec.height } : {}), fit: spec.fit, withoutEnlargement: true });
    }
    const { data, info } = await image.toFormat(spec.format as keyof FormatEnum, spec.quality === undefined ? {} : { quality: spec.quality }).toBuffer({ resolveWithObject: true });
    // What sharp made is known: the store need not read it again.
    return { data, facts: { width: info.width, height: info.height, format: spec.format, animated: false } };
  } catch (error) {
    throw imageError(error);
  }
}
