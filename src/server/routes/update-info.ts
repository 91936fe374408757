import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.ts';
import { keyParam, ownArtifact, principalOf } from '../context.ts';
import { errors, infoPatchBody, keyQuery, storageKeyParams } from '../schemas.ts';
import type { InfoPatchBody } from '../schemas.ts';

/** PATCH /v1/info/{storageKey}: change an artifact's visibility, its metadata, or both. */
export function updateInfoRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.patch<{ Body: InfoPatchBody }>('/v1/info/*', {
    schema: {
      summary: 'Change an artifact\'s visibility or metadata',
      description: '`visibility`: a public artifact gets a URL that needs no signature (when its provider has one) and is served with an immutable Cache-Control. '
        + '`metadata`: merged into the artifact\'s metadata, keys set to null removed; the result is held to the limits of a store (400 when it breaks them). '
        + 'Both changes are audit-logged. The answer is the reference as GET /v1/info gives it.',
      tags: ['artifacts'],
      params: storageKeyParams,
      querystring: keyQuery,
      body: infoPatchBody,
      response: { 200: { $ref: 'ArtifactReference#' }, ...errors(400, 401, 403, 404, 409, 422, 500, 503) },
    },
  }, async (request) => {
    const ref = await ownArtifact(ctx.storage, request, keyParam(request), { variants: false });
    const actor = { actor: principalOf(request).subject };
    const { visibility, metadata } = request.body;
    // Metadata first: a patch it refuses changes nothing.
    if (metadata !== undefined) await ctx.storage.updateMetadata(ref.storageKey, metadata, actor);
    if (visibility !== undefined) await ctx.storage.setVisibility(ref.storageKey, visibility, actor);
    return ctx.storage.getArtifact(ref.storageKey);
  });
}
