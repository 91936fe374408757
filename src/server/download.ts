import { createHash } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { StorageError } from '../errors.ts';
import type { ArtifactReference } from '../manager/artifact-reference.ts';
import { checkDownloadName } from '../content/download-name.ts';
import type { VerifiedFile } from '../manager/storage-manager.ts';
import type { RouteContext } from './context.ts';
import { errorBody } from './errors.ts';
import { attachmentDisposition } from '../content/content-disposition.ts';

/**
 * Sending one artifact over HTTP, shared by `GET /v1/artifacts/{key}` and the signed URLs:
 * ETag (the SHA-256), If-None-Match (304), a single Range (206, 416), Cache-Control by visibility,
 * Content-Disposition on request. Small artifacts come from the cache; a local provider's file is
 * read into a few buffers that are reused (sendFile); other providers' bytes stream.
 *
 * A 200 is checked against the recorded SHA-256 as it goes (verified reads): the last bytes are
 * held back until the hash matched, so a corrupt copy is a response cut short of its
 * Content-Length, never a complete 200 with wrong bytes. The cache holds only bytes that matched.
 */

/**
 * Buffers per file response, and their size: at most this much of one response is in flight
 * (8 MiB; a file smaller than one buffer gets one of its own size). Larger reads cost the main
 * thread less per GiB (fewer reads, writes and hashing-thread messages): 2 MiB measured about 10%
 * less CPU per verified 1 GiB GET than 512 KiB.
 */
const FILE_BUFFERS = 4;
const FILE_BUFFER_BYTES = 2 * 1024 * 1024;

export type RangeRequest = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

/** One `bytes=` range against `size` bytes; several ranges or a malformed header mean the whole. */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (!header) return { kind: 'full' };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match || (match[1] === '' && match[2] === '')) return { kind: 'full' };
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (!Number.isSafeInteger(start) || start >= size) return { kind: 'unsatisfiable' };
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (!Number.isSafeInteger(end) || end < start) return last !== '' && Number(last) < start ? { kind: 'full' } : { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}

/** `If-None-Match` holds the ETag (or `*`): weak comparison, as RFC 9110 asks for GET/HEAD. */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === etag);
}

/** The Content-Disposition for a download saved under `filename`, which is checked first. */
export function contentDisposition(filename: string): string {
  checkDownloadName(filename);
  return attachmentDisposition(filename);
}

/** An artifact's entry in the small-object cache: under the storage key (and its hash), so one tenant's corrupt copy never answers for another's identical artifact. */
export function cachedArtifactKey(ref: ArtifactReference): string {
  return `${ref.storageKey}\n${ref.sha256}`;
}

export interface SendOptions {
  /** Ask the browser to save the bytes under this name. */
  filename?: string;
}

export async function sendArtifact(ctx: RouteContext, request: FastifyRequest, reply: FastifyReply, ref: ArtifactReference, options: SendOptions = {}): Promise<FastifyReply> {
  const etag = `"${ref.sha256}"`;
  reply.header('etag', etag);
  reply.header('cache-control', ref.visibility === 'public' ? 'public, max-age=31536000, immutable' : 'private');
  reply.header('accept-ranges', 'bytes');
  reply.header('last-modified', new Date(ref.createdAt).toUTCString());
  reply.header('x-content-type-options', 'nosniff');
  // Stored bytes are data, never a page that runs in this origin.
  reply.header('content-security-policy', "default-src 'none'; sandbox");
  if (options.filename !== undefined) reply.header('content-disposition', contentDisposition(options.filename));

  if (ref.sha256 && matchesEtag(request.headers['if-none-match'], etag)) return reply.code(304).send();

  const ifRange = request.headers['if-range'];
  const range = typeof ifRange === 'string' && ifRange.trim() !== etag ? { kind: 'full' as const } : parseRange(request.headers.range, ref.size);
  if (range.kind === 'unsatisfiable') {
    reply.header('content-range', `bytes */${ref.size}`);
    reply.header('cache-control', 'no-store');
    return reply.code(416).type('application/json; charset=utf-8').send(errorBody('RANGE_NOT_SATISFIABLE', `the range ${request.headers.range} is outside the artifact's ${ref.size} bytes`));
  }
  const start = range.kind === 'partial' ? range.start : 0;
  const end = range.kind === 'partial' ? range.end : ref.size - 1;
  const length = ref.size === 0 ? 0 : end - start + 1;
  reply.type(ref.contentType);
  reply.header('content-length', String(length));
  if (range.kind === 'partial') {
    reply.code(206);
    reply.header('content-range', `bytes ${start}-${end}/${ref.size}`);
  }
  if (request.method === 'HEAD' || length === 0) return reply.send();

  const started = performance.now();
  reply.raw.once('close', () => {
    ctx.metrics.downloadSeconds.observe({ outcome: reply.raw.writableFinished ? 'ok' : 'aborted' }, (performance.now() - started) / 1000);
  });

  if (ctx.cache.accepts(ref.size) && ref.sha256) {
    const cacheKey = cachedArtifactKey(ref);
    let whole = ctx.cache.get(cacheKey);
    if (whole) ctx.metrics.cacheHits.inc();
    else {
      // Read whole (verified, unless the provider's verify_reads is off) before any byte is sent.
      whole = await readAll(await ctx.storage.openDownload(ref.storageKey), ref.size);
      // Kept only when the bytes are the recorded ones, whatever the provider's verify_reads says.
      if (createHash('sha256').update(whole).digest('hex') === ref.sha256) ctx.cache.set(cacheKey, whole);
    }
    return reply.send(range.kind === 'partial' ? whole.subarray(start, end + 1) : whole);
  }
  // The artifact's provider is found from the catalog (not named): a copy known to be corrupt is read from a good one.
  const byteRange = range.kind === 'partial' ? { start, end } : undefined;
  const file = await ctx.storage.openFile(ref.storageKey, byteRange);
  if (file) return sendFile(reply, file, length);
  const stream = await ctx.storage.openDownload(ref.storageKey, byteRange);
  return reply.send(stream);
}

