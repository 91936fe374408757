import type * as ChildProcessModule from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { StorageError, ValidationError } from '../errors.ts';

/** A poster frame larger than this (PNG of one frame) is refused: no 8K video needs more. */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;
const FFMPEG_TIMEOUT_MS = 60_000;

const available = new Map<string, Promise<boolean>>();

/** Whether `ffmpeg` runs here (checked once per path). */
export function hasFfmpeg(path: string): Promise<boolean> {
  let known = available.get(path);
  if (!known) {
    known = new Promise<boolean>((resolve) => {
      const child = childProcess().spawn(path, ['-version'], { stdio: 'ignore' });
      child.once('error', () => resolve(false));
      child.once('exit', (code) => resolve(code === 0));
    });
    available.set(path, known);
  }
  return known;
}

export function ffmpegMissing(path: string): StorageError {
  return new StorageError(`video variants need ffmpeg, and "${path}" is not on PATH here; install ffmpeg (Debian: apt-get install ffmpeg) or set media.ffmpeg_path`, { code: 'NOT_SUPPORTED' });
}

/**
 * The first frame of a video as PNG bytes, by ffmpeg. The video is copied to a temporary file
 * first: an MP4 whose index is at its end cannot be read from a pipe.
 */
export async function posterFrame(video: Readable, tempDir: string, ffmpegPath: string): Promise<Buffer> {
  await mkdir(tempDir, { recursive: true });
  const file = join(tempDir, `poster-${randomUUID()}`);
  try {
    await pipeline(video, createWriteStream(file));
    return await firstFrame(ffmpegPath, file);
  } finally {
    await rm(file, { force: true });
  }
}

function firstFrame(ffmpegPath: string, file: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = childProcess().spawn(ffmpegPath, ['-v', 'error', '-nostdin', '-i', file, '-frames:v', '1', '-an', '-f', 'image2pipe', '-c:v', 'png', 'pipe:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let bytes = 0;
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), FFMPEG_TIMEOUT_MS);
    child.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_FRAME_BYTES) child.kill('SIGKILL');
      else chunks.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => { if (stderr.length < 2000) stderr += chunk.toString(); });
    child.once('error', (error) => { clearTimeout(timer); reject(new StorageError(`ffmpeg could not run: ${error.message}`, { code: 'NOT_SUPPORTED', cause: error })); });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0 && bytes > 0 && bytes <= MAX_FRAME_BYTES) resolve(Buffer.concat(chunks));
      else reject(new ValidationError(`ffmpeg could not take a frame from the video${stderr ? `: ${stderr.trim().split('\n', 1)[0]}` : ''}`, { code: 'MEDIA_UNREADABLE' }));
    });
  });
}

/** node:child_process, loaded on first use rather than with the package (a program that only stores never runs ffmpeg). */
function childProcess(): typeof ChildProcessModule {
  return process.getBuiltinModule('node:child_process');
}
