import { join } from 'node:path';
import { NotFoundError, StorageError, ValidationError } from '../errors.ts';
import { assertSafeId } from '../keys.ts';
import { contentTypeForFileName } from '../content/content-types.ts';
import type { CatalogArtifact } from '../catalog/catalog.ts';
import type { ArtifactReference, VariantSummary } from '../manager/artifact-reference.ts';
import type { StorageManager } from '../manager/storage-manager.ts';
import type { MediaConfig, VariantSpec, VariantSpecInput } from './media-config.ts';
import { variantSpecSchema } from './media-config.ts';
import { mediaKind } from './media-facts.ts';
import { assertHeaderWithinLimits } from './image-guard.ts';
import type { ImageLimits } from './image-guard.ts';
import { openOriginal } from './original-source.ts';
import { FORMAT_CONTENT_TYPES, FORMAT_EXTENSIONS, renderImage } from './image-render.ts';
import { ffmpegMissing, hasFfmpeg, posterFrame } from './video-poster.ts';
import { formatIssues } from '../config/provider-config.ts';

/** A variant's file: `{name}.{extension}`, beside its original. */
export function variantFileName(spec: VariantSpec): string {
  return `${spec.name}.${FORMAT_EXTENSIONS[spec.format]}`;
}

/** The key of a file in the same artifact folder as `originalKey`. */
export function siblingKey(originalKey: string, fileName: string): string {
  return `${originalKey.slice(0, originalKey.lastIndexOf('/'))}/${fileName}`;
}

/** A variant's name: its file name without the extension. */
export function variantName(fileName: string): string {
  const dot = fileName.lastIndexOf('.');
  return dot > 0 ? fileName.slice(0, dot) : fileName;
}

export function parseVariantSpec(input: VariantSpecInput): VariantSpec {
  const result = variantSpecSchema.safeParse(input);
  if (!result.success) throw new ValidationError(formatIssues(result.error, 'variant'), { cause: result.error });
  if (result.data.name.startsWith('original')) throw new ValidationError('a variant name may not start with "original"; that name is the original\'s');
  return result.data;
}

export function imageLimits(config: MediaConfig): ImageLimits {
  return { maxPixels: config.transforms.max_pixels, maxFrames: config.transforms.max_frames };
}

export function summarizeVariant(variant: CatalogArtifact): VariantSummary {
  return {
    name: variantName(variant.variant), storageKey: variant.storageKey, contentType: variant.contentType, size: variant.size,
    ...(variant.media?.width === undefined ? {} : { width: variant.media.width }), ...(variant.media?.height === undefined ? {} : { height: variant.media.height }),
  };
}

/** Variants being made in this process, by key: a second request for one waits for the first. */
const inFlight = new Map<string, Promise<ArtifactReference>>();

/**
 * Make a variant of an image (or a poster frame of a video) with sharp and store it beside the
 * original; an existing variant of that name is returned as it is.
 */
export async function createVariant(storage: StorageManager, original: CatalogArtifact, spec: VariantSpec, options: { actor?: string; queue?: boolean } = {}): Promise<ArtifactReference> {
  if (original.originalKey) throw new ValidationError(`${original.storageKey} is a variant; make variants from its original ${original.originalKey}`);
  const fileName = variantFileName(spec);
  const key = siblingKey(original.storageKey, fileName);
  const running = inFlight.get(key);
  if (running) return running;
  const made = (async () => {
    if (await storage.catalog.get(key)) return storage.getArtifact(key);
    const made = await render(storage, original, spec, options.queue ?? true);
    return storage.storeVariantContent(original, fileName, FORMAT_CONTENT_TYPES[spec.format], made.data, options.actor, made.facts);
  })().finally(() => inFlight.delete(key));
  inFlight.set(key, made);
  return made;
}

