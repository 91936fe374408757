import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.ts';
import { tenantOf } from '../context.ts';
import { artifactPageSchema, errors, listQuery } from '../schemas.ts';
import type { ListQuery } from '../schemas.ts';

/** GET /v1/artifacts: the caller's artifacts in key order, a page at a time. */
export function listArtifactsRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.get<{ Querystring: ListQuery }>('/v1/artifacts', {
    schema: {
      summary: 'List the caller\'s artifacts',
      description: 'Keyset pagination: pass `nextCursor` back as `cursor` for the next page. `artifactId` finds the artifacts of that id; `input` lists the artifacts made from that one (lineage).',
      tags: ['artifacts'],
      querystring: listQuery,
      response: { 200: artifactPageSchema, ...errors(400, 401, 403, 500, 503) },
    },
  }, async (request) => {
    const { boardId, artifactType, artifactId, input, prefix, limit, cursor } = request.query;
    return ctx.storage.listArtifacts({
      tenantId: tenantOf(request), limit,
      ...(boardId === undefined ? {} : { boardId }),
      ...(artifactType === undefined ? {} : { artifactType }),
      ...(artifactId === undefined ? {} : { artifactId }),
      // Another tenant's key has no outputs here: lineage is read within the caller's tenant.
      ...(input === undefined ? {} : { input }),
      ...(prefix === undefined || prefix === '' ? {} : { prefix }),
      ...(cursor === undefined || cursor === '' ? {} : { cursor }),
    });
  });
}
