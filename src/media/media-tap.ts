import { PassThrough } from 'node:stream';
import type { MediaFacts, MediaKind } from './media-facts.ts';
import { compactFacts, mediaKind } from './media-facts.ts';
import { imageHeaderFacts } from './image-header.ts';
import { inspectImage } from './image-guard.ts';
import { imagePlaceholder } from './placeholder.ts';
import { hasSharp } from './sharp-loader.ts';
import { Mp4Boxes, mp4Facts } from './mp4-facts.ts';
import { containerFacts } from './container-facts.ts';

/** Enough of an image's head for every header image-size reads. */
const HEAD_BYTES = 256 * 1024;

export interface MediaTapOptions {
  /** Images up to this size are kept (in memory) for decoding; larger ones keep only their head. */
  analysisMaxBytes: number;
  placeholder: boolean;
  maxPixels: number;
  maxFrames: number;
}

/**
 * Reads the media facts of content as it streams past, without holding it up: `observe` sees each
 * chunk (and returns a promise only when a parser asks the stream to wait), `finish` gives the
 * facts once the content has ended, `placeholder` the image placeholder. Analysis never fails a
 * store: bytes it cannot read give no facts.
 */
export interface MediaTap {
  observe(chunk: Uint8Array): Promise<void> | undefined;
  finish(): Promise<MediaFacts | undefined>;
  /** After finish: the placeholder of an image (undefined for anything else, or when it cannot be made). */
  placeholder(): Promise<string | undefined>;
  /** The content failed: stop parsing, free what was kept. */
  abort(): void;
}

export function createMediaTap(contentType: string, options: MediaTapOptions): MediaTap | undefined {
  const kind = mediaKind(contentType);
  if (!kind) return undefined;
  if (kind === 'image') return new ImageTap(options);
  if (contentType === 'video/mp4' || contentType === 'video/quicktime') return new Mp4Tap();
  return new ContainerTap(contentType, kind);
}

/**
 * Images: the whole image is kept (up to analysisMaxBytes) for sharp, which gives the frame
 * count and the placeholder; a larger image keeps its head for the header facts.
 */
class ImageTap implements MediaTap {
  private chunks: Uint8Array[] | undefined = [];
  private head: Uint8Array[] = [];
  private headBytes = 0;
  private bytes = 0;
  private whole: Uint8Array | undefined;
  private facts: MediaFacts | undefined;
  private readonly options: MediaTapOptions;

  constructor(options: MediaTapOptions) {
    this.options = options;
  }

  observe(chunk: Uint8Array): undefined {
    this.bytes += chunk.length;
    if (this.headBytes < HEAD_BYTES) {
      this.head.push(chunk);
      this.headBytes += chunk.length;
    }
    if (this.chunks) {
      if (this.bytes <= this.options.analysisMaxBytes) this.chunks.push(chunk);
      else this.chunks = undefined;
    }
    return undefined;
  }

  async finish(): Promise<MediaFacts | undefined> {
    // Media facts are best effort: a header the parser cannot read stores the artifact without them.
    const header = await imageHeaderFacts(Buffer.concat(this.head)).catch(() => undefined);
    this.head = [];
    const chunks = this.chunks;
    this.chunks = undefined;
    if (chunks && await hasSharp()) {
      const whole = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      try {
        const meta = await inspectImage(whole, { maxPixels: this.options.maxPixels, maxFrames: Number.MAX_SAFE_INTEGER });
        const rotated = (meta.orientation ?? 1) >= 5;
        const height = meta.pageHeight ?? meta.height;
        this.facts = compactFacts({
          width: rotated ? height : meta.width,
          height: rotated ? meta.width : height,
          format: meta.format === 'heif' && meta.compression === 'av1' ? 'avif' : meta.format,
          animated: (meta.pages ?? 1) > 1,
        });
        this.whole = whole;
        return this.facts;
      } catch {
        // Too many pixels to decode, or bytes sharp cannot read: what the header says, no placeholder.
      }
    }
    this.facts = header ? compactFacts(header) : undefined;
    return this.facts;
  }

  async placeholder(): Promise<string | undefined> {
    const whole = this.whole;
    this.whole = undefined;
    if (!whole || !this.options.placeholder) return undefined;
    try {
      return await imagePlaceholder(whole, this.options.maxPixels);
    } catch {
      return undefined;
    }
  }

  abort(): void {
    this.chunks = undefined;
    this.head = [];
    this.whole = undefined;
  }
}

/** MP4 and QuickTime: only the `moov` box (the index, a small part of the file) is kept and parsed. */
class Mp4Tap implements MediaTap {
  private readonly boxes = new Mp4Boxes();

  observe(chunk: Uint8Array): undefined {
    this.boxes.push(chunk);
    return undefined;
  }

  async finish(): Promise<MediaFacts | undefined> {
    const kept = this.boxes.kept();
    return kept ? mp4Facts(kept) : undefined;
  }

  async placeholder(): Promise<undefined> {
    return undefined;
  }

  abort(): void {
    this.boxes.clear();
  }
}

/** Most a parser may fall behind before the store waits for it. */
const PARSER_BACKLOG = 4 * 1024 * 1024;

/** Audio, WebM and other containers: music-metadata reads a copy of the stream as it passes. */
class ContainerTap implements MediaTap {
  private readonly input = new PassThrough({ highWaterMark: PARSER_BACKLOG });
  private readonly result: Promise<MediaFacts | undefined>;
  private done = false;
  private drained: (() => void) | undefined;

  constructor(contentType: string, kind: MediaKind) {
    // Best effort, as for image headers: a container the parser cannot read gives no facts.
    this.result = containerFacts(this.input, contentType, kind).catch(() => undefined).finally(() => {
      // The parser has what it needs (or gave up): the rest of the content passes untouched.
      this.done = true;
      this.drained?.();
      this.input.destroy();
    });
  }

  observe(chunk: Uint8Array): Promise<void> | undefined {
    if (this.done) return undefined;
    if (this.input.write(chunk)) return undefined;
    return new Promise<void>((resolve) => {
      this.drained = resolve;
      this.input.once('drain', () => { this.drained = undefined; resolve(); });
    });
  }

  async finish(): Promise<MediaFacts | undefined> {
    if (!this.done) this.input.end();
    return this.result;
  }

  async placeholder(): Promise<undefined> {
    return undefined;
  }

  abort(): void {
    this.done = true;
    this.input.destroy();
  }
}
