import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../errors.ts';
import { PUBLIC_PATH } from '../../providers/signed-url.ts';
import type { RouteContext } from '../context.ts';
import { keyParam } from '../context.ts';
import { sendArtifact } from '../download.ts';
import { errors, storageKeyParams } from '../schemas.ts';

/**
 * GET and HEAD /v1/public/{storageKey}: anonymous reads of public artifacts, the public URL of the
 * providers without a web server of their own (local, memory). Visibility is read from the catalog
 * on every request, so an artifact made private stops answering here at once. A private, trashed or
 * missing artifact is the same 404, so nobody learns what exists.
 */
export function publicArtifactRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.route({
    method: ['GET', 'HEAD'],
    url: `${PUBLIC_PATH}*`,
    exposeHeadRoute: false,
    schema: {
      summary: 'Read a public artifact',
      description: 'No credential. Only artifacts whose visibility is `public` answer; anything else is 404. Range, ETag and If-None-Match as for /v1/artifacts; cacheable forever (immutable).',
      tags: ['artifacts'],
      params: storageKeyParams,
      response: {
        200: { description: 'the artifact\'s bytes', content: { '*/*': { schema: { type: 'string', format: 'binary' } } } },
        206: { description: 'the requested range', content: { '*/*': { schema: { type: 'string', format: 'binary' } } } },
        304: { description: 'not modified', type: 'null' },
        ...errors(400, 404, 416, 500, 503),
      },
    },
    handler: async (request, reply) => {
      const key = keyParam(request);
      const ref = await ctx.storage.getArtifact(key, { variants: false }).catch((error: unknown) => {
        throw error instanceof NotFoundError ? notPublic(key) : error;
      });
      if (ref.visibility !== 'public') throw notPublic(key);
      return sendArtifact(ctx, request, reply, ref, {});
    },
  });
}

function notPublic(key: string): NotFoundError {
  return new NotFoundError(`No public artifact at ${key}. A private artifact is read with a token (GET /v1/artifacts/{key}) or a signed URL (POST /v1/urls).`);
}
