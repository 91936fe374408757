import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../errors.ts';
import { assertSafeKey } from '../../keys.ts';
import type { RouteContext } from '../context.ts';
import { ownKey, principalOf } from '../context.ts';
import { errors, keyQuery, storageKeyParams } from '../schemas.ts';

const SUFFIX = '/complete';

/** POST /v1/uploads/{storageKey}/complete: check that a direct upload landed and record it. */
export function completeUploadRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.post('/v1/uploads/*', {
    config: { openapiPath: '/v1/uploads/{storageKey}/complete' },
    schema: {
      summary: 'Complete a direct upload',
      description: 'The landed object is read back through the size limit, sniffing and SHA-256 before it is recorded; 404 when nothing landed.',
      tags: ['uploads'],
      params: storageKeyParams,
      querystring: keyQuery,
      response: { 201: { $ref: 'ArtifactReference#' }, ...errors(400, 401, 403, 404, 413, 415, 500, 503) },
    },
  }, async (request, reply) => {
    const path = (request.params as { '*': string })['*'];
    if (!path.endsWith(SUFFIX)) throw new NotFoundError(`no route POST ${request.url.split('?', 1)[0]}`);
    const { key, tenantId } = ownKey(request, assertSafeKey(path.slice(0, -SUFFIX.length), 'storageKey'));
    const ref = await ctx.storage.completeUpload(key, { tenantId, actor: principalOf(request).subject });
    return reply.code(201).header('location', `/v1/info/${ref.storageKey}`).send(ref);
  });
}
