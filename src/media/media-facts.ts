/** What the bytes of a media artifact say about it; absent for types with no media facts. */
export interface MediaFacts {
  width?: number;
  height?: number;
  /** The container or image format read from the bytes (`png`, `webp`, `mp4`, `webm`, `mp3`, `wav` ...). */
  format?: string;
  animated?: boolean;
  durationMs?: number;
  sampleRate?: number;
  channels?: number;
  codec?: string;
}

export type MediaKind = 'image' | 'video' | 'audio';

export const MEDIA_FACT_FIELDS = ['width', 'height', 'format', 'animated', 'durationMs', 'sampleRate', 'channels', 'codec'] as const;

/** The kind of media a content type holds, or undefined for everything else. */
export function mediaKind(contentType: string): MediaKind | undefined {
  if (contentType.startsWith('image/') && contentType !== 'image/svg+xml') return 'image';
  if (contentType.startsWith('video/')) return 'video';
  if (contentType.startsWith('audio/')) return 'audio';
  return undefined;
}

/** Only the fields that are set, so a reference carries no `undefined`s. */
export function compactFacts(facts: MediaFacts): MediaFacts | undefined {
  const out: Record<string, unknown> = {};
  for (const field of MEDIA_FACT_FIELDS) {
    const value = facts[field];
    if (value !== undefined && !(typeof value === 'number' && !Number.isFinite(value))) out[field] = value;
  }
  return Object.keys(out).length === 0 ? undefined : out as MediaFacts;
}
