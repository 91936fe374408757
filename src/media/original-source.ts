import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { CorruptionError } from '../errors.ts';
import type { CatalogArtifact } from '../catalog/catalog.ts';
import type { StorageManager, VerifiedFile } from '../manager/storage-manager.ts';
import type { ImageLimits } from './image-guard.ts';
import { assertHeaderWithinLimits } from './image-guard.ts';

/** The first bytes of an original read before the rest, so a bomb is refused before it is read whole. */
const HEAD_BYTES = 64 * 1024;
/** The chunk a local original is hashed in: one buffer, reused, whatever the image's size. */
const HASH_CHUNK = 1024 * 1024;

/**
 * Linux names an open file `/proc/self/fd/N`: opening it opens the same file again (not a path
 * that a rename or a symlink could change), so sharp decodes exactly the file that is hashed here.
 */
const FD_PATHS = process.platform === 'linux' && existsSync('/proc/self/fd');

/** An original image ready for sharp: its input, and the check of its bytes against the record. */
export interface OriginalSource {
  /** A path sharp reads itself (a local file), or the whole image in memory. */
  input: string | Buffer;
  /** Settles once every byte has been checked; rejects with a CorruptionError (or a read error). */
  verified: Promise<void>;
  /** Release the file; call once the render has settled. */
  close(): Promise<void>;
}

/**
 * The original of a transform, its header checked (declared pixels) before more is read. A local
 * file is decoded by sharp from the file itself, while its SHA-256 is checked here as sharp
 * works: no copy of the compressed image is held in memory (35 MB for a 4096x4096 PNG), and the
 * page faults and garbage collection of a fresh buffer per transform are saved (a third of a
 * 2048x2048 thumbnail's CPU time, measured). Other providers' bytes are read whole into one buffer
 * of the recorded size, verified by the read path as they stream.
 */
export async function openOriginal(storage: StorageManager, original: CatalogArtifact, limits: ImageLimits): Promise<OriginalSource> {
  const file = FD_PATHS ? await storage.openFile(original.storageKey, undefined, original.storageProvider) : undefined;
  if (!file) {
    const bytes = await readImage(await storage.openDownload(original.storageKey), original.size, limits);
    return { input: bytes, verified: Promise.resolve(), close: async () => undefined };
  }
  try {
    const chunk = Buffer.allocUnsafe(Math.min(HASH_CHUNK, Math.max(1, file.size)));
    const head = await readInto(file, chunk, 0, Math.min(HEAD_BYTES, file.size));
    await assertHeaderWithinLimits(chunk.subarray(0, head), limits);
    const verified = checkRest(file, chunk, head);
    verified.catch(() => undefined); // awaited by the caller after the render; only keeps an early failure from going unhandled
    return { input: `/proc/self/fd/${file.handle.fd}`, verified, close: () => file.handle.close() };
  } catch (error) {
    file.check?.abandon();
    await file.handle.close();
    throw error;
  }
}

/** Hash the file from its first byte (`head` bytes are in `chunk` already) and compare with the record. */
async function checkRest(file: VerifiedFile, chunk: Buffer, head: number): Promise<void> {
  const check = file.check;
  file.sent?.(file.size);
  // verify_reads: false on the provider: its reads are not checked.
  if (!check) return;
  check.update(chunk.subarray(0, head));
  for (let at = head, read = head; read > 0 && at < file.size; at += read) {
    read = await readInto(file, chunk, at, Math.min(at + chunk.length, file.size));
    check.update(chunk.subarray(0, read));
  }
  // The check's error names the copy and is counted, audited and repaired like any corrupt read.
  const error = check.finish();
  if (error) throw error;
}

/** Read `[from, to)` of the file into the start of `buffer`, or up to its end when it ends first. */
async function readInto(file: VerifiedFile, buffer: Buffer, from: number, to: number): Promise<number> {
  let filled = 0;
  while (filled < to - from) {
    const { bytesRead } = await file.handle.read(buffer, filled, to - from - filled, from + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/** The whole image into one buffer of its recorded size, its header checked after the first bytes. */
async function readImage(stream: Readable, size: number, limits: ImageLimits): Promise<Buffer> {
  const whole = Buffer.allocUnsafe(size);
  let read = 0;
  let checked = false;
  try {
    for await (const chunk of stream) {
      const bytes = chunk as Buffer;
      // The verified read fails on more bytes than recorded; this keeps the copy in bounds meanwhile.
      if (read + bytes.length > size) throw new CorruptionError(`the stored object has more than the ${size} bytes recorded`);
      bytes.copy(whole, read);
      read += bytes.length;
      if (!checked && (read >= HEAD_BYTES || read >= size)) {
        await assertHeaderWithinLimits(whole.subarray(0, read), limits);
        checked = true;
      }
    }
  } finally {
    stream.destroy();
  }
  if (read < size) throw new CorruptionError(`the stored object ended at ${read} bytes, short of the ${size} recorded`);
  if (!checked) await assertHeaderWithinLimits(whole, limits);
  return whole;
}
