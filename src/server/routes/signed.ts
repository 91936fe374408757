import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AccessDeniedError, NotFoundError, SecurityError, ValidationError } from '../../errors.ts';
import { normalizeContentType } from '../../content/content-types.ts';
import { SIGNED_PATH, verifySignedRequest } from '../../providers/signed-url.ts';
import type { SignedUrlClaims } from '../../providers/signed-url.ts';
import type { RouteContext } from '../context.ts';
import { keyParam } from '../context.ts';
import { sendArtifact } from '../download.ts';
import { claimedVariant, resolveVariant } from '../media-request.ts';
import { clientBytes, clientGone } from '../request-body.ts';
import { errors, signedQuery, storageKeyParams } from '../schemas.ts';

const SIGNED_ROUTE = `${SIGNED_PATH}*`;

/**
 * The signed URLs of the providers that cannot sign their own (local, memory): the signature is
 * the only credential. GET/HEAD stream the artifact; PUT receives a presigned direct upload.
 * A bad, tampered, expired or wrong-method signature is a 403.
 */
export function signedDownloadRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.route({
    method: ['GET', 'HEAD'],
    url: SIGNED_ROUTE,
    exposeHeadRoute: false,
    schema: {
      summary: 'Download through a signed URL',
      description: 'URLs from POST /v1/urls for the local and memory providers. No other credential; `fn` in the URL sets the download file name. Range, ETag and If-None-Match as for /v1/artifacts.',
      tags: ['signed'],
      params: storageKeyParams,
      querystring: signedQuery,
      response: {
        200: { description: 'the artifact\'s bytes', content: { '*/*': { schema: { type: 'string', format: 'binary' } } } },
        206: { description: 'the requested range', content: { '*/*': { schema: { type: 'string', format: 'binary' } } } },
        ...errors(400, 403, 404, 416, 422, 500, 501, 503),
      },
    },
    handler: async (request, reply) => {
      const key = keyParam(request);
      const claims = verify(ctx, request, key);
      // A variant or transform only when the signature names it: the URL's other parameters are ignored.
      const wanted = claimedVariant(claims.transform);
      const ref = wanted ? await resolveVariant(ctx, reply, key, wanted) : await ctx.storage.getArtifact(key, { variants: false });
      return sendArtifact(ctx, request, reply, ref, claims.filename ? { filename: claims.filename } : {});
    },
  });
}

export function signedUploadRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.put(SIGNED_ROUTE, {
    schema: {
      summary: 'Upload through a signed URL',
      description: 'The body of a presigned direct upload (POST /v1/uploads) for the local and memory providers: the signed Content-Type, at most the signed size. Then POST /v1/uploads/{storageKey}/complete.',
      tags: ['signed'],
      params: storageKeyParams,
      querystring: signedQuery,
      response: { 204: { description: 'received', type: 'null' }, ...errors(400, 403, 404, 413, 415, 500, 503, 507) },
    },
  }, async (request, reply) => {
    const key = keyParam(request);
    const claims = verify(ctx, request, key);
    const contentType = request.headers['content-type'];
    if (!claims.contentType || !contentType || normalizeContentType(contentType) !== normalizeContentType(claims.contentType)) {
      throw new AccessDeniedError(`the upload was signed for Content-Type ${claims.contentType ?? '(none)'}`);
    }
    const maxSize = claims.maxSize ?? ctx.storage.config.maxFileSize;
    const length = Number(request.headers['content-length']);
    if (Number.isFinite(length) && length > maxSize) {
      throw new ValidationError(`the upload's ${length} bytes exceed the ${maxSize} it was signed for`, { code: 'CONTENT_TOO_LARGE', details: { limit: maxSize } });
    }
    reply.raw.once('close', ctx.uploads.acquire(key.slice(0, key.indexOf('/'))));
    const body = clientBytes(request.body as Readable ?? request.raw, (n) => ctx.metrics.bytesIn.inc({ route: SIGNED_ROUTE }, n), ctx.config.bodyIdleTimeoutMs);
    try {
      await ctx.storage.acceptDirectUpload(key, Readable.from(body, { objectMode: false }), { contentType, maxSize, signal: clientGone(request) });
    } catch (error) {
      if (error instanceof NotFoundError) throw new NotFoundError(`no upload is expected for ${key}`);
      throw error;
    }
    return reply.code(204).send();
  });
}

function verify(ctx: RouteContext, request: FastifyRequest, key: string): SignedUrlClaims {
  const at = request.url.indexOf('?');
  const query = new URLSearchParams(at < 0 ? '' : request.url.slice(at + 1));
  let failure: unknown;
  for (const secret of ctx.signingSecrets) {
    try {
      return verifySignedRequest(key, request.method, query, secret);
    } catch (error) {
      // A wrong method or an expiry under the right secret says more than "does not match".
      if (!failure || !/does not match/.test((error as Error).message)) failure = error;
    }
  }
  if (failure instanceof SecurityError) throw new AccessDeniedError(failure.message, { cause: failure });
  throw new AccessDeniedError('the URL signature does not match');
}