/** Store a variant the caller made; the content type comes from the name's extension unless given. */
export async function storeVariant(storage: StorageManager, original: CatalogArtifact, name: string, content: Parameters<StorageManager['storeVariantContent']>[3], options: { contentType?: string; actor?: string } = {}): Promise<ArtifactReference> {
  if (original.originalKey) throw new ValidationError(`${original.storageKey} is a variant; store variants of its original ${original.originalKey}`);
  assertSafeId('name', name);
  if (name.startsWith('original')) throw new ValidationError('a variant name may not start with "original"; that name is the original\'s');
  const contentType = options.contentType ?? contentTypeForFileName(name);
  if (!contentType) throw new ValidationError(`give the variant name an extension (${name}.webp) or a contentType`);
  const fileName = /\.[A-Za-z0-9]+$/.test(name) ? name : `${name}.${contentType.split('/')[1]!.replace(/^jpeg$/, 'jpg')}`;
  const key = siblingKey(original.storageKey, fileName);
  if (await storage.catalog.get(key)) {
    throw new StorageError(`the variant ${fileName} of ${original.storageKey} exists; delete it first to replace it`, { code: 'CONFLICT' });
  }
  return storage.storeVariantContent(original, fileName, contentType, content, options.actor);
}

/** The variant of `original` called `name`: stored already, or made now from its preset. */
export async function variantByName(storage: StorageManager, config: MediaConfig, original: CatalogArtifact, name: string, options: { actor?: string } = {}): Promise<ArtifactReference> {
  if (original.originalKey) throw new NotFoundError(`${original.storageKey} is a variant; its variants are its original's`);
  const existing = (await storage.catalog.variantsOf([original.storageKey])).find((v) => variantName(v.variant) === name || v.variant === name);
  if (existing) return storage.getArtifact(existing.storageKey);
  const preset = config.variants[original.artifactType]?.find((spec) => spec.name === name);
  if (!preset) throw new NotFoundError(`${original.storageKey} has no variant ${name}, and artifact type ${original.artifactType} has no preset of that name`);
  return createVariant(storage, original, preset, { ...options, queue: false });
}

async function render(storage: StorageManager, original: CatalogArtifact, spec: VariantSpec, queue: boolean): Promise<Awaited<ReturnType<typeof renderImage>>> {
  const config = storage.mediaConfig;
  const limits = imageLimits(config);
  const kind = mediaKind(original.contentType);
  if (kind === 'image') {
    const media = original.media;
    // The facts recorded at store time refuse a bomb before a byte is read.
    if (media?.width !== undefined && media.height !== undefined) assertHeaderWithinPixels(media.width, media.height, limits);
    // Opened inside the slot: at most max_concurrent images are being decoded at once.
    // Facts recorded at store time say whether sharp must look at the header again (frames).
    const known = media?.width !== undefined && media.height !== undefined && media.animated === false;
    return storage.transformSlots.run(async () => {
      const source = await openOriginal(storage, original, limits);
      try {
        // sharp decodes on its own thread while the bytes are checked here; corrupt bytes discard
        // whatever the render did (and are the error to report, even when the render failed on them).
        const [rendered, verified] = await Promise.allSettled([renderImage(source.input, spec, limits, { inspected: known }), source.verified]);
        if (verified.status === 'rejected') throw verified.reason;
        if (rendered.status === 'rejected') throw rendered.reason;
        return rendered.value;
      } finally {
        await source.close();
      }
    }, { queue });
  }
  if (kind === 'video') {
    const ffmpeg = config.media.ffmpeg_path;
    if (!await hasFfmpeg(ffmpeg)) throw ffmpegMissing(ffmpeg);
    return storage.transformSlots.run(async () => {
      const frame = await posterFrame(await storage.openDownload(original.storageKey), join(storage.config.dataDir, 'tmp'), ffmpeg);
      await assertHeaderWithinLimits(frame, limits);
      return renderImage(frame, spec, limits, { inspected: false });
    }, { queue });
  }
  throw new ValidationError(`variants are made from images and videos, not ${original.contentType}; store one with storeVariant`);
}

function assertHeaderWithinPixels(width: number, height: number, limits: ImageLimits): void {
  if (width * height > limits.maxPixels) {
    throw new ValidationError(`the image is ${width}x${height} pixels, more than the ${limits.maxPixels} allowed (transforms.max_pixels); it is not decoded`, { code: 'MEDIA_TOO_LARGE', details: { width, height, limit: limits.maxPixels } });
  }
}
