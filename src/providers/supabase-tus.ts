/**
 * Uploads through a TUS resumable endpoint (Supabase Storage's `/upload/resumable`) with
 * tus-js-client, streaming the content in fixed-size chunks without holding more than one.
 */
import { Readable } from 'node:stream';
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
  const body = Readable.from(rest(request.head, request.iterator, request.signal, state), { objectMode: false, highWaterMark: 64 * 1024 });
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
      upload = new Upload(body, {
        endpoint: request.endpoint,
        httpStack: new PinnedHttpStack(request.endpoint),
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
    body.destroy();
    // Terminate, but never wait on a server that has stopped answering longer than a stall.
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
