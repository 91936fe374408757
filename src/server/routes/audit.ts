import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.ts';
import { tenantOf } from '../context.ts';
import { auditPageSchema, auditQuery, errors } from '../schemas.ts';
import type { AuditQueryString } from '../schemas.ts';

/** GET /v1/audit: the caller's tenant's audit trail, newest first, a page at a time. */
export function auditRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.get<{ Querystring: AuditQueryString }>('/v1/audit', {
    schema: {
      summary: 'The tenant\'s audit trail',
      description: 'Events (stored, deleted, visibility and metadata changes, signed URLs, uploads, moves, repairs, restores ...) of the caller\'s tenant only, newest first; '
        + 'filter by `key` (one artifact) or `boardId`, and by time (`since` inclusive, `until` exclusive). Keyset pagination: pass `nextCursor` back as `cursor`. '
        + 'Service tokens name the tenant with `tenantId` or X-Tenant-Id.',
      tags: ['operations'],
      querystring: auditQuery,
      response: { 200: auditPageSchema, ...errors(400, 401, 403, 500, 503) },
    },
  }, async (request) => {
    const { key, boardId, since, until, limit, cursor } = request.query;
    // Another tenant's key simply has no events here: the query is held to the caller's tenant.
    return ctx.storage.listAudit({
      tenantId: tenantOf(request), limit,
      ...(key === undefined ? {} : { storageKey: key }),
      ...(boardId === undefined ? {} : { boardId }),
      ...(since === undefined ? {} : { since: new Date(since) }),
      ...(until === undefined ? {} : { until: new Date(until) }),
      ...(cursor === undefined || cursor === '' ? {} : { cursor }),
    });
  });
}
