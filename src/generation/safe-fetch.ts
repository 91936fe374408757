import { createRequire } from 'node:module';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type * as Http from 'node:http';
import type * as Https from 'node:https';
import type { Socket } from 'node:net';
import {
  AccessDeniedError, NotFoundError, ProviderUnavailableError, SecurityError, StorageError, ValidationError,
} from '../errors.ts';
import { assertAddressAllowed, guardedLookup, ipLiteral, isHostAllowed } from './address-guard.ts';
import type { DownloadPolicy } from './generation-config.ts';
import { backoffDelay } from '../layers/backoff.ts';

/** A response that passed every check so far; its body is guarded (idle timeout, size limit, length). */
export interface SafeResponse {
  /** The URL that answered, after redirects. */
  url: string;
  status: number;
  headers: IncomingHttpHeaders;
  /** Lowercase `type/subtype` without parameters; undefined when the response names none. */
  contentType?: string;
  /** From Content-Length, when the response has one. */
  contentLength?: number;
  /** Read at most once. Ends with a typed error when the provider stalls, sends too much, or cuts the body short. */
  body: AsyncIterable<Uint8Array>;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);
/** Connection failures worth another attempt; anything else (ENOTFOUND, TLS errors) is final. */
const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE']);

/** Failures another attempt may cure, and how long the provider asked us to wait (Retry-After). */
const retryable = new WeakMap<Error, { retryAfterMs?: number }>();

/**
 * Download `url` under `policy` and hand the response to `consume`, which reads its body (into the
 * manager, onto disk). Only http and https; every hop's address is checked before connecting (see
 * address-guard.ts); redirects are limited and loops refused. A 5xx, 408, 429 or network failure,
 * before or during the body, runs `consume` again on a fresh response after a backoff (Retry-After
 * honoured), until `policy.retries` is spent or the total deadline would pass. Errors `consume`
 * throws itself are final. Every error is a StorageError: SecurityError for refused addresses and
 * schemes, ValidationError for sizes and encodings, ProviderUnavailableError for timeouts and upstream
 * failures, NotFoundError / AccessDeniedError for 404/410 and 401/403.
 */
