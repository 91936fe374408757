import type { MediaFacts } from './media-facts.ts';

/**
 * Image facts from the first bytes alone (image-size reads only the header), so they cost no
 * decoding and no memory beyond the head: what is known before an image is decoded, and what is
 * recorded for images too large to decode at store time.
 */
export async function imageHeaderFacts(head: Uint8Array): Promise<MediaFacts | undefined> {
  // Loaded on first use, like every media library: importing the manager loads none of them.
  const { imageSize } = await import('image-size');
  let size: ReturnType<typeof imageSize>;
  try {
    size = imageSize(head);
  } catch {
    return undefined; // not an image format image-size knows, or the header is cut short
  }
  const rotated = size.orientation !== undefined && size.orientation >= 5;
  const animated = headerSaysAnimated(head);
  return {
    width: rotated ? size.height : size.width,
    height: rotated ? size.width : size.height,
    ...(size.type ? { format: size.type === 'jpg' ? 'jpeg' : size.type } : {}),
    ...(animated === undefined ? {} : { animated }),
  };
}

/**
 * Whether the header declares an animation: an APNG's `acTL` chunk comes before its first `IDAT`,
 * an animated WebP sets the animation flag of its `VP8X` chunk. Undefined where the header cannot
 * tell (a GIF's frames are counted by decoding it).
 */
export function headerSaysAnimated(head: Uint8Array): boolean | undefined {
  const bytes = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (bytes.length >= 16 && bytes.readUInt32BE(0) === 0x89504e47) {
    // PNG chunks: length, type, data, CRC.
    for (let at = 8; at + 8 <= bytes.length;) {
      const length = bytes.readUInt32BE(at);
      const type = bytes.toString('latin1', at + 4, at + 8);
      if (type === 'acTL') return true;
      if (type === 'IDAT') return false;
      at += 12 + length;
    }
    return undefined;
  }
  if (bytes.length >= 21 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') {
    if (bytes.toString('latin1', 12, 16) !== 'VP8X') return false;
    return (bytes[20]! & 0x02) !== 0;
  }
  return undefined;
}
