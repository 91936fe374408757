import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { Counter } from 'prom-client';
import { assertSafeKey } from '../keys.ts';
import type { ArtifactReference } from '../manager/artifact-reference.ts';
import { ArtifactRows } from './artifact-rows.ts';
import { actingTenant } from './auth.ts';
import type { Authenticator, Principal } from './auth.ts';
import type { RouteContext } from './context.ts';
import { cachedArtifactKey, matchesEtag, parseRange } from './download.ts';
import type { RawRoute } from './raw-routes.ts';
import { nextRequestId } from './request-log.ts';

/**
 * `GET`/`HEAD /v1/artifacts/{key}` without a query (or with `?variant=NAME` alone, for a variant
 * the route found before), answered on the raw node:http objects (a raw
 * route, raw-routes.ts) when the answer is one of the common ones: a token verified moments ago
 * (the Authenticator's cache), an artifact of the caller's tenant (its catalog reference kept
 * while the catalog is unchanged, artifact-rows.ts), and a 200, 206, 304 or HEAD from the
 * small-object cache. Everything else goes on to the Fastify route unchanged (a token to
 * verify, a missing or foreign artifact, bytes not in the cache, a 416, a query, a request body):
 * the route answers it, and fills the caches for the next request. The status, headers, body,
 * metrics and log line are the route's (sendArtifact in download.ts); the tests compare both.
 *
 * Per request this skips Fastify's routing, hooks, request and reply objects, schema checks and
 * the per-request child logger: on small GETs these were about a third of the service's CPU.
 */

