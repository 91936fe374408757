import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.ts';
import { principalOf, tenantOf } from '../context.ts';
import { errors, uploadBody, uploadResponse } from '../schemas.ts';
import type { UploadBody } from '../schemas.ts';

/** POST /v1/uploads: a presigned direct upload, recorded as pending until it is completed. */
export function createUploadRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.post<{ Body: UploadBody }>('/v1/uploads', {
    schema: {
      summary: 'Presign a direct upload',
      description: 'Send the bytes to `url` with `method` and `headers` (plus `fields` for a POST form), then call POST /v1/uploads/{storageKey}/complete. `metadata` and `inputs` (lineage) given here are recorded with the artifact at completion.',
      tags: ['uploads'],
      body: uploadBody,
      response: { 201: uploadResponse, ...errors(400, 401, 403, 413, 415, 500, 501, 503) },
    },
  }, async (request, reply) => {
    const body = request.body;
    const upload = await ctx.storage.getUploadUrl({
      artifactId: body.artifactId ?? randomUUID(), artifactType: body.artifactType, contentType: body.contentType,
      tenantId: tenantOf(request), expiresIn: body.expiresIn, actor: principalOf(request).subject,
      ...(body.size === undefined ? {} : { size: body.size }),
      ...(body.boardId === undefined ? {} : { boardId: body.boardId }),
      ...(body.variant === undefined ? {} : { variant: body.variant }),
      ...(body.metadata === undefined ? {} : { metadata: body.metadata }),
      ...(body.inputs === undefined ? {} : { inputs: body.inputs }),
    });
    return reply.code(201).send(upload);
  });
}
