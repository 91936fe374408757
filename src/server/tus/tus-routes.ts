import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NotFoundError } from '../../errors.ts';
import { principalOf, tenantOf } from '../context.ts';
import type { RouteContext } from '../context.ts';
import { cutWhenBodyIdle, streamBodies } from '../request-body.ts';
import { carriesUploadBytes } from './tus-limits.ts';
import { TUS_PATH, uploadOwner } from './tus-uploads.ts';
import type { TusUploads } from './tus-uploads.ts';

const METHODS = ['POST', 'HEAD', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * `/v1/uploads/tus` (creation) and `/v1/uploads/tus/{uploadId}` (offset, append, terminate). The
 * bearer token is checked like on every /v1 route; an upload id names its tenant, and another
 * tenant's upload is answered as a missing one. Bodies stream untouched to the TUS handlers,
 * under the limits of every upload route: a request carrying bytes holds an upload slot (429/503
 * with Retry-After over the caps), and its connection is closed when its body stalls for
 * server.body_idle_timeout.
 */
export async function tusRoutes(app: FastifyInstance, tus: TusUploads, ctx: RouteContext): Promise<void> {
  await app.register(async (scope) => {
    streamBodies(scope);
    const schema = { tags: ['uploads'], hide: true };
    scope.route({ method: [...METHODS], url: TUS_PATH, schema, handler: (request, reply) => pass(request, reply, tus, ctx, tenantOf(request)) });
    scope.route({
      method: [...METHODS], url: `${TUS_PATH}/:uploadId`, schema,
      handler: (request, reply) => {
        const id = (request.params as { uploadId: string }).uploadId;
        const owner = uploadOwner(id);
        // A service token addressing an upload acts for its tenant unless it names one.
        const tenantId = owner === undefined ? undefined : tenantOf(request, owner);
        if (owner === undefined || owner !== tenantId) throw new NotFoundError(`no upload ${id}`);
        return pass(request, reply, tus, ctx, tenantId);
      },
    });
  });
}

async function pass(request: FastifyRequest, reply: FastifyReply, tus: TusUploads, ctx: RouteContext, tenantId: string): Promise<void> {
  const actor = principalOf(request).subject;
  if (carriesUploadBytes(request.raw)) {
    // Refused before hijacking: the error handler answers (and drains or closes, as after any early answer).
    reply.raw.once('close', ctx.uploads.acquire(tenantId));
    // server.body_idle_timeout, as on every upload route. A stalled body is cut without an answer:
    // the TUS handlers keep what landed, and a tus client retries a broken connection and resumes
    // from the offset HEAD gives (a 408 is a 4xx, which tus clients do not retry).
    reply.raw.once('close', cutWhenBodyIdle(request.raw, ctx.config.bodyIdleTimeoutMs, (error) => {
      // Counted and logged as the other upload routes' 408s are, though no answer is sent.
      ctx.metrics.errors.inc({ code: error.code });
      request.log.info({ code: error.code }, error.message);
    }));
  }
  reply.hijack();
  await tus.handle(request.raw, reply.raw, { tenantId, actor });
}
