import type { FastifyInstance } from 'fastify';
import type { Visibility } from '../../manager/artifact-reference.ts';
import type { RouteContext } from '../context.ts';
import { keyParam, ownArtifact, principalOf } from '../context.ts';
import { errors, keyQuery, storageKeyParams, visibilityBody } from '../schemas.ts';

/** PATCH /v1/info/{storageKey}: make an artifact public or private. */
export function setVisibilityRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.patch<{ Body: { visibility: Visibility } }>('/v1/info/*', {
    schema: {
      summary: 'Change an artifact\'s visibility',
      description: 'A public artifact gets a URL that needs no signature (when its provider has one) and is served with an immutable Cache-Control.',
      tags: ['artifacts'],
      params: storageKeyParams,
      querystring: keyQuery,
      body: visibilityBody,
      response: { 200: { $ref: 'ArtifactReference#' }, ...errors(400, 401, 403, 404, 500, 503) },
    },
  }, async (request) => {
    const ref = await ownArtifact(ctx.storage, request, keyParam(request));
    return ctx.storage.setVisibility(ref.storageKey, request.body.visibility, { actor: principalOf(request).subject });
  });
}
