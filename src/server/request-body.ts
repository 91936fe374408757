import type { IncomingMessage } from 'node:http';
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
 * client error (400), never a server fault, and the manager leaves nothing behind. A client that
 * sends nothing for `idleMs` gets a 408. Read with listeners of our own (not the stream's async
 * iterator, which destroys the request, and with it the socket, before the error is answered):
 * when reading stops early the stream is left intact, so the answer reaches the client and the
 * connection is then drained or closed (see drainAfterEarlyAnswer).
 */
export async function* clientBytes(stream: Readable, count: (bytes: number) => void, idleMs = 0): AsyncGenerator<Uint8Array> {
  let wake: (() => void) | undefined;
  let failure: unknown;
  let ended = false;
  const onReadable = () => wake?.();
  const onEnd = () => { ended = true; wake?.(); };
  const onError = (error: unknown) => { failure ??= error; wake?.(); };
  const onClose = () => { if (!ended) failure ??= Object.assign(new Error('aborted'), { code: 'ECONNRESET' }); wake?.(); };
  stream.on('readable', onReadable).on('end', onEnd).on('error', onError).on('close', onClose);
  try {
    for (;;) {
      const chunk = stream.destroyed ? null : stream.read() as Uint8Array | null;
      if (chunk !== null) {
        count(chunk.length);
        yield chunk;
        continue;
      }
      if (failure !== undefined) throw clientBodyError(failure);
      if (ended || stream.readableEnded) return;
      // Gone before (or while) we listened: no event will come.
      if (stream.destroyed) throw clientBodyError(stream.errored ?? Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
      await new Promise<void>((resolve, reject) => {
        const timer = idleMs > 0 ? setTimeout(() => reject(bodyIdleError(idleMs, 'nothing was stored')), idleMs) : undefined;
        wake = () => {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        };
      });
    }
  } finally {
    stream.off('readable', onReadable).off('end', onEnd).off('error', onError).off('close', onClose);
  }
}

/** What server.body_idle_timeout answers (408), on every upload route; `outcome` says what became of the bytes. */
export function bodyIdleError(idleMs: number, outcome: string): StorageError {
  return new StorageError(`no body bytes arrived for ${idleMs / 1000} s; send the body without pauses (server.body_idle_timeout); ${outcome}`, { code: 'REQUEST_TIMEOUT' });
}

/**
 * server.body_idle_timeout for a body that other code reads (the TUS handlers read theirs as a web
 * stream over the request, not through clientBytes): when the reader wants bytes and none arrive
 * for `idleMs`, the request is destroyed with a REQUEST_TIMEOUT error, which closes its
 * connection. The reader sees a broken connection, as if the client had gone.
 *
 * The clock runs only while the request flows, which is exactly while its reader has asked for
 * bytes and has room for them: a reader that has not started yet, waits for a lock, or holds back
 * for a slow disk pauses the request, and that is not the client's silence. Listening for bytes
 * before the reader starts would start the flow and hand them to nobody, so progress is watched
 * from the first `resume` on. One timer at a time, unref'd, cleared when the body ends, the
 * request closes, or the returned function is called; nothing is left behind either way.
 */
export function cutWhenBodyIdle(request: IncomingMessage, idleMs: number, onCut: (error: StorageError) => void = () => undefined): () => void {
  if (idleMs <= 0 || request.complete || request.destroyed) return () => undefined;
  let timer: NodeJS.Timeout | undefined;
  let watchingBytes = false;
  const still = () => {
    clearTimeout(timer);
    timer = undefined;
  };
  const arm = () => {
    still();
    if (request.readableFlowing === true) timer = setTimeout(cut, idleMs).unref();
  };
  const onResume = () => {
    if (!watchingBytes && request.readableFlowing === true) {
      watchingBytes = true;
      request.on('data', arm);
    }
    arm();
  };
  const stop = () => {
    still();
    request.off('resume', onResume).off('pause', still).off('data', arm).off('end', stop).off('close', stop);
  };
  function cut(): void {
    timer = undefined;
    // A pause that raced the timer: the reader stopped asking, the client is not at fault.
    if (request.readableFlowing !== true || request.complete || request.destroyed) return;
    stop();
    const error = bodyIdleError(idleMs, 'the connection was closed');
    onCut(error);
    request.destroy(error);
  }
  request.on('resume', onResume).on('pause', still).once('end', stop).once('close', stop);
  if (request.readableFlowing === true) onResume();
  return stop;
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

/** How much of a body the service reads and discards after answering early, and for how long. */
export const DRAIN_MAX_BYTES = 4 * 1024 * 1024;
export const DRAIN_MAX_MS = 5000;

/**
 * True when the service answers before it has read the whole body (401, 413, 415, 400) and the
 * declared remainder is more than it will drain: the answer then says `Connection: close`.
 */
export function closesAfterEarlyAnswer(request: IncomingMessage): boolean {
  if (request.complete) return false;
  const declared = Number(request.headers['content-length']);
  return Number.isFinite(declared) && declared - request.socket.bytesRead > DRAIN_MAX_BYTES;
}

/**
 * After an early answer, read and discard what remains of the body so that the next request on
 * the connection is parsed and answered (keep-alive clients and connection pools reuse it). A
 * remainder larger than DRAIN_MAX_BYTES, or one still arriving after DRAIN_MAX_MS (a client
 * trickling bytes), ends the connection instead: a body never holds a connection open.
 */
export function drainAfterEarlyAnswer(request: IncomingMessage): void {
  if (request.complete || request.destroyed) return;
  const socket = request.socket;
  const cut = () => socket.destroy();
  const timer = setTimeout(cut, DRAIN_MAX_MS);
  let drained = 0;
  const done = () => clearTimeout(timer);
  request.once('end', done).once('close', done);
  // Whatever was reading (a multipart parser, our reader) is finished with it.
  request.unpipe();
  request.removeAllListeners('readable');
  request.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_MAX_BYTES) cut();
  });
  request.resume();
}
