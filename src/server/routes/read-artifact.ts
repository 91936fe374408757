import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.ts';
import { keyParam, ownArtifact, ownKey } from '../context.ts';
import { sendArtifact } from '../download.ts';
import { requestedVariant, resolveVariant } from '../media-request.ts';
import { downloadQuery, errors, storageKeyParams } from '../schemas.ts';
import type { DownloadQuery } from '../schemas.ts';

/** GET and HEAD /v1/artifacts/{storageKey}: the bytes, with Range, ETag, If-None-Match and Cache-Control. */
export function readArtifactRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.route<{ Querystring: DownloadQuery }>({
    method: ['GET', 'HEAD'],
    url: '/v1/artifacts/*',
    exposeHeadRoute: false,
    schema: {
      summary: 'Download an artifact',
      description: 'A single `Range` gives 206 (416 when outside the artifact); the ETag is the quoted SHA-256 and `If-None-Match` gives 304. Public artifacts are cacheable forever (immutable), private ones `private`. `?variant=` serves a variant (a preset not made yet is made now); `?width=&height=&fit=&format=&quality=` a transform, cached as a variant (sizes rounded to transforms.allowed_sizes; images refused with 422 when they declare too many pixels or frames or cannot be decoded; 503 with Retry-After when too many transforms wait).',
      tags: ['artifacts'],
      params: storageKeyParams,
      querystring: downloadQuery,
      response: {
        200: { description: 'the artifact\'s bytes', content: { '*/*': { schema: { type: 'string', format: 'binary' } } } },
        206: { description: 'the requested range', content: { '*/*': { schema: { type: 'string', format: 'binary' } } } },
        304: { description: 'not modified', type: 'null' },
        ...errors(400, 401, 403, 404, 416, 422, 500, 501, 503),
      },
    },
    handler: async (request, reply) => {
      const key = keyParam(request);
      const wanted = requestedVariant(request.query);
      // A variant's key is in its original's folder, so the tenant check of the key covers it.
      let ref;
      if (wanted) {
        const originalKey = ownKey(request, key).key;
        const begun = ctx.rows?.begin();
        ref = await resolveVariant(ctx, reply, originalKey, wanted, request.principal?.subject);
        // The raw GET path answers the next `?variant=` request for it from this (fast-get.ts).
        if (begun !== undefined && 'variant' in wanted) ctx.rows!.keepVariant(begun, originalKey, wanted.variant, ref);
      } else ref = await ownArtifact(ctx.storage, request, key, { variants: false });
      const download = request.query.download;
      const filename = download === undefined ? undefined : (download || ref.storageKey.slice(ref.storageKey.lastIndexOf('/') + 1));
      return sendArtifact(ctx, request, reply, ref, filename === undefined ? {} : { filename });
    },
  });
}
