import { createHmac, timingSafeEqual } from 'node:crypto';
import { SecurityError } from '../errors.ts';
import { assertSafeKey } from '../keys.ts';

/**
 * Signed URLs for providers that have no URL signing of their own (local disk, memory): the
 * Boards Storage server verifies them and streams the object. The HMAC-SHA256 covers the method,
 * the key, the expiry and every limit, so none can be changed without breaking the signature.
 */

export type SignedMethod = 'GET' | 'PUT';

export interface SignedUrlClaims {
  method: SignedMethod;
  key: string;
  /** Unix seconds. */
  expires: number;
  /** PUT only: the most bytes the upload may carry. */
  maxSize?: number;
  /** PUT only: the Content-Type the upload must declare. */
  contentType?: string;
  /** GET only: the download file name for Content-Disposition. */
  filename?: string;
  /** GET only: a variant (`variant:thumb_256`) or transform (`w256.h0.inside.webp.q75`) of the artifact. */
  transform?: string;
}

/** The path under the server's base URL at which signed URLs are served. */
export const SIGNED_PATH = '/v1/signed/';
/** Where the service answers anonymous reads of public artifacts, and only of public ones. */
export const PUBLIC_PATH = '/v1/public/';

/** A public artifact's URL: `public_url_base` (a CDN or web server) when set, else the service's public route. */
export function publicArtifactUrl(config: { public_url_base?: string | undefined; serve_url_base: string }, key: string): string {
  return config.public_url_base
    ? `${config.public_url_base.replace(/\/+$/, '')}/${key}`
    : `${config.serve_url_base.replace(/\/+$/, '')}${PUBLIC_PATH}${key}`;
}

const PARAM = { method: 'm', expires: 'exp', maxSize: 'max', contentType: 'ct', filename: 'fn', transform: 'tf', signature: 'sig' } as const;

export function signUrl(baseUrl: string, claims: SignedUrlClaims, secret: string): string {
  assertSafeKey(claims.key);
  const url = new URL(baseUrl.replace(/\/+$/, '') + SIGNED_PATH + claims.key);
  url.searchParams.set(PARAM.method, claims.method);
  url.searchParams.set(PARAM.expires, String(claims.expires));
  if (claims.maxSize !== undefined) url.searchParams.set(PARAM.maxSize, String(claims.maxSize));
  if (claims.contentType !== undefined) url.searchParams.set(PARAM.contentType, claims.contentType);
  if (claims.filename !== undefined) url.searchParams.set(PARAM.filename, claims.filename);
  if (claims.transform !== undefined) url.searchParams.set(PARAM.transform, claims.transform);
  url.searchParams.set(PARAM.signature, signature(claims, secret));
  return url.toString();
}

/**
 * Check a signed request: the key taken from the route, the method the client used and the query
 * string. Throws a SecurityError (tampered, wrong method) or an AccessDenied-style SecurityError
 * with code ACCESS_DENIED when expired; returns the verified claims.
 */
export function verifySignedRequest(key: string, method: string, query: URLSearchParams, secret: string, now: number = Date.now()): SignedUrlClaims {
  const given = query.get(PARAM.signature);
  const expires = Number(query.get(PARAM.expires));
  const signedMethod = query.get(PARAM.method);
  if (!given || !Number.isSafeInteger(expires) || (signedMethod !== 'GET' && signedMethod !== 'PUT')) {
    throw new SecurityError('the URL is not a complete signed URL');
  }
  const maxSize = query.get(PARAM.maxSize);
  const claims: SignedUrlClaims = {
    method: signedMethod,
    key: assertSafeKey(key),
    expires,
    ...(maxSize === null ? {} : { maxSize: Number(maxSize) }),
    ...(query.has(PARAM.contentType) ? { contentType: query.get(PARAM.contentType)! } : {}),
    ...(query.has(PARAM.filename) ? { filename: query.get(PARAM.filename)! } : {}),
    ...(query.has(PARAM.transform) ? { transform: query.get(PARAM.transform)! } : {}),
  };
  const expected = Buffer.from(signature(claims, secret));
  const actual = Buffer.from(given);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new SecurityError('the URL signature does not match');
  }
  const requestMethod = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  if (requestMethod !== claims.method) {
    throw new SecurityError(`the URL was signed for ${claims.method}, not ${method.toUpperCase()}`);
  }
  if (expires * 1000 <= now) throw new SecurityError('the signed URL has expired', { code: 'ACCESS_DENIED' });
  return claims;
}

/** The same check for a whole URL whose path contains `/v1/signed/{key}`. */
export function verifySignedUrl(url: string | URL, method: string, secret: string, now?: number): SignedUrlClaims {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  const at = parsed.pathname.indexOf(SIGNED_PATH);
  if (at < 0) throw new SecurityError('the URL is not a Boards Storage signed URL');
  return verifySignedRequest(decodeURIComponent(parsed.pathname.slice(at + SIGNED_PATH.length)), method, parsed.searchParams, secret, now);
}

function signature(claims: SignedUrlClaims, secret: string): string {
  // A transform is signed only when there is one, so URLs without one keep their signatures.
  const canonical = ['boards-storage-v1', claims.method, claims.key, claims.expires, claims.maxSize ?? '', claims.contentType ?? '', claims.filename ?? '', ...(claims.transform === undefined ? [] : [`tf:${claims.transform}`])].join('\n');
  return createHmac('sha256', secret).update(canonical).digest('base64url');
}

/** Expiry in unix seconds, `expiresIn` seconds from now. */
export function expiryFromNow(expiresIn: number, now: number = Date.now()): number {
  if (!Number.isFinite(expiresIn) || expiresIn <= 0) throw new SecurityError('expiresIn must be a positive number of seconds');
  return Math.floor(now / 1000) + Math.ceil(expiresIn);
}

/** The signed GET of a self-signing provider (local, memory). */
export function signedDownloadUrl(baseUrl: string, key: string, opts: { expiresIn: number; filename?: string }, secret: string): string {
  return signUrl(baseUrl, { method: 'GET', key: assertSafeKey(key), expires: expiryFromNow(opts.expiresIn), ...(opts.filename ? { filename: opts.filename } : {}) }, secret);
}

/** The signed PUT of a self-signing provider: the content type and size limit are signed in. */
export function signedUpload(baseUrl: string, key: string, opts: { contentType: string; expiresIn: number; maxSize?: number }, secret: string): { url: string; method: 'PUT'; headers: Record<string, string>; expiresAt: string } {
  const expires = expiryFromNow(opts.expiresIn);
  const url = signUrl(baseUrl, { method: 'PUT', key: assertSafeKey(key), expires, contentType: opts.contentType, ...(opts.maxSize === undefined ? {} : { maxSize: opts.maxSize }) }, secret);
  return { url, method: 'PUT', headers: { 'Content-Type': opts.contentType }, expiresAt: new Date(expires * 1000).toISOString() };
}
