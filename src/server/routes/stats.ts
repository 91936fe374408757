import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.ts';
import { tenantOf } from '../context.ts';
import { errors, keyQuery, statsResponse } from '../schemas.ts';

/** GET /v1/stats: counts and bytes of the caller's tenant, by artifact type and provider. */
export function statsRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/v1/stats', {
    schema: {
      summary: 'Usage of the caller\'s tenant',
      tags: ['stats'],
      querystring: keyQuery,
      response: { 200: statsResponse, ...errors(401, 403, 500, 503) },
    },
  }, async (request) => {
    const tenantId = tenantOf(request);
    const [stats, quota] = await Promise.all([ctx.storage.getStats(tenantId), ctx.storage.quotas.report(tenantId)]);
    return { tenantId, ...stats, ...(quota ? { quota } : {}) };
  });
}
