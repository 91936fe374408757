import type { FastifyInstance } from 'fastify';
import { assertSafeKey } from '../../keys.ts';
import type { RouteContext } from '../context.ts';
import { ownArtifact, principalOf } from '../context.ts';
import { errors, urlsBody, urlsResponse } from '../schemas.ts';
import type { UrlsBody } from '../schemas.ts';
import { signedVariantUrl } from '../media-request.ts';

/** POST /v1/urls: signed download URLs for several of the caller's artifacts, in the order given. */
export function signUrlsRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.post<{ Body: UrlsBody }>('/v1/urls', {
    schema: {
      summary: 'Signed download URLs (batch)',
      description: 'Every key must be one of the caller\'s artifacts; one that is not makes the whole request a 404. With `variant` or `transform` the URLs are this service\'s own, signed with the variant or transform in them (the only way to hand out a transform URL that works without a token).',
      tags: ['urls'],
      body: urlsBody(ctx.config.maxBatchUrls),
      response: { 200: urlsResponse, ...errors(400, 401, 403, 404, 500, 503) },
    },
  }, async (request) => {
    const { keys, expiresIn, filename, variant, transform } = request.body;
    const checked = keys.map((key) => assertSafeKey(key, 'keys[]'));
    await Promise.all(checked.map((key) => ownArtifact(ctx.storage, request, key, { lineage: false })));
    if (variant !== undefined || transform !== undefined) {
      const wanted = variant !== undefined ? { variant } : { transform: transform! };
      return {
        expiresAt: new Date(Date.now() + expiresIn * 1000).toISOString(),
        urls: checked.map((storageKey) => ({ storageKey, url: signedVariantUrl(ctx, request, storageKey, wanted, expiresIn) })),
      };
    }
    const urls = await ctx.storage.getDownloadUrls(checked, undefined, { expiresIn, actor: principalOf(request).subject, ...(filename ? { filename } : {}) });
    return {
      expiresAt: new Date(Date.now() + expiresIn * 1000).toISOString(),
      urls: checked.map((storageKey, i) => ({ storageKey, url: urls[i]! })),
    };
  });
}
