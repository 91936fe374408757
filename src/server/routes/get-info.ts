import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.ts';
import { keyParam, ownArtifact } from '../context.ts';
import { errors, keyQuery, storageKeyParams } from '../schemas.ts';

/** GET /v1/info/{storageKey}: the artifact's reference. */
export function getInfoRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/v1/info/*', {
    schema: {
      summary: 'An artifact\'s reference',
      tags: ['artifacts'],
      params: storageKeyParams,
      querystring: keyQuery,
      response: { 200: { $ref: 'ArtifactReference#' }, ...errors(400, 401, 403, 404, 500, 503) },
    },
  }, async (request) => ownArtifact(ctx.storage, request, keyParam(request)));
}
