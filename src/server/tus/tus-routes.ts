import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NotFoundError } from '../../errors.ts';
import { principalOf, tenantOf } from '../context.ts';
import { streamBodies } from '../request-body.ts';
import { TUS_PATH, uploadOwner } from './tus-uploads.ts';
import type { TusUploads } from './tus-uploads.ts';

const METHODS = ['POST', 'HEAD', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * `/v1/uploads/tus` (creation) and `/v1/uploads/tus/{uploadId}` (offset, append, terminate). The
 * bearer token is checked like on every /v1 route; an upload id names its tenant, and another
 * tenant's upload is answered as a missing one. Bodies stream untouched to the TUS handlers.
 */
export async function tusRoutes(app: FastifyInstance, tus: TusUploads): Promise<void> {
  await app.register(async (scope) => {
    streamBodies(scope);
    const schema = { tags: ['uploads'], hide: true };
    scope.route({ method: [...METHODS], url: TUS_PATH, schema, handler: (request, reply) => pass(request, reply, tus, tenantOf(request)) });
    scope.route({
      method: [...METHODS], url: `${TUS_PATH}/:uploadId`, schema,
      handler: (request, reply) => {
        const id = (request.params as { uploadId: string }).uploadId;
        const owner = uploadOwner(id);
        // A service token addressing an upload acts for its tenant unless it names one.
        const tenantId = owner === undefined ? undefined : tenantOf(request, owner);
        if (owner === undefined || owner !== tenantId) throw new NotFoundError(`no upload ${id}`);
        return pass(request, reply, tus, tenantId);
      },
    });
  });
}

async function pass(request: FastifyRequest, reply: FastifyReply, tus: TusUploads, tenantId: string): Promise<void> {
  const actor = principalOf(request).subject;
  reply.hijack();
  await tus.handle(request.raw, reply.raw, { tenantId, actor });
}
