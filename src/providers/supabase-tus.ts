/**
 * Uploads through a TUS resumable endpoint (Supabase Storage's `/upload/resumable`) with
 * tus-js-client, streaming the content in fixed-size chunks without holding more than one.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { DefaultHttpStack, Upload } from 'tus-js-client';
import type { DetailedError, HttpRequest, HttpStack } from 'tus-js-client';
import { rest } from './content-reader.ts';

export interface TusUploadRequest {
  /** The creation endpoint; every request of the upload goes to it or beneath it. */
  endpoint: string;
  /** Sent with every request (the credentials among them). */
  headers: Record<string, string>;
  /** The Upload-Metadata entries. */
  metadata: Record<string, string>;
  chunkSize: number;
  /** The total size when known; otherwise the length is deferred until the content ends. */
  size?: number | undefined;
  /** Chunks already read from `iterator`, sent first. */
  head: Uint8Array[];
  iterator: AsyncIterator<Uint8Array>;
  signal?: AbortSignal | undefined;
  /** The upload fails when no progress is made for this long. */
  stallMs: number;
  /** Whether a failed request is worth repeating (network failures and these answers are). */
  shouldRetry: (error: DetailedError) => boolean;
  /** The error a stall fails with. */
  stallError: (message: string) => Error;
}

/** The content itself failed, or the caller aborted: nothing about the server. */
export class TusContentFailure extends Error {
  readonly reason: unknown;
  constructor(reason: unknown) {
    super('the content failed', { cause: reason });
    this.reason = reason;
  }
}

/** Retry delays between attempts at one request, in ms. */
const RETRY_DELAYS = [0, 1000, 3000, 5000];

/**
 * Upload `head` then the rest of `iterator`. On any failure the upload is terminated on the server
 * (a DELETE), so no part of it stays there; a failure of the content or an abort is thrown as a
 * TusContentFailure, anything else as tus-js-client's error.
 */
export async function uploadThroughTus(request: TusUploadRequest): Promise<void> {
  const state: { failure?: unknown } = {};
  const body = new ChunkSource(rest(request.head, request.iterator, request.signal, state));
  let upload: Upload | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const fail = (error: unknown) => {
        clearTimeout(watchdog);
        reject(error);
      };
      const alive = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => fail(request.stallError(`no progress for ${request.stallMs} ms`)), request.stallMs);
      };
      // The input goes only to the fileReader below, which hands back this same source.
      upload = new Upload(body as unknown as Pick<ReadableStreamDefaultReader, 'read'>, {
        endpoint: request.endpoint,
        httpStack: new PinnedHttpStack(request.endpoint),
        fileReader: { openFile: async () => body },
        chunkSize: request.chunkSize,
        retryDelays: RETRY_DELAYS,
        headers: request.headers,
        // With the length deferred, tus-js-client sends no data with the creation but then reads
        // the answer as if it had (and fails on the missing Upload-Offset): only with a known size.
        uploadDataDuringCreation: request.size !== undefined,
        storeFingerprintForResuming: false,
        removeFingerprintOnSuccess: true,
        ...(request.size !== undefined ? { uploadSize: request.size } : { uploadLengthDeferred: true }),
        metadata: request.metadata,
        onShouldRetry: (error: DetailedError) => state.failure === undefined && !request.signal?.aborted && request.shouldRetry(error),
        onProgress: alive,
        onError: fail,
        onSuccess: () => {
          clearTimeout(watchdog);
          resolve();
        },
      });
      if (request.signal) {
        onAbort = () => fail(request.signal!.reason);
        request.signal.addEventListener('abort', onAbort, { once: true });
      }
      alive();
      upload.start();
    });
  } catch (error) {
    body.close();
    // Terminate, but never wait on a server that has stopped answering longer than a stall; the
    // content's failure is the error to report, and an unterminated upload expires on the server.
    await Promise.race([upload?.abort(true).catch(() => undefined), delay(request.stallMs, undefined, { ref: false })]);
    if (state.failure !== undefined) throw new TusContentFailure(state.failure);
    if (request.signal?.aborted) throw new TusContentFailure(request.signal.reason);
    throw error;
  } finally {
    clearTimeout(watchdog);
    if (onAbort) request.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * The content as tus-js-client reads it: slices of at most one chunk, in order, the last one
 * repeatable (a retried PATCH sends it again). tus-js-client's own source for Node streams waits
 * for a `readable` event that never comes when the content ends exactly on a chunk boundary, so an
 * upload of unknown length and a whole number of chunks would hang; this one reads the iterator.
 */
class ChunkSource {
  /** Unknown: the length is declared when the content ends. */
  readonly size = null as unknown as number;
  private readonly chunks: AsyncGenerator<Uint8Array>;
  /** Bytes from `bufferStart` on, read but not yet passed beyond. */
  private buffer = Buffer.alloc(0);
  private bufferStart = 0;
  private ended = false;

  constructor(chunks: AsyncGenerator<Uint8Array>) {
    this.chunks = chunks;
  }

  async slice(start: number, end: number): Promise<{ value: Buffer & { size: number }; done: boolean }> {
    if (start < this.bufferStart || start > this.bufferStart + this.buffer.length) throw new Error(`cannot read ${start}-${end}: only ${this.bufferStart}-${this.bufferStart + this.buffer.length} is at hand`);
    this.buffer = this.buffer.subarray(start - this.bufferStart);
    this.bufferStart = start;
    const parts: Buffer[] = [this.buffer];
    let length = this.buffer.length;
    while (length < end - start && !this.ended) {
      const next = await this.chunks.next();
      if (next.done) {
        this.ended = true;
        break;
      }
      parts.push(Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength));
      length += next.value.byteLength;
    }
    if (parts.length > 1) this.buffer = Buffer.concat(parts, length);
    const value = Object.assign(this.buffer.subarray(0, end - start), { size: Math.min(length, end - start) });
    return { value, done: this.ended && value.length === this.buffer.length };
  }

  close(): void {
    // Let the source release what it holds; it may be stuck, so do not wait for it.
    void this.chunks.return(undefined).catch(() => undefined);
  }
}

/**
 * The upload's URL on `endpoint`. A TUS server names the upload's URL in its Location header, and
 * Supabase Storage builds it from its own view of the request: https forced in production, the
 * proxy's host, port and path prefix when it trusts them. Behind a proxy or on a plain-http
 * self-hosted server that URL often names the wrong scheme, port or prefix, and following it would
 * also send the service key wherever it points. The upload id is its last path segment, so the
 * upload is addressed on the endpoint the provider was configured with.
 */
export function uploadUrlOnEndpoint(endpoint: string, url: string): string {
  const base = endpoint.replace(/\/+$/, '');
  if (url === base || url.startsWith(`${base}/`)) return url;
  const id = new URL(url).pathname.split('/').filter(Boolean).at(-1);
  // Supabase's upload ids are base64url; anything else is not an upload this endpoint knows.
  if (!id || !/^[A-Za-z0-9_-]+={0,2}$/.test(id)) throw new Error(`the TUS server answered with an upload URL this client will not follow: ${url}`);
  return `${base}/${id}`;
}

/** tus-js-client's Node HTTP stack with every request kept on the configured endpoint. */
class PinnedHttpStack implements HttpStack {
  private readonly endpoint: string;
  private readonly inner = new DefaultHttpStack({});

  constructor(endpoint: string) {
    this.endpoint = endpoint;
  }

  createRequest(method: string, url: string): HttpRequest {
    return this.inner.createRequest(method, uploadUrlOnEndpoint(this.endpoint, url));
  }

  getName(): string {
    return 'PinnedHttpStack';
  }
}
