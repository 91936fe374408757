import type { FastifyInstance } from 'fastify';
import { AccessDeniedError } from '../../errors.ts';
import type { RouteContext } from '../context.ts';
import { principalOf } from '../context.ts';
import { z } from 'zod';
import { errors, pageLimit, pageOf, requestSchema, safeId } from '../schemas.ts';

const tenantsQuerySchema = z.object({
  limit: pageLimit,
  cursor: safeId.describe('the last tenant id of the previous page (its nextCursor)').optional(),
}).strict();

const tenantsResponse = pageOf({ type: 'object', required: ['tenantId', 'artifacts', 'bytes'], properties: { tenantId: { type: 'string' }, artifacts: { type: 'integer' }, bytes: { type: 'integer' } } });

/** GET /v1/tenants: for service tokens only (what the console's tenant picker lists); 403 for anyone else. */
export function tenantsRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.get<{ Querystring: z.output<typeof tenantsQuerySchema> }>('/v1/tenants', {
    schema: {
      summary: 'List the tenants that have artifacts (service tokens only)',
      description: 'Artifact counts (variants not counted) and bytes per tenant, in tenant id order; keyset pagination as in GET /v1/artifacts.',
      tags: ['operations'],
      querystring: requestSchema(tenantsQuerySchema),
      response: { 200: tenantsResponse, ...errors(400, 401, 403, 500, 503) },
    },
  }, async (request) => {
    if (!principalOf(request).isService) throw new AccessDeniedError('listing tenants is for operators: use a service token (role service)');
    const { limit, cursor } = request.query;
    const rows = await ctx.storage.catalog.tenants({ limit: limit + 1, ...(cursor ? { after: cursor } : {}) });
    const items = rows.slice(0, limit);
    return { items, ...(rows.length > limit ? { nextCursor: items.at(-1)!.tenantId } : {}) };
  });
}
