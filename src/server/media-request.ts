import type { FastifyReply, FastifyRequest } from 'fastify';
import { AccessDeniedError, StorageError, ValidationError } from '../errors.ts';
import type { ArtifactReference } from '../manager/artifact-reference.ts';
import { bucketTransform, hasTransformParams, parseTransformClaim, transformClaim } from '../media/transform-request.ts';
import type { TransformQuery } from '../media/transform-request.ts';
import { signUrl, expiryFromNow } from '../providers/signed-url.ts';
import type { RouteContext } from './context.ts';

/**
 * Variants and transforms over HTTP: `?variant=thumb_256` serves a variant (a preset not made yet
 * is made now); `?width=&height=&fit=&format=&quality=` makes a transform, bucketed to a few
 * sizes, cached as a variant, so the next request is a plain read. Free-form transforms need a
 * caller who authenticated or a signed URL that names them (`tf`); transforms.enabled turns them off.
 */

export interface MediaQuery extends TransformQuery {
  variant?: string | undefined;
}

/** Which variant a request asks for, or undefined for the artifact itself. */
export function requestedVariant(query: MediaQuery): { variant: string } | { transform: TransformQuery } | undefined {
  const transform = hasTransformParams(query as Record<string, unknown>);
  if (query.variant !== undefined && query.variant !== '') {
    if (transform) throw new ValidationError('ask for a variant or for a transform, not both');
    return { variant: query.variant };
  }
  return transform ? { transform: query } : undefined;
}

/** A signed URL's `tf` claim: `variant:NAME` or a transform. */
export function claimedVariant(claim: string | undefined): { variant: string } | { transform: TransformQuery } | undefined {
  if (claim === undefined) return undefined;
  return claim.startsWith('variant:') ? { variant: claim.slice('variant:'.length) } : { transform: parseTransformClaim(claim) };
}

/** The reference to send: the original's variant, made now when it is a preset or transform not made yet. */
export async function resolveVariant(ctx: RouteContext, reply: FastifyReply, originalKey: string, wanted: { variant: string } | { transform: TransformQuery }, actor?: string): Promise<ArtifactReference> {
  try {
    if ('variant' in wanted) return await ctx.storage.getVariant(originalKey, wanted.variant, actor ? { actor } : {});
    const transforms = ctx.storage.mediaConfig.transforms;
    if (!transforms.enabled) throw new StorageError('on-the-fly transforms are turned off here (transforms.enabled); ask for a preset with ?variant=', { code: 'TRANSFORMS_DISABLED' });
    return await ctx.storage.createVariant(originalKey, bucketTransform(wanted.transform, transforms), actor ? { actor } : {});
  } catch (error) {
    if (error instanceof StorageError && error.code === 'SERVER_BUSY') reply.header('retry-after', '1');
    throw error;
  }
}

/** A signed URL of this service for a variant or transform of `key` (any provider: the service makes it). */
export function signedVariantUrl(ctx: RouteContext, request: FastifyRequest, key: string, wanted: { variant: string } | { transform: TransformQuery }, expiresIn: number): string {
  const secret = ctx.signingSecrets[0];
  if (!secret) throw new AccessDeniedError('this service has no signing secret for variant URLs');
  let claim: string;
  if ('variant' in wanted) claim = `variant:${wanted.variant}`;
  else {
    const transforms = ctx.storage.mediaConfig.transforms;
    if (!transforms.enabled) throw new StorageError('on-the-fly transforms are turned off here (transforms.enabled)', { code: 'TRANSFORMS_DISABLED' });
    claim = transformClaim(bucketTransform(wanted.transform, transforms));
  }
  const base = ctx.config.publicUrl ?? `${request.protocol}://${request.host}`;
  return signUrl(base, { method: 'GET', key, expires: expiryFromNow(expiresIn), transform: claim }, secret);
}
