import { loadSharp } from './sharp-loader.ts';

/** ThumbHash encodes at most 100x100 pixels. */
const PLACEHOLDER_PIXELS = 100;

/**
 * A ThumbHash of the image, base64: about 25 bytes (at most 36 characters) that a gallery decodes
 * into a blurred preview with the image's colours and aspect ratio before the thumbnail arrives.
 * The image is shrunk while it is decoded (JPEG and WebP shrink on load), so this reads it once.
 */
export async function imagePlaceholder(bytes: Uint8Array, maxPixels: number): Promise<string> {
  const sharp = await loadSharp();
  const { rgbaToThumbHash } = await import('thumbhash');
  const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels, sequentialRead: true })
    .rotate()
    .resize(PLACEHOLDER_PIXELS, PLACEHOLDER_PIXELS, { fit: 'inside' })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return Buffer.from(rgbaToThumbHash(info.width, info.height, data)).toString('base64');
}
