import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../errors.ts';
import { assertSafeKey } from '../../keys.ts';
import type { RouteContext } from '../context.ts';
import { ownKey, principalOf, tenantOf } from '../context.ts';
import { z } from 'zod';
import { artifactReferenceSchema, errors, keyQuery, pageCursor, pageLimit, pageOf, requestSchema, safeId, storageKeyParams, tenantQuery } from '../schemas.ts';

const trashedArtifact = {
  type: 'object',
  properties: {
    ...artifactReferenceSchema.properties,
    deletedAt: { type: 'string', format: 'date-time' },
    deletedBy: { type: 'string' },
    purgeAfter: { type: 'string', format: 'date-time', description: 'the cleanup task purges it after this' },
  },
} as const;

const trashQuerySchema = z.object({ boardId: safeId.optional(), limit: pageLimit, cursor: pageCursor.optional(), tenantId: tenantQuery.optional() }).strict();

/** GET /v1/trash: the caller's deleted artifacts, until the purge. */
export function listTrashRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.get<{ Querystring: z.output<typeof trashQuerySchema> }>('/v1/trash', {
    schema: {
      summary: 'List the caller\'s deleted artifacts (the trash)',
      description: 'Deleted artifacts stay here for `trash_retention` (default 7 days); keyset pagination as in GET /v1/artifacts.',
      tags: ['artifacts'],
      querystring: requestSchema(trashQuerySchema),
      response: { 200: pageOf(trashedArtifact), ...errors(400, 401, 403, 500, 503) },
    },
  }, async (request) => {
    const { boardId, limit, cursor } = request.query;
    return ctx.storage.listTrash({ tenantId: tenantOf(request), limit, ...(boardId ? { boardId } : {}), ...(cursor ? { cursor } : {}) });
  });
}

/** POST /v1/trash/{storageKey}/restore: bring a deleted artifact back; 200 with its reference. */
export function restoreFromTrashRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.post('/v1/trash/*', {
    config: { openapiPath: '/v1/trash/{storageKey}/restore' },
    schema: {
      summary: 'Restore a deleted artifact from the trash',
      tags: ['artifacts'],
      params: storageKeyParams,
      querystring: keyQuery,
      response: { 200: { $ref: 'ArtifactReference#' }, ...errors(400, 401, 403, 404, 409, 500, 503) },
    },
  }, async (request) => {
    const path = (request.params as { '*'?: string })['*'] ?? '';
    if (!path.endsWith('/restore')) throw new NotFoundError(`no route POST /v1/trash/${path}; restore with POST /v1/trash/{storageKey}/restore`);
    const key = assertSafeKey(path.slice(0, -'/restore'.length), 'storageKey');
    const { tenantId } = ownKey(request, key);
    const trashed = await ctx.storage.catalog.trash.get(key);
    // Another tenant's key is answered like a missing one.
    if (!trashed || trashed.tenantId !== tenantId) throw new NotFoundError(`artifact ${key} is not in the trash`);
    return ctx.storage.undelete(key, { actor: principalOf(request).subject });
  });
}
