import type { IncomingMessage, ServerResponse } from 'node:http';
import { StorageError } from '../../errors.ts';
import { renderError, renderedBody } from '../errors.ts';

/**
 * The limits every upload route has, for the TUS requests whose bodies the TUS handlers read (not
 * our clientBytes): an upload slot (server.max_concurrent_uploads[_per_tenant]) and the body idle
 * timeout (server.body_idle_timeout).
 */

/** Whether a TUS request carries upload bytes: every PATCH, and a creation-with-upload POST. */
export function carriesUploadBytes(request: IncomingMessage): boolean {
  if (request.method === 'PATCH') return true;
  if (request.method !== 'POST') return false;
  const length = Number(request.headers['content-length'] ?? 0);
  return request.headers['transfer-encoding'] !== undefined || (Number.isFinite(length) && length > 0);
}

/**
 * Answer 408 and close the connection when no body byte arrives for `idleMs` before the body is
 * complete. What arrived before stays in the upload (the client resumes from its offset, as TUS
 * intends); the connection, and with it the upload slot, is given back. Returns a function that
 * stops watching (the body ended, the request closed).
 *
 * Progress is the socket's byte count, polled: the TUS handlers own the request stream, and a
 * listener of ours on it would change how it flows.
 */
export function watchBodyIdle(request: IncomingMessage, response: ServerResponse, idleMs: number): () => void {
  if (idleMs <= 0 || request.complete) return () => undefined;
  const socket = request.socket;
  let seen = socket.bytesRead;
  let quietSince = Date.now();
  const stop = () => {
    clearInterval(timer);
    request.off('end', stop).off('close', stop);
  };
  const timer = setInterval(() => {
    if (request.complete || request.destroyed) return stop();
    // Bytes came, or the handlers are not reading (a paused socket: waiting for a lock, a slow disk): not the client's pause.
    if (socket.bytesRead !== seen || socket.isPaused()) {
      seen = socket.bytesRead;
      quietSince = Date.now();
      return;
    }
    if (Date.now() - quietSince < idleMs) return;
    stop();
    timeOut(response, idleMs);
  }, Math.max(20, Math.min(1000, Math.floor(idleMs / 5))));
  timer.unref();
  request.once('end', stop).once('close', stop);
  return stop;
}

function timeOut(response: ServerResponse, idleMs: number): void {
  const socket = response.socket;
  // The TUS handlers answer too once their reads stop; that late answer goes nowhere.
  response.on('error', () => undefined);
  if (response.headersSent) {
    socket?.destroy();
    return;
  }
  const rendered = renderError(new StorageError(`no body bytes arrived for ${idleMs / 1000} s; send the body without pauses (server.body_idle_timeout), then resume the upload from its Upload-Offset (HEAD)`, { code: 'REQUEST_TIMEOUT' }));
  const body = JSON.stringify(renderedBody(rendered));
  response.writeHead(rendered.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    'tus-resumable': '1.0.0',
    connection: 'close',
  });
  // Once the answer is out, the connection goes: the body that stalled is not waited for.
  response.end(body, () => socket?.destroy());
}
