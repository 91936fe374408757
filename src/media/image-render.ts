import type { FormatEnum } from 'sharp';
import type { ImageLimits } from './image-guard.ts';
import { imageError, inspectImage } from './image-guard.ts';
import type { VariantFormat, VariantSpec } from './media-config.ts';
import { loadSharp } from './sharp-loader.ts';

export const FORMAT_CONTENT_TYPES: Record<VariantFormat, string> = { webp: 'image/webp', avif: 'image/avif', jpeg: 'image/jpeg', png: 'image/png' };
export const FORMAT_EXTENSIONS: Record<VariantFormat, string> = { webp: 'webp', avif: 'avif', jpeg: 'jpg', png: 'png' };

/**
 * One variant of an image with sharp: the image is checked first (declared pixels, frames), then
 * decoded once, oriented, resized (never enlarged) and encoded. An animation gives its first frame.
 */
export async function renderImage(bytes: Uint8Array, spec: VariantSpec, limits: ImageLimits): Promise<Buffer> {
  await inspectImage(bytes, limits);
  const sharp = await loadSharp();
  try {
    let image = sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'truncated', sequentialRead: true }).rotate();
    if (spec.width !== undefined || spec.height !== undefined) {
      image = image.resize({ ...(spec.width ? { width: spec.width } : {}), ...(spec.height ? { height: spec.height } : {}), fit: spec.fit, withoutEnlargement: true });
    }
    return await image.toFormat(spec.format as keyof FormatEnum, spec.quality === undefined ? {} : { quality: spec.quality }).toBuffer();
  } catch (error) {
    throw imageError(error);
  }
}
