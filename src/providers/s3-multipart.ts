/**
 * A multipart upload filled from a fixed pool of part buffers.
 *
 * Written here rather than with @aws-sdk/lib-storage's Upload because of memory: Upload gathers the
 * incoming chunks of each part and Buffer.concat()s them into a new buffer that lives as long as the
 * part's request (seconds), so every part becomes old-generation garbage that only a full GC frees;
 * measured on a 256 MiB upload (8 MiB parts, 4 in flight), array buffers reached 143 MB and the
 * process peaked 140 MB above its idle size. Here each part is copied straight from the content into
 * one of `queueSize` buffers, allocated once and reused as soon as its UploadPart has settled, so
 * parts hold `queueSize x partSize` bytes at most and the content's own chunks die young (and, with
 * `collectEachPart`, are freed as each part is filled rather than 64 MB later). The
 * requests are the same four Upload makes, on the same client (so its retries, signing and
 * checksum settings apply to each part, whose buffer stays untouched until its request settles).
 */
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { releaseCopiedChunks } from './young-garbage.ts';
import type { CompletedPart, CreateMultipartUploadCommandInput, S3Client } from '@aws-sdk/client-s3';

/** S3 allows at most this many parts in one upload. */
export const MAX_PARTS = 10_000;

export interface MultipartOptions {
  client: S3Client;
  /** CreateMultipartUpload's input: bucket, key and everything the object carries. */
  params: CreateMultipartUploadCommandInput & { Bucket: string; Key: string };
  partSize: number;
  queueSize: number;
  /** The caller's abort signal: in-flight parts are cancelled at once. */
  signal?: AbortSignal;
  /** Collect V8's young generation after each part is filled (at most once per part_size copied by all uploads), freeing the content's chunks copied (see young-garbage.ts). */
  collectEachPart?: boolean;
}

/** The content, one chunk at a time: `head` is what was read already, then `next()` until done. */
export interface PartSource {
  next(): Promise<IteratorResult<Uint8Array>>;
}

/**
 * One upload. `run()` completes it or throws the first failure (the content's, a part's, the
 * caller's abort) once no part request is still in flight; `uploadId` is then set if the upload was
 * created, and it is the caller's to abort.
 */
export class PooledMultipartUpload {
  uploadId: string | undefined;
  private readonly options: MultipartOptions;
  private readonly cancel = new AbortController();
  private readonly signal: AbortSignal;
  private readonly free: Buffer[] = [];
  private allocated = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly parts: CompletedPart[] = [];
  private failure: { error: unknown } | undefined;

  constructor(options: MultipartOptions) {
    this.options = options;
    this.signal = options.signal ? AbortSignal.any([options.signal, this.cancel.signal]) : this.cancel.signal;
  }

  /** Resolves with the ETags CompleteMultipartUpload and each part (in order) answered. */
  async run(head: Uint8Array[], source: PartSource): Promise<{ etag: string | undefined; partEtags: string[] }> {
    const { client, params, partSize } = this.options;
    try {
      const created = await client.send(new CreateMultipartUploadCommand(params), { abortSignal: this.signal });
      this.uploadId = created.UploadId;
      if (!this.uploadId) throw new Error('CreateMultipartUpload answered without an UploadId');
      const pending = head.splice(0);
      let leftover: Uint8Array | undefined;
      let ended = false;
      for (let partNumber = 1; !ended; partNumber++) {
        const buffer = await this.acquire();
        let filled = 0;
        while (filled < partSize) {
          let chunk = leftover ?? pending.shift();
          leftover = undefined;
          if (chunk === undefined) {
            // A failed part ends the wait for content too.
            const next = await untilCancelled(source.next(), this.cancel.signal);
            if (next.done) {
              ended = true;
              break;
            }
            chunk = next.value;
          }
          const taken = Math.min(chunk.length, partSize - filled);
          buffer.set(taken === chunk.length ? chunk : chunk.subarray(0, taken), filled);
          filled += taken;
          if (taken < chunk.length) leftover = chunk.subarray(taken);
        }
        if (filled === 0) {
          // The content ended exactly at a part boundary: the previous part was the last.
          this.free.push(buffer);
          break;
        }
        if (partNumber > MAX_PARTS) throw new Error(`the content needs more than ${MAX_PARTS} parts of ${partSize} bytes; raise part_size`);
        this.sendPart(partNumber, buffer, filled);
        if (this.options.collectEachPart) releaseCopiedChunks(filled, partSize);
      }
      await this.settle();
      this.throwIfFailed();
      this.parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
      const completed = await client.send(new CompleteMultipartUploadCommand({
        Bucket: params.Bucket, Key: params.Key, UploadId: this.uploadId, MultipartUpload: { Parts: this.parts },
      }), { abortSignal: this.signal });
      return { etag: completed.ETag, partEtags: this.parts.map((p) => p.ETag!) };
    } catch (error) {
      // Nothing may still be writing a part when the caller aborts the upload, or the part could land after it.
      this.failure ??= { error };
      this.cancel.abort(error);
      await this.settle();
      throw this.failure.error;
    } finally {
      this.free.length = 0;
    }
  }

  /** A free part buffer: a new one while fewer than queueSize exist, else the next one released. */
  private async acquire(): Promise<Buffer> {
    for (;;) {
      this.throwIfFailed();
      this.signal.throwIfAborted();
      const buffer = this.free.pop();
      if (buffer) return buffer;
      if (this.allocated < this.options.queueSize) {
        this.allocated++;
        return Buffer.allocUnsafeSlow(this.options.partSize);
      }
      await Promise.race(this.inFlight);
    }
  }

  private sendPart(partNumber: number, buffer: Buffer, length: number): void {
    const request: Promise<void> = this.uploadPart(partNumber, buffer, length).finally(() => this.inFlight.delete(request));
    this.inFlight.add(request);
  }

  /** One part; never rejects: a failure is kept and cancels everything else. */
  private async uploadPart(partNumber: number, buffer: Buffer, length: number): Promise<void> {
    const { client, params } = this.options;
    try {
      const answer = await client.send(new UploadPartCommand({
        Bucket: params.Bucket, Key: params.Key, UploadId: this.uploadId, PartNumber: partNumber,
        Body: buffer.subarray(0, length), ContentLength: length,
      }), { abortSignal: this.signal });
      if (!answer.ETag) throw new Error(`UploadPart ${partNumber} answered without an ETag`);
      this.parts.push({ PartNumber: partNumber, ETag: answer.ETag });
      this.free.push(buffer);
    } catch (error) {
      this.failure ??= { error };
      this.cancel.abort(error);
    }
  }

  private async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}

function untilCancelled<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value); },
      (error: unknown) => { signal.removeEventListener('abort', onAbort); reject(error as Error); },
    );
  });
}
