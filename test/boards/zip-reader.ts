import { createHash } from 'node:crypto';
import yauzl from 'yauzl';
import type { ZipFile } from 'yauzl';

/** One file of a zip as the tests check it: its bytes' SHA-256 and size (and its bytes, when small). */
export interface ZipFileEntry {
  sha256: string;
  size: number;
  bytes?: Buffer;
}

/**
 * Every file of a zip (in memory or on disk), read with yauzl, a separate implementation from the
 * writer's: sizes and CRC-32s are checked as each entry is read. Files up to `keepBytes` are kept.
 */
export async function readZip(source: Buffer | string, keepBytes = 1024 * 1024): Promise<{ names: string[]; files: Map<string, ZipFileEntry> }> {
  const zip: ZipFile = typeof source === 'string' ? await yauzl.openPromise(source, { lazyEntries: true }) : await yauzl.fromBufferPromise(source, { lazyEntries: true });
  const names: string[] = [];
  const files = new Map<string, ZipFileEntry>();
  try {
    for await (const entry of zip.eachEntry()) {
      names.push(entry.fileName);
      const hash = createHash('sha256');
      const kept: Buffer[] = [];
      let size = 0;
      for await (const chunk of await zip.openReadStreamPromise(entry)) {
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).length;
        if (entry.uncompressedSize <= keepBytes) kept.push(chunk as Buffer);
      }
      files.set(entry.fileName, { sha256: hash.digest('hex'), size, ...(entry.uncompressedSize <= keepBytes ? { bytes: Buffer.concat(kept) } : {}) });
    }
  } finally {
    zip.close();
  }
  return { names, files };
}
