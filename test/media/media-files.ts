import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type SharpModule from 'sharp';

/**
 * Real media files made by the tests themselves: images by sharp, audio and video by ffmpeg
 * (tests that need those skip loudly where ffmpeg is missing; CI installs it).
 */

const run = promisify(execFile);

/**
 * The media libraries (sharp is an optional dependency; `npm ci` installs them all). Where one
 * is missing the media suites skip loudly instead of failing on an import.
 */
const libraries = await Promise.all(['sharp', 'thumbhash', 'image-size', 'music-metadata', 'mp4box'].map((name) => import(name).then(() => undefined, () => name)));
const missing = libraries.filter(Boolean);
export const NO_MEDIA_LIBRARIES: string | false = missing.length ? `SKIPPED: ${missing.join(', ')} not installed here (npm ci installs them)` : false;
if (NO_MEDIA_LIBRARIES) console.warn(NO_MEDIA_LIBRARIES);
export const sharp = (missing.length ? undefined : (await import('sharp')).default) as typeof SharpModule;

export async function pngImage(width: number, height: number, color = '#e0603a'): Promise<Buffer> {
  // A gradient, so the placeholder and the thumbnail have something to show.
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs><linearGradient id="g"><stop offset="0" stop-color="${color}"/><stop offset="1" stop-color="#2040c0"/></linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

export async function jpegImage(width: number, height: number): Promise<Buffer> {
  return sharp(await pngImage(width, height)).jpeg().toBuffer();
}

/** An animated WebP or GIF of `frames` frames. */
export async function animatedImage(format: 'webp' | 'gif', frames: number, size = 32): Promise<Buffer> {
  // Noise, so that no two frames are alike (encoders merge identical frames).
  const strip = sharp({ create: { width: size, height: size * frames, channels: 3, background: '#30a050', noise: { type: 'gaussian', mean: 128, sigma: 40 }, pageHeight: size } });
  return strip[format]({ effort: 1 }).toBuffer();
}

/** A PNG whose header declares `width` x `height`: a few hundred bytes that would decode to gigabytes. */
export async function decompressionBomb(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await pngImage(8, 8));
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  // The IHDR chunk's CRC covers its type and data.
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

function crc32(bytes: Uint8Array): number {
  let crc = ~0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

let ffmpeg: Promise<boolean> | undefined;
export function ffmpegAvailable(): Promise<boolean> {
  ffmpeg ??= run('ffmpeg', ['-version']).then(() => true, () => false);
  return ffmpeg;
}

export const NO_FFMPEG = 'SKIPPED: ffmpeg is not on PATH here (CI installs it: apt-get install ffmpeg)';

/** A small audio or video file made by ffmpeg's test sources. */
export async function ffmpegFile(dir: string, kind: 'wav' | 'mp3' | 'mp4' | 'webm'): Promise<Buffer> {
  const out = join(dir, `sample.${kind}`);
  const args: Record<typeof kind, string[]> = {
    wav: ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=22050:duration=1.5', '-ac', '2'],
    mp3: ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100:duration=1.5', '-c:a', 'libmp3lame', '-b:a', '64k'],
    mp4: ['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10:duration=1', '-pix_fmt', 'yuv420p', '-c:v', 'libx264'],
    webm: ['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10:duration=2', '-c:v', 'libvpx'],
  };
  await run('ffmpeg', ['-v', 'error', '-y', ...args[kind], out]);
  return readFile(out);
}
