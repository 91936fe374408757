import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { Transform, pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import { CorruptionError } from '../errors.ts';
import { ThreadHash } from './hash-thread.ts';

/** What a whole artifact's bytes must be: the catalog's record of them. */
export interface ExpectedContent {
  storageKey: string;
  sha256: string;
  size: number;
  /** The provider the bytes are read from (named in the error). */
  provider: string;
}

/**
 * Checks a whole artifact's bytes against the recorded SHA-256 and size as they pass. More bytes
 * than recorded fail at once; a wrong hash or too few bytes fail at `finish()`. The first failure
 * is reported once to `onMismatch` (logging, counting, repair).
 */
export class ContentCheck {
  readonly expected: ExpectedContent;
  private readonly hash: Hash = createHash('sha256');
  /** Used instead of `hash` by the off-thread methods. */
  private threadHash: ThreadHash | undefined;
  private bytes = 0;
  private failed: CorruptionError | undefined;
  private readonly onMismatch: ((error: CorruptionError) => void) | undefined;

  constructor(expected: ExpectedContent, onMismatch?: (error: CorruptionError) => void) {
    this.expected = expected;
    this.onMismatch = onMismatch;
  }

  /** Hash one chunk; throws a CorruptionError as soon as the bytes outgrow the recorded size. */
  update(chunk: Uint8Array): void {
    this.count(chunk);
    this.hash.update(chunk);
  }

  /**
   * The same, hashed on the hashing thread (see hash-thread.ts): resolves once the chunk has been
   * hashed, after which its SharedArrayBuffer may be reused. Use these methods or the others for
   * one check, not both.
   */
  async updateOffThread(chunk: Uint8Array): Promise<void> {
    this.count(chunk);
    await (this.threadHash ??= new ThreadHash()).update(chunk);
  }

  /** finish() for a check fed by updateOffThread. */
  async finishOffThread(): Promise<CorruptionError | undefined> {
    if (this.failed) return this.failed;
    const digest = await (this.threadHash ??= new ThreadHash()).digest();
    return this.compare(() => digest);
  }

  /** Stop an off-thread check that will not be finished (the reader went away). */
  abandon(): void {
    this.threadHash?.abandon();
  }

  /** After the last chunk: the CorruptionError when the bytes are not the recorded ones, else undefined. */
  finish(): CorruptionError | undefined {
    if (this.failed) return this.failed;
    return this.compare(() => this.hash.digest('hex'));
  }

  private count(chunk: Uint8Array): void {
    if (this.failed) throw this.failed;
    this.bytes += chunk.length;
    if (this.bytes > this.expected.size) throw this.fail(`more than the recorded ${this.expected.size} bytes`, { actualSize: this.bytes });
  }

  private compare(digest: () => string): CorruptionError | undefined {
    if (this.bytes !== this.expected.size) return this.fail(`${this.bytes} bytes where ${this.expected.size} were recorded`, { actualSize: this.bytes });
    const actual = digest();
    if (actual !== this.expected.sha256) return this.fail(`SHA-256 ${actual}, not the recorded ${this.expected.sha256}`, { actualSha256: actual });
    return undefined;
  }

  private fail(what: string, details: Record<string, unknown>): CorruptionError {
    const { storageKey, provider, sha256, size } = this.expected;
    this.failed = new CorruptionError(`${storageKey} on ${provider}: the stored bytes have ${what}; this copy is corrupt (boards-storage verify --repair restores it from a good copy)`, {
      details: { storageKey, provider, expectedSha256: sha256, expectedSize: size, ...details },
    });
    this.onMismatch?.(this.failed);
    return this.failed;
  }
}

/**
 * Pass a whole artifact's stream through a ContentCheck. The last chunk is held back until the
 * hash has been checked, so a consumer never receives all of the bytes of a corrupt copy: the
 * stream errors with a CorruptionError before it ends (an HTTP response is cut short of its
 * Content-Length). One chunk is held at a time: memory stays bounded.
 */
export function verifyStream(source: Readable, check: ContentCheck): Readable {
  let held: Buffer | undefined;
  const verifying = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      try {
        check.update(chunk);
      } catch (error) {
        callback(error as Error);
        return;
      }
      const previous = held;
      held = chunk;
      callback(null, previous);
    },
    flush(callback) {
      const error = check.finish();
      if (error) callback(error);
      else callback(null, held);
    },
  });
  // The source's errors reach the consumer, and a consumer that stops destroys the source.
  return pipeline(source, verifying, () => undefined);
}
