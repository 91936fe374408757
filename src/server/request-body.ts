import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { StorageError, ValidationError } from '../errors.ts';

/**
 * Request bodies as streams: uploads are never buffered, whatever their size or content type.
 * Registered in the upload routes' own context only; JSON routes keep Fastify's parsers.
 */
export function streamBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
}

/**
 * The bytes of a client's body, counted; a client that breaks off or sends a malformed body is a
 * client error (400), never a server fault, and the manager leaves nothing behind.
 */
export async function* clientBytes(stream: Readable | AsyncIterable<Uint8Array>, count: (bytes: number) => void): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of stream) {
      count(chunk.length);
      yield chunk;
    }
  } catch (error) {
    throw clientBodyError(error);
  }
}

function clientBodyError(error: unknown): StorageError {
  if (error instanceof StorageError) return error;
  const e = error as { code?: string; message?: string };
  if (e.code === 'FST_REQ_FILE_TOO_LARGE') return new ValidationError('the file part is larger than the size limit', { code: 'CONTENT_TOO_LARGE', cause: error });
  if (e.code === 'ECONNRESET' || e.message === 'aborted') return new ValidationError('the client closed the connection before the body was complete; nothing was stored', { cause: error });
  return new ValidationError(`the request body is malformed or incomplete (${e.message ?? String(error)}); nothing was stored`, { cause: error });
}

/** Aborted when the client goes away before its request is answered. */
export function clientGone(request: FastifyRequest): AbortSignal {
  const controller = new AbortController();
  request.raw.once('close', () => {
    if (!request.raw.complete) controller.abort(new ValidationError('the client went away before its body was complete'));
  });
  return controller.signal;
}