/**
 * Send `length` bytes of an open file from its `start`, through a few buffers allocated once for
 * the response: each is read into, written, and read into again only once its write has completed,
 * so a large download allocates nothing per read (a new buffer per read made V8 collect its whole
 * heap every ~64 MB) and never has more than FILE_BUFFERS writes in flight. The first read happens
 * before the headers go, so a file that cannot be read is an error response; a failure after that
 * cuts the response short of its Content-Length. A client that goes away stops the reads. The
 * file is closed in every case. With `file.check` each buffer is hashed before it is written and
 * the last one is written only when the whole file matched its recorded SHA-256.
 */
async function sendFile(reply: FastifyReply, file: VerifiedFile, length: number): Promise<FastifyReply> {
  const res = reply.raw;
  let hijacked = false;
  try {
    const end = file.start + length;
    const bufferBytes = Math.min(length, FILE_BUFFER_BYTES);
    // A checked file of several buffers is hashed on the hashing thread, where the buffers lie
    // (shared memory), overlapping the socket writes; a buffer is read into again once it is both
    // written and hashed.
    const offThread = file.check !== undefined && length > bufferBytes;
    const free = Array.from({ length: Math.min(FILE_BUFFERS, Math.ceil(length / bufferBytes)) }, () => (offThread ? Buffer.from(new SharedArrayBuffer(bufferBytes)) : Buffer.allocUnsafe(bufferBytes)));
    let position = file.start;
    let buffer = free.pop()!;
    let filled = await readInto(file, buffer, position, end);
    // A file of one buffer is checked whole before its headers: a mismatch is an error response.
    const checkedWhole = file.check !== undefined && filled >= length;
    if (checkedWhole) verifyLast(file, buffer.subarray(0, filled));
    reply.hijack();
    hijacked = true;
    res.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
    let stopped = false;
    let hashFailure: unknown;
    let writing = 0;
    let wake: (() => void) | undefined;
    const woken = () => { const resume = wake; wake = undefined; resume?.(); };
    const writesComplete = async (): Promise<void> => {
      while (writing > 0 && !stopped && !res.destroyed) await new Promise<void>((resume) => { wake = resume; });
    };
    res.once('close', woken);
    try {
      for (;;) {
        const sending = buffer;
        const bytes = filled === sending.length ? sending : sending.subarray(0, filled);
        let hashing: Promise<void> | undefined;
        if (offThread) {
          if (position + filled >= end) {
            // The last bytes go out only once every byte has been hashed and the whole matched.
            await file.check!.updateOffThread(bytes);
            const error = await file.check!.finishOffThread();
            if (error) throw error;
          } else hashing = file.check!.updateOffThread(bytes);
        }
        position += filled;
        file.sent?.(filled);
        writing++;
        let holds = hashing ? 2 : 1;
        const release = () => {
          if (--holds === 0) free.push(sending);
          woken();
        };
        res.write(bytes, (error) => {
          writing--;
          if (error) {
            stopped = true;
            woken();
          } else release();
        });
        hashing?.then(release, (error: unknown) => {
          hashFailure = error;
          stopped = true;
          woken();
        });
        if (position >= end) {
          res.end();
          break;
        }
        while (free.length === 0 && !stopped && !res.destroyed) await new Promise<void>((resume) => { wake = resume; });
        if (hashFailure !== undefined) throw hashFailure;
        if (stopped || res.destroyed) break;
        buffer = free.pop()!;
        filled = await readInto(file, buffer, position, end);
        if (res.destroyed) break;
      }
    } catch (error) {
      // A file that ended short is a corrupt copy too: its check reports it.
      if (file.check && (error as StorageError).code === 'CORRUPTION') file.check.finish();
      reply.log.warn({ err: error }, 'a file download failed after its headers were sent; the response is cut short');
      // What was read goes out first (with the headers), then the connection is cut.
      await writesComplete();
      res.destroy(error as Error);
    } finally {
      res.off('close', woken);
    }
    return reply;
  } finally {
    file.check?.abandon();
    // Before the headers a close failure is the request's error; after them there is no one to tell.
    if (hijacked) await file.handle.close().catch(() => undefined);
    else await file.handle.close();
  }
}

/** Hash the last bytes of a checked file and throw its CorruptionError when the whole does not match. */
function verifyLast(file: VerifiedFile, bytes: Buffer): void {
  file.check!.update(bytes);
  const error = file.check!.finish();
  if (error) throw error;
}

/** Fill `buffer` (or what is left before `end`) from `position`; a file that ends early is an error. */
async function readInto(file: VerifiedFile, buffer: Buffer, position: number, end: number): Promise<number> {
  const want = Math.min(buffer.length, end - position);
  let filled = 0;
  while (filled < want) {
    const { bytesRead } = await file.handle.read(buffer, filled, want - filled, position + filled);
    if (bytesRead === 0) throw new StorageError(`the stored file ended ${end - position - filled} bytes short of what was recorded`, { code: 'CORRUPTION' });
    filled += bytesRead;
  }
  return filled;
}

async function readAll(stream: Readable, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
    total += (chunk as Buffer).length;
  }
  if (total !== size) throw new StorageError(`the stored object has ${total} bytes where ${size} were recorded`, { code: 'CORRUPTION' });
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}
