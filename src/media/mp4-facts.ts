import type { MediaFacts } from './media-facts.ts';
import { compactFacts } from './media-facts.ts';

/** The boxes the facts live in; everything else (the media data above all) is skipped. */
const KEPT = new Set(['ftyp', 'moov']);
/** A `moov` larger than this is not kept (hours of video have an index of a few MB). */
const MAX_KEPT_BOX = 32 * 1024 * 1024;

/**
 * Walks the top-level boxes of an MP4/QuickTime stream as it passes and keeps only `ftyp` and
 * `moov`, whichever end of the file the index is at, so memory is the index's size, not the
 * video's.
 */
export class Mp4Boxes {
  private header: Buffer = Buffer.alloc(0);
  /** Bytes of the current box still to come; Infinity for a box that runs to the end. */
  private remaining = 0;
  private inBox = false;
  private keeping: Buffer[] | undefined;
  private readonly boxes: Buffer[] = [];
  private hasMoov = false;
  private broken = false;

  push(chunk: Uint8Array): void {
    let data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (data.length > 0 && !this.broken && !this.hasMoov) {
      if (this.inBox) {
        const take = Math.min(this.remaining, data.length);
        if (this.keeping) this.keeping.push(Buffer.from(data.subarray(0, take)));
        this.remaining -= take;
        data = data.subarray(take);
        if (this.remaining === 0) this.endBox();
        continue;
      }
      const take = Math.min(16 - this.header.length, data.length);
      this.header = Buffer.concat([this.header, data.subarray(0, take)]);
      data = data.subarray(take);
      const leftover = this.startBox();
      // Header bytes past this box's header are its body (or the next box's header).
      if (leftover && leftover.length > 0) data = data.length > 0 ? Buffer.concat([leftover, data]) : leftover;
    }
  }

  /** ftyp + moov, when the index was found. */
  kept(): Buffer | undefined {
    return this.hasMoov ? Buffer.concat(this.boxes) : undefined;
  }

  clear(): void {
    this.boxes.length = 0;
    this.keeping = undefined;
    this.broken = true;
  }

  /** Start a box from the header bytes collected; undefined while more are needed. */
  private startBox(): Buffer | undefined {
    const h = this.header;
    if (h.length < 8) return undefined;
    let size = h.readUInt32BE(0);
    const type = h.toString('latin1', 4, 8);
    let headerLength = 8;
    if (size === 1) {
      if (h.length < 16) return undefined;
      size = Number(h.readBigUInt64BE(8));
      headerLength = 16;
    }
    if (size !== 0 && size < headerLength) {
      this.broken = true; // not an ISO box structure: no facts
      return undefined;
    }
    this.header = Buffer.alloc(0);
    this.inBox = true;
    this.remaining = size === 0 ? Infinity : size - headerLength;
    this.keeping = KEPT.has(type) && size !== 0 && size <= MAX_KEPT_BOX ? [Buffer.from(h.subarray(0, headerLength))] : undefined;
    if (type === 'moov' && !this.keeping) this.broken = true;
    if (this.remaining === 0) this.endBox();
    return h.subarray(headerLength);
  }

  private endBox(): void {
    this.inBox = false;
    if (this.keeping) this.closeBox();
  }

  private closeBox(): void {
    const box = Buffer.concat(this.keeping!);
    this.keeping = undefined;
    this.boxes.push(box);
    if (box.toString('latin1', 4, 8) === 'moov') this.hasMoov = true;
  }
}

/** Duration, dimensions and codec from `ftyp` + `moov`, read by mp4box.js. */
export async function mp4Facts(boxes: Buffer): Promise<MediaFacts | undefined> {
  const { createFile, MP4BoxBuffer } = await import('mp4box');
  const file = createFile();
  let movie: Parameters<NonNullable<typeof file.onReady>>[0] | undefined;
  file.onReady = (info) => { movie = info; };
  file.onError = () => undefined;
  const copy = boxes.buffer.slice(boxes.byteOffset, boxes.byteOffset + boxes.byteLength);
  file.appendBuffer(MP4BoxBuffer.fromArrayBuffer(copy, 0));
  file.flush();
  if (!movie) return undefined;
  const video = movie.videoTracks[0];
  const audio = movie.audioTracks[0];
  const track = video ?? audio;
  const brand = movie.brands[0]?.trim();
  return compactFacts({
    ...(video ? { width: video.video?.width ?? video.track_width, height: video.video?.height ?? video.track_height } : {}),
    format: brand === 'qt' ? 'mov' : 'mp4',
    ...(movie.timescale > 0 && movie.duration > 0 ? { durationMs: Math.round((movie.duration / movie.timescale) * 1000) } : {}),
    ...(track ? { codec: track.codec } : {}),
    ...(!video && audio?.audio ? { sampleRate: audio.audio.sample_rate, channels: audio.audio.channel_count } : {}),
  });
}
