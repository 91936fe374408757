import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { StorageError, ValidationError } from '../errors.ts';
import type { ArtifactReference } from '../manager/artifact-reference.ts';
import type { RouteContext } from './context.ts';
import { errorBody } from './errors.ts';

/**
 * Sending one artifact over HTTP, shared by `GET /v1/artifacts/{key}` and the signed URLs:
 * ETag (the SHA-256), If-None-Match (304), a single Range (206, 416), Cache-Control by visibility,
 * Content-Disposition on request. Bytes stream from the provider; small ones come from the cache.
 */

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
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === etag);
}

/** `attachment; filename="..."; filename*=UTF-8''...` with a safe ASCII fallback. */
export function contentDisposition(filename: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (filename.length === 0 || filename.length > 255 || /[\u0000-\u001f\u007f"\\/]/.test(filename)) {
    throw new ValidationError('the download file name may not be empty or contain control characters, quotes, slashes or backslashes (255 characters at most)');
  }
  const ascii = filename.replace(/[^\x20-\x7e]/g, '_').replace(/%/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
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
    let whole = ctx.cache.get(ref.sha256);
    if (whole) ctx.metrics.cacheHits.inc();
    else {
      whole = await readAll(await ctx.storage.openDownload(ref.storageKey, undefined, ref.storageProvider), ref.size);
      ctx.cache.set(ref.sha256, whole);
    }
    return reply.send(range.kind === 'partial' ? whole.subarray(start, end + 1) : whole);
  }
  const stream = await ctx.storage.openDownload(ref.storageKey, range.kind === 'partial' ? { start, end } : undefined, ref.storageProvider);
  return reply.send(stream);
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
