import type { Metadata } from 'sharp';
import { StorageError, ValidationError } from '../errors.ts';
import type { MediaFacts } from './media-facts.ts';
import { imageHeaderFacts } from './image-header.ts';
import { loadSharp } from './sharp-loader.ts';

export interface ImageLimits {
  /** Declared width x height above this is refused before any decoding. */
  maxPixels: number;
  /** Animated images with more frames than this are refused. */
  maxFrames: number;
}

/**
 * The checks a hostile image must pass before it is decoded: its header's dimensions (a
 * decompression bomb declares huge ones in a few bytes), then sharp's header read for the frame
 * count. Throws a ValidationError (422) that says what was wrong; returns the metadata.
 */
export async function inspectImage(bytes: Uint8Array, limits: ImageLimits): Promise<Metadata> {
  await assertHeaderWithinLimits(bytes, limits);
  return assertFramesWithinLimits(bytes, limits);
}

/**
 * sharp's read of the header (no decoding): pixels per frame and the frame count within limits.
 * For an image whose first bytes passed assertHeaderWithinLimits already (a file sharp reads itself).
 */
export async function assertFramesWithinLimits(input: Uint8Array | string, limits: ImageLimits): Promise<Metadata> {
  const sharp = await loadSharp();
  let meta: Metadata;
  try {
    meta = await sharp(input, { limitInputPixels: limits.maxPixels }).metadata();
  } catch (error) {
    throw imageError(error);
  }
  const pixels = (meta.width ?? 0) * (meta.pageHeight ?? meta.height ?? 0);
  if (pixels > limits.maxPixels) throw tooManyPixels(meta.width ?? 0, meta.pageHeight ?? meta.height ?? 0, limits.maxPixels);
  if ((meta.pages ?? 1) > limits.maxFrames) {
    throw new ValidationError(`the image has ${meta.pages} frames, more than the ${limits.maxFrames} allowed (transforms.max_frames)`, { code: 'MEDIA_TOO_LARGE', details: { frames: meta.pages, limit: limits.maxFrames } });
  }
  return meta;
}

/** The header check alone: cheap enough to run on the first bytes before the rest is read. */
export async function assertHeaderWithinLimits(head: Uint8Array, limits: ImageLimits): Promise<MediaFacts | undefined> {
  const facts = await imageHeaderFacts(head);
  if (facts?.width !== undefined && facts.height !== undefined && facts.width * facts.height > limits.maxPixels) {
    throw tooManyPixels(facts.width, facts.height, limits.maxPixels);
  }
  return facts;
}

/** A decoding failure as what it is: bytes that are not a whole, readable image (422). */
export function imageError(error: unknown): StorageError {
  if (error instanceof StorageError) return error;
  const message = (error as Error)?.message ?? String(error);
  if (/pixel limit/i.test(message)) {
    return new ValidationError('the image has more pixels than transforms.max_pixels allows', { code: 'MEDIA_TOO_LARGE', cause: error });
  }
  return new ValidationError(`the image cannot be decoded (truncated, corrupt or an unsupported format): ${message.split('\n', 1)[0]}`, { code: 'MEDIA_UNREADABLE', cause: error });
}

function tooManyPixels(width: number, height: number, limit: number): ValidationError {
  return new ValidationError(`the image declares ${width}x${height} pixels, more than the ${limit} allowed (transforms.max_pixels); it is not decoded`, { code: 'MEDIA_TOO_LARGE', details: { width, height, limit } });
}
