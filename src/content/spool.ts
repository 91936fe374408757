import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { ValidationError } from '../errors.ts';
import { toByteStream } from './source.ts';
import type { ArtifactContent } from './source.ts';

export interface Spool {
  /** The spooled bytes from the start, as often as needed. */
  read(): AsyncIterable<Uint8Array>;
  remove(): Promise<void>;
}

/**
 * Copy a one-shot stream to a temporary file so that it can be sent more than once (retries,
 * fallback). The copy stops past `maxSize`, and a failed copy leaves no file.
 */
export async function spoolToFile(content: ArtifactContent, directory: string, maxSize: number, signal?: AbortSignal): Promise<Spool> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const path = join(directory, `${randomUUID()}.spool`);
  let size = 0;
  async function* limited(): AsyncGenerator<Uint8Array> {
    for await (const chunk of toByteStream(content)) {
      size += chunk.length;
      if (size > maxSize) throw new ValidationError(`the content is larger than the limit of ${maxSize} bytes`, { code: 'CONTENT_TOO_LARGE', details: { limit: maxSize } });
      yield chunk;
    }
  }
  try {
    await pipeline(Readable.from(limited()), createWriteStream(path, { flags: 'wx', mode: 0o600 }), ...(signal ? [{ signal }] : []));
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
  return {
    read: () => createReadStream(path, { highWaterMark: 1024 * 1024 }),
    remove: () => rm(path, { force: true }),
  };
}
