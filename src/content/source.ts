import { Readable } from 'node:stream';
import type { ReadableStream as NodeWebStream } from 'node:stream/web';
import { ValidationError } from '../errors.ts';

/** Content the library accepts: bytes, a string (UTF-8), a Node stream, a web stream or any async iterable of bytes. */
export type ArtifactContent = Uint8Array | string | Readable | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** Large in-memory content is handed on in slices of this size, so every stage stays incremental. */
const SLICE_BYTES = 1024 * 1024;

/** One async iterable of byte chunks, whatever form the content came in. Nothing is copied. */
export function toByteStream(content: ArtifactContent): AsyncIterable<Uint8Array> {
  if (typeof content === 'string') return slices(Buffer.from(content, 'utf8'));
  if (content instanceof Uint8Array) return slices(content);
  if (content instanceof Readable) return asBytes(content);
  if (typeof (content as ReadableStream).getReader === 'function' && !(Symbol.asyncIterator in content)) {
    return asBytes(Readable.fromWeb(content as NodeWebStream<Uint8Array>));
  }
  if (content !== null && typeof content === 'object' && Symbol.asyncIterator in content) {
    return asBytes(content as AsyncIterable<unknown>);
  }
  throw new ValidationError('content must be a Uint8Array, a string, a Readable, a ReadableStream or an AsyncIterable<Uint8Array>');
}

async function* slices(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += SLICE_BYTES) {
    yield bytes.subarray(offset, Math.min(offset + SLICE_BYTES, bytes.length));
  }
}

async function* asBytes(source: AsyncIterable<unknown>): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    if (chunk instanceof Uint8Array) yield chunk;
    else if (typeof chunk === 'string') yield Buffer.from(chunk, 'utf8');
    else if (ArrayBuffer.isView(chunk)) yield new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    else throw new ValidationError(`content stream yielded a ${typeof chunk}, not bytes`);
  }
}

/** The whole content when it is already in memory (bytes or a string); undefined for streams. */
export function inMemoryBytes(content: ArtifactContent): Uint8Array | undefined {
  if (typeof content === 'string') return Buffer.from(content, 'utf8');
  return content instanceof Uint8Array ? content : undefined;
}

/** SHA-256 of in-memory bytes on the threadpool (WebCrypto), leaving the main thread free. */
export async function sha256OffThread(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Buffer.from(digest).toString('hex');
}
