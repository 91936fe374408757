import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { ValidationError } from '../errors.ts';
import { isJsonContentType, isTextContentType } from './content-types.ts';
import { assertSignatureMatches, SNIFF_BYTES } from './sniff.ts';

export interface ContentRules {
  contentType: string;
  /** The store stops at the first byte past this. */
  maxSize: number;
  /** The size the caller announced; the content must have exactly this many bytes. */
  declaredSize?: number;
  /**
   * The SHA-256 of the whole content when it is already in memory, computed off the main thread
   * while the bytes are written; the stream then does not hash them again.
   */
  sha256?: Promise<string>;
}

export interface ContentDigest {
  sha256: string;
  size: number;
}

/** JSON bodies up to this size are parsed to prove they are JSON; larger ones are checked for UTF-8 only. */
export const JSON_CHECK_BYTES = 4 * 1024 * 1024;

/**
 * Pass `source` through unchanged while counting, hashing and checking it. The first bytes are held
 * back until their signature is checked, so content that lies about its type never reaches a
 * provider. Every later failure (too large, bad UTF-8, invalid JSON, wrong length) is thrown from
 * the iterator before it completes, so a provider that commits only on completion stores nothing.
 * `onComplete` runs after the last check and before the iterator reports completion.
 */
export async function* validateContent(source: AsyncIterable<Uint8Array>, rules: ContentRules, onComplete: (digest: ContentDigest) => void): AsyncGenerator<Uint8Array> {
  const hash = rules.sha256 ? undefined : createHash('sha256');
  const text = isTextContentType(rules.contentType) ? new Utf8Checker() : undefined;
  let json: Uint8Array[] | undefined = isJsonContentType(rules.contentType) ? [] : undefined;
  let head: Uint8Array[] | undefined = [];
  let headBytes = 0;
  let size = 0;

  for await (const chunk of source) {
    if (chunk.length === 0) continue;
    size += chunk.length;
    if (size > rules.maxSize) {
      throw new ValidationError(`the content is larger than the limit of ${rules.maxSize} bytes`, { code: 'CONTENT_TOO_LARGE', details: { limit: rules.maxSize } });
    }
    if (rules.declaredSize !== undefined && size > rules.declaredSize) {
      throw new ValidationError(`the content is longer than its declared size of ${rules.declaredSize} bytes`, { code: 'SIZE_MISMATCH', details: { declared: rules.declaredSize } });
    }
    text?.push(chunk);
    if (json) {
      if (size <= JSON_CHECK_BYTES) json.push(chunk);
      else json = undefined;
    }
    if (head) {
      head.push(chunk);
      headBytes += chunk.length;
      if (headBytes < SNIFF_BYTES) continue;
      await assertSignatureMatches(concat(head, headBytes), rules.contentType);
      for (const held of head) {
        yield held;
        hash?.update(held);
      }
      head = undefined;
      continue;
    }
    // Hashed once the consumer asks for more: its write of this chunk is then under way, so
    // hashing overlaps the I/O instead of adding to it. Nothing is released before it is checked.
    yield chunk;
    hash?.update(chunk);
  }

  if (head) {
    await assertSignatureMatches(concat(head, headBytes), rules.contentType);
    for (const held of head) hash?.update(held);
  }
  if (rules.declaredSize !== undefined && size !== rules.declaredSize) {
    throw new ValidationError(`the content has ${size} bytes but ${rules.declaredSize} were declared`, { code: 'SIZE_MISMATCH', details: { declared: rules.declaredSize, actual: size } });
  }
  text?.end();
  if (json) {
    try {
      JSON.parse(Buffer.concat(json).toString('utf8'));
    } catch (error) {
      throw new ValidationError(`the content is not valid JSON: ${(error as Error).message}`, { code: 'CONTENT_MISMATCH', cause: error });
    }
  }
  onComplete({ sha256: hash ? hash.digest('hex') : await rules.sha256!, size });
  if (head) yield* head;
}

function concat(chunks: Uint8Array[], length: number): Uint8Array {
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length);
}

/** Streaming UTF-8 validation without decoding: a sequence split across chunks is carried over. */
class Utf8Checker {
  private carry: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): void {
    const bytes = this.carry.length === 0 ? chunk : Buffer.concat([this.carry, chunk]);
    const cut = completeLength(bytes);
    if (!isUtf8(bytes.subarray(0, cut))) throw invalidText();
    this.carry = bytes.slice(cut);
  }

  end(): void {
    if (this.carry.length > 0) throw invalidText();
  }
}

/** The length of `bytes` without a trailing, incomplete multi-byte sequence. */
function completeLength(bytes: Uint8Array): number {
  const n = bytes.length;
  for (let back = 1; back <= Math.min(3, n); back++) {
    const byte = bytes[n - back]!;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return needed > back ? n - back : n;
  }
  return n;
}

function invalidText(): ValidationError {
  return new ValidationError('the content was declared as text but is not valid UTF-8', { code: 'CONTENT_MISMATCH' });
}
