import type { Readable } from 'node:stream';
import type { MediaFacts, MediaKind } from './media-facts.ts';
import { compactFacts } from './media-facts.ts';

/**
 * Audio facts (and video facts of Matroska/WebM and other containers) read by music-metadata
 * from a stream: it reads the headers it needs and skips the rest.
 */
export async function containerFacts(stream: Readable, contentType: string, kind: MediaKind): Promise<MediaFacts | undefined> {
  const { parseStream } = await import('music-metadata');
  const { format } = await parseStream(stream, { mimeType: contentType }, { duration: true, skipCovers: true, skipPostHeaders: true });
  const video = format.trackInfo.find((t) => t.video)?.video;
  const codec = format.codec ?? format.trackInfo[0]?.codecName;
  return compactFacts({
    ...(kind === 'video' && video ? { width: video.pixelWidth ?? video.displayWidth, height: video.pixelHeight ?? video.displayHeight } : {}),
    ...(format.container ? { format: containerName(format.container) } : {}),
    ...(format.duration !== undefined ? { durationMs: Math.round(format.duration * 1000) } : {}),
    ...(kind === 'audio' ? { sampleRate: format.sampleRate, channels: format.numberOfChannels } : {}),
    ...(codec ? { codec } : {}),
  });
}

/** music-metadata's container names (`EBML/webm`, `MPEG`, `WAVE`) as short format names. */
function containerName(container: string): string {
  const c = container.toLowerCase();
  if (c.includes('webm')) return 'webm';
  if (c.includes('matroska')) return 'mkv';
  if (c === 'mpeg') return 'mp3';
  if (c === 'wave') return 'wav';
  if (c.includes('ogg')) return 'ogg';
  if (c.includes('flac')) return 'flac';
  return c.split('/', 1)[0]!;
}