export async function safeFetch<T>(url: string | URL, policy: DownloadPolicy, consume: (response: SafeResponse) => Promise<T>, signal?: AbortSignal): Promise<T> {
  const start = parseTarget(url);
  const deadline = Date.now() + policy.totalTimeoutMs;
  const total = new AbortController();
  const timer = setTimeout(() => total.abort(new ProviderUnavailableError(`downloading ${describe(start)} took longer than ${policy.totalTimeoutMs} ms`, { details: { timeout: 'total', ms: policy.totalTimeoutMs } })), policy.totalTimeoutMs);
  const combined = signal ? AbortSignal.any([signal, total.signal]) : total.signal;
  try {
    for (let attempt = 0; ; attempt++) {
      let response: IncomingMessage | undefined;
      try {
        const opened = await openFollowingRedirects(start, policy, combined);
        response = opened.response;
        return await consume(guardResponse(opened.response, opened.url, policy, combined));
      } catch (error) {
        const failure = abortReason(combined) ?? asStorageError(error);
        const hint = retryable.get(failure);
        if (!hint || attempt >= policy.retries || combined.aborted) throw failure;
        const wait = hint.retryAfterMs ?? backoffDelay(attempt, { baseMs: policy.retryBaseDelayMs, maxMs: policy.retryMaxDelayMs, jitter: true });
        if (hint.retryAfterMs !== undefined && hint.retryAfterMs > policy.maxRetryAfterMs) {
          throw new ProviderUnavailableError(`${failure.message}; the provider asked to retry after ${Math.ceil(hint.retryAfterMs / 1000)} s, longer than the ${policy.maxRetryAfterMs} ms allowed`, { cause: failure, details: failure.details });
        }
        if (Date.now() + wait >= deadline) throw failure;
        try {
          await process.getBuiltinModule('node:timers/promises').setTimeout(wait, undefined, { signal: combined });
        } catch {
          throw abortReason(combined) ?? failure;
        }
      } finally {
        response?.destroy();
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

function parseTarget(url: string | URL): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new ValidationError(`"${String(url).slice(0, 200)}" is not a URL`, { cause: error, details: { field: 'url' } });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new SecurityError(`only http and https URLs are downloaded, not ${parsed.protocol}`, { details: { scheme: parsed.protocol, reason: 'scheme_not_allowed' } });
  }
  parsed.hash = '';
  return parsed;
}

/** The URL without query (signed URLs carry credentials there) for messages. */
function describe(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

async function openFollowingRedirects(start: URL, policy: DownloadPolicy, signal: AbortSignal): Promise<{ response: IncomingMessage; url: URL }> {
  const visited = new Set<string>();
  let current = start;
  for (let hop = 0; ; hop++) {
    visited.add(current.href);
    const response = await requestOnce(current, policy, signal);
    const status = response.statusCode ?? 0;
    if (REDIRECTS.has(status)) {
      response.destroy();
      const location = response.headers.location;
      if (!location) throw new ProviderUnavailableError(`${describe(current)} answered ${status} without a Location`, { details: { status } });
      let next: URL;
      try {
        next = parseTarget(new URL(location, current));
      } catch (error) {
        if (error instanceof StorageError && !(error instanceof SecurityError)) {
          throw new ProviderUnavailableError(`${describe(current)} redirected to an invalid URL`, { cause: error, details: { status } });
        }
        throw error;
      }
      if (visited.has(next.href)) {
        throw new ProviderUnavailableError(`redirect loop: ${describe(current)} leads back to ${describe(next)}`, { details: { reason: 'redirect_loop' } });
      }
      if (hop >= policy.maxRedirects) {
        throw new ProviderUnavailableError(`more than ${policy.maxRedirects} redirects from ${describe(start)}`, { details: { reason: 'too_many_redirects', limit: policy.maxRedirects } });
      }
      current = next;
      continue;
    }
    if (status === 200) return { response, url: current };
    response.destroy();
    throw statusError(status, current, response.headers);
  }
}

function statusError(status: number, url: URL, headers: IncomingHttpHeaders): StorageError {
  const what = `${describe(url)} answered ${status}`;
  const details = { status };
  if (status === 404 || status === 410) return new NotFoundError(`${what}; the result URL may have expired`, { details });
  if (status === 401 || status === 403) return new AccessDeniedError(`${what}; the result URL may have expired or need credentials`, { details });
  const error = new ProviderUnavailableError(what, { details });
  if (RETRYABLE_STATUS.has(status)) {
    const retryAfterMs = parseRetryAfter(headers['retry-after']);
    retryable.set(error, retryAfterMs === undefined ? {} : { retryAfterMs });
  }
  return error;
}

const require = createRequire(import.meta.url);
let clients: { http: typeof Http; https: typeof Https } | undefined;

/**
 * node:http and node:https load on the first download, and through require: an ESM import of
 * node:http reads every export, and its WebSocket getters load undici (about 12 MB of memory) that
 * a download never uses.
 */
function httpClient(secure: boolean): typeof Http | typeof Https {
  clients ??= { http: require('node:http') as typeof Http, https: require('node:https') as typeof Https };
  return secure ? clients.https : clients.http;
}

/**
 * One request, no redirects followed. The connection goes only to addresses the guard accepted:
 * an IP literal is checked here (Node connects to literals without a lookup), a name through
 * guardedLookup, and the connected socket's remote address once more as a last line.
 */
function requestOnce(url: URL, policy: DownloadPolicy, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const trusted = isHostAllowed(url, policy.allowHosts);
    const check = (address: string) => {
      if (!trusted) assertAddressAllowed(address, url.hostname, policy.allowPrivateNetworks);
    };
    const literal = ipLiteral(url);
    if (literal !== undefined) check(literal);
    const secure = url.protocol === 'https:';
    let failure: Error | undefined;
    let settled = false;
    const request = httpClient(secure).request(url, {
      method: 'GET',
      agent: false, // a fresh connection per request: every connection goes through the lookup guard
      lookup: guardedLookup(check, policy.resolveHost),
      headers: { 'accept-encoding': 'identity', 'user-agent': 'boards-storage' },
      signal,
    });
    const fail = (error: Error) => {
      failure ??= error;
      request.destroy(error);
    };
    const connectTimer = setTimeout(() => fail(timeout('connect', policy.connectTimeoutMs, url)), policy.connectTimeoutMs);
    request.on('socket', (socket: Socket) => {
      socket.once('connect', () => {
        try {
          if (socket.remoteAddress) check(socket.remoteAddress);
        } catch (error) {
          fail(error as Error);
          return;
        }
        if (!secure) clearTimeout(connectTimer);
        socket.setTimeout(policy.idleTimeoutMs, () => fail(timeout('idle', policy.idleTimeoutMs, url)));
      });
      if (secure) socket.once('secureConnect', () => clearTimeout(connectTimer));
    });
    request.once('response', (response) => {
      clearTimeout(connectTimer);
      // From here the body reader keeps its own idle timer, which does not count our own backpressure.
      response.socket?.setTimeout(0);
      settled = true;
      resolve(response);
    });
    request.on('error', (error) => {
      clearTimeout(connectTimer);
      if (settled) return;
      reject(abortReason(signal) ?? failure ?? networkError(error, url));
    });
    request.end();
  });
}

/** Check what can be checked from the headers, and wrap the body in its guards. */
function guardResponse(response: IncomingMessage, url: URL, policy: DownloadPolicy, signal: AbortSignal): SafeResponse {
  const encoding = (response.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== '') {
    throw new ValidationError(`${describe(url)} sent a ${encoding}-encoded body though none was accepted`, { code: 'CONTENT_MISMATCH', details: { contentEncoding: encoding } });
  }
  const lengthHeader = response.headers['content-length'];
  const contentLength = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  if (contentLength !== undefined && contentLength > policy.maxBytes) {
    throw new ValidationError(`${describe(url)} announces ${contentLength} bytes, more than the limit of ${policy.maxBytes}`, { code: 'CONTENT_TOO_LARGE', details: { limit: policy.maxBytes, announced: contentLength } });
  }
  const type = response.headers['content-type']?.split(';', 1)[0]?.trim().toLowerCase();
  return {
    url: url.href,
    status: response.statusCode ?? 200,
    headers: response.headers,
    ...(type ? { contentType: type } : {}),
    ...(contentLength === undefined ? {} : { contentLength }),
    body: guardedBody(response, url, policy, signal, contentLength),
  };
}

/**
 * The body, chunk by chunk: each wait for the provider's next bytes is limited by the idle
 * timeout (time spent while our consumer is busy does not count), the byte count stops at the limit,
 * and a body shorter than its Content-Length is a failure, not a result.
 */
async function* guardedBody(response: IncomingMessage, url: URL, policy: DownloadPolicy, signal: AbortSignal, contentLength: number | undefined): AsyncGenerator<Uint8Array> {
  const chunks = response[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let received = 0;
  try {
    while (true) {
      let result: IteratorResult<Buffer>;
      try {
        result = await withIdleTimeout(chunks.next(), policy.idleTimeoutMs, () => timeout('idle', policy.idleTimeoutMs, url));
      } catch (error) {
        throw abortReason(signal) ?? (error instanceof StorageError ? error : networkError(error, url));
      }
      if (result.done) break;
      received += result.value.length;
      if (received > policy.maxBytes) {
        throw new ValidationError(`${describe(url)} sent more than the limit of ${policy.maxBytes} bytes`, { code: 'CONTENT_TOO_LARGE', details: { limit: policy.maxBytes } });
      }
      yield result.value;
    }
    if (contentLength !== undefined && received !== contentLength) {
      const error = new ProviderUnavailableError(`${describe(url)} ended after ${received} of ${contentLength} bytes`, { details: { received, contentLength } });
      retryable.set(error, {});
      throw error;
    }
  } finally {
    response.destroy();
  }
}

async function withIdleTimeout<T>(next: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  next.catch(() => undefined); // when the timer wins, the pending read fails later as the response is destroyed
  try {
    return await Promise.race([next, expired]);
  } finally {
    clearTimeout(timer);
  }
}

function timeout(phase: 'connect' | 'idle', ms: number, url: URL): ProviderUnavailableError {
  const what = phase === 'connect' ? `could not connect to ${url.host} within ${ms} ms` : `${describe(url)} sent nothing for ${ms} ms`;
  const error = new ProviderUnavailableError(what, { details: { timeout: phase, ms } });
  retryable.set(error, {});
  return error;
}

function networkError(error: unknown, url: URL): StorageError {
  if (error instanceof StorageError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const wrapped = new ProviderUnavailableError(`downloading ${describe(url)} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error, details: code ? { errno: code } : {} });
  if (code === undefined || RETRYABLE_CODES.has(code)) retryable.set(wrapped, {});
  return wrapped;
}

function asStorageError(error: unknown): StorageError {
  if (error instanceof StorageError) return error;
  return new StorageError(`download failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

/** Why the download was stopped (total timeout, caller's signal), as a StorageError; undefined if it was not. */
function abortReason(signal: AbortSignal): StorageError | undefined {
  if (!signal.aborted) return undefined;
  const reason: unknown = signal.reason;
  if (reason instanceof StorageError) return reason;
  return new StorageError('the download was aborted', { cause: reason });
}

/** Retry-After as seconds or an HTTP date, in milliseconds. */
export function parseRetryAfter(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