/** The route whose answers these are: its metrics labels. */
const ROUTE = '/v1/artifacts/*';
const PREFIX = '/v1/artifacts/';
/** Fastify's router refuses longer parameters (createServer's routerOptions.maxParamLength). */
const MAX_PARAM_LENGTH = 2048;
/** What the router would decode or split (percent-escapes, a query, a fragment, a parameter): left to it. */
const ROUTER_SYNTAX = /[%?#;]/;
/** `?variant=NAME` and nothing else, NAME as the route's schema allows it (schemas.ts), nothing to decode. */
const VARIANT_QUERY = /^\?variant=([A-Za-z0-9_.-]{1,128})$/;

export interface FastGetOptions {
  ctx: RouteContext;
  authenticator: Authenticator;
  /** The app's logger: one line per request, as OneLinePerRequest writes it. */
  log: FastifyBaseLogger;
}

/**
 * The raw route, or undefined when the service runs with something it does not implement: CORS
 * origins (headers on every answer), rate limits (counted per request), a trusted proxy (the
 * client address of the log line). Then every request takes the Fastify route.
 */
export function fastArtifactGet(options: FastGetOptions): { route: RawRoute; rows: ArtifactRows } | undefined {
  const { ctx, authenticator, log } = options;
  const config = ctx.config;
  if (config.cors.origins.length > 0 || config.rateLimit.perAddress || config.rateLimit.perTenant || config.trustProxy !== false) return undefined;
  const rows = new ArtifactRows(ctx.storage);
  const metrics = ctx.metrics;
  // Label lookups cost a hash per call: each (method, status) child is made once.
  const requestCounters = new Map<string, ReturnType<Counter['labels']>>();
  const bytesOut = metrics.bytesOut.labels({ route: ROUTE });
  const downloaded = { ok: metrics.downloadSeconds.labels({ outcome: 'ok' }), aborted: metrics.downloadSeconds.labels({ outcome: 'aborted' }) };
  const countRequest = (method: string, status: number) => {
    const id = `${method} ${status}`;
    let counter = requestCounters.get(id);
    if (!counter) requestCounters.set(id, counter = metrics.requests.labels({ method, route: ROUTE, status }));
    counter.inc();
  };

  const route: RawRoute = (req, res, next) => {
    const method = req.method;
    const url = req.url;
    if ((method !== 'GET' && method !== 'HEAD') || url === undefined || !url.startsWith(PREFIX)) return next();
    const started = performance.now();
    const headers = req.headers;
    // A body: Fastify's early-answer rules (request-body.ts) decide what becomes of it.
    if (headers['content-length'] !== undefined || headers['transfer-encoding'] !== undefined) return next();
    const query = url.indexOf('?');
    const key = url.slice(PREFIX.length, query < 0 ? undefined : query);
    // The one query answered here: a variant by name, and only one the route found before (ArtifactRows.keepVariant).
    const variant = query < 0 ? undefined : VARIANT_QUERY.exec(url.slice(query))?.[1];
    if ((query >= 0 && variant === undefined) || key.length > MAX_PARAM_LENGTH || ROUTER_SYNTAX.test(key)) return next();
    const principal = authenticator.remembered(headers.authorization);
    if (!principal) return next();
    const tenantId = ownTenant(principal, key, headers['x-tenant-id']);
    if (tenantId === undefined) return next();
    let found: ArtifactReference | Promise<ArtifactReference> | undefined;
    try {
      found = variant === undefined ? rows.lookup(key) : rows.variant(key, variant);
    } catch {
      return next();
    }
    if (found === undefined) return next();
    if (found instanceof Promise) {
      found.then((ref) => {
        if (ref.tenantId !== tenantId || !answer(ref)) next();
      }).catch((error: unknown) => {
        if (res.headersSent) res.destroy(error as Error);
        else next();
      });
    } else {
      let answered: boolean;
      try {
        answered = found.tenantId === tenantId && answer(found);
      } catch (error) {
        // As a throw inside the promise above would be: the route answers while nothing is written.
        if (res.headersSent) return void res.destroy(error as Error);
        answered = false;
      }
      if (!answered) next();
    }

    /** Answer from what is known now; false (nothing written) for anything the route must answer. */
    function answer(ref: ArtifactReference): boolean {
      const etag = `"${ref.sha256}"`;
      const reply: OutgoingHttpHeaders = {
        etag,
        'cache-control': ref.visibility === 'public' ? 'public, max-age=31536000, immutable' : 'private',
        'accept-ranges': 'bytes',
        'last-modified': new Date(ref.createdAt).toUTCString(),
        'x-content-type-options': 'nosniff',
        'content-security-policy': "default-src 'none'; sandbox",
      };
      if (ref.sha256 && matchesEtag(headers['if-none-match'], etag)) return send(304, reply, undefined, 0);
      const ifRange = headers['if-range'];
      const range = typeof ifRange === 'string' && ifRange.trim() !== etag ? { kind: 'full' as const } : parseRange(headers.range, ref.size);
      if (range.kind === 'unsatisfiable') return false;
      const start = range.kind === 'partial' ? range.start : 0;
      const end = range.kind === 'partial' ? range.end : ref.size - 1;
      const length = ref.size === 0 ? 0 : end - start + 1;
      reply['content-type'] = ref.contentType;
      reply['content-length'] = String(length);
      const status = range.kind === 'partial' ? 206 : 200;
      if (status === 206) reply['content-range'] = `bytes ${start}-${end}/${ref.size}`;
      if (method === 'HEAD' || length === 0) return send(status, reply, undefined, length);
      if (!ctx.cache.accepts(ref.size) || !ref.sha256) return false;
      const whole = ctx.cache.get(cachedArtifactKey(ref));
      if (!whole) return false;
      metrics.cacheHits.inc();
      res.once('close', () => {
        (res.writableFinished ? downloaded.ok : downloaded.aborted).observe((performance.now() - started) / 1000);
      });
      return send(status, reply, status === 206 ? whole.subarray(start, end + 1) : whole, length);
    }

    function send(status: number, reply: OutgoingHttpHeaders, body: Buffer | undefined, length: number): boolean {
      res.writeHead(status, reply);
      res.end(body);
      countRequest(method!, status);
      if (method !== 'HEAD' && status !== 304 && length > 0) bytesOut.inc(length);
      log.info({ reqId: nextRequestId(), req: { method, url, ip: req.socket.remoteAddress }, res: { statusCode: status }, responseTime: performance.now() - started }, 'request completed');
      return true;
    }
  };
  return { route, rows };
}

/** The caller's tenant when the key is in it (ownKey in context.ts, with no ?tenantId=); undefined for the route to answer. */
function ownTenant(principal: Principal, key: string, named: string | string[] | undefined): string | undefined {
  try {
    assertSafeKey(key, 'storageKey');
    const keyTenant = key.split('/', 1)[0]!;
    const tenantId = actingTenant(principal, typeof named === 'string' && named !== '' ? named : undefined, keyTenant);
    return tenantId === keyTenant ? tenantId : undefined;
  } catch {
    return undefined;
  }
}
