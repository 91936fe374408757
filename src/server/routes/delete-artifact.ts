import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../errors.ts';
import type { RouteContext } from '../context.ts';
import { keyParam, ownArtifact, principalOf } from '../context.ts';
import { errors, keyQuery, storageKeyParams } from '../schemas.ts';

/** DELETE /v1/artifacts/{storageKey}: 204, or 404 when there is nothing of the caller's to delete. */
export function deleteArtifactRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.delete('/v1/artifacts/*', {
    schema: {
      summary: 'Delete an artifact',
      tags: ['artifacts'],
      params: storageKeyParams,
      querystring: keyQuery,
      response: { 204: { description: 'deleted', type: 'null' }, ...errors(400, 401, 403, 404, 500, 503) },
    },
  }, async (request, reply) => {
    const ref = await ownArtifact(ctx.storage, request, keyParam(request), { lineage: false });
    const deleted = await ctx.storage.deleteArtifact(ref.storageKey, undefined, { actor: principalOf(request).subject });
    if (!deleted) throw new NotFoundError(`artifact ${ref.storageKey} not found`);
    return reply.code(204).send();
  });
}
