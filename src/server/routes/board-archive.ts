import type { FastifyInstance } from 'fastify';
import { attachmentDisposition } from '../../content/content-disposition.ts';
import type { RouteContext } from '../context.ts';
import { tenantOf } from '../context.ts';
import { archiveQuery, boardParams, errors } from '../schemas.ts';
import type { ArchiveQuery, BoardParams } from '../schemas.ts';

/**
 * GET /v1/boards/{boardId}/archive: a zip of the board (or of a selection) with manifest.json,
 * streamed with its exact Content-Length. A read that fails after the headers cuts the response
 * short, so a client never takes a truncated zip for a whole one.
 */
export function boardArchiveRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.get<{ Params: BoardParams; Querystring: ArchiveQuery }>('/v1/boards/:boardId/archive', {
    exposeHeadRoute: false,
    schema: {
      summary: 'Download a board as a zip',
      description: '`manifest.json` first (each artifact\'s file name in the zip, storage key, type, content type, size, SHA-256, metadata), then the artifacts, stored as they are. Filter with `?type=`, `?artifactId=` and `?keys=` (repeated or comma-separated). Every artifact is read through verified reads: a corrupt copy aborts the response.',
      tags: ['boards'],
      params: boardParams,
      querystring: archiveQuery,
      response: {
        200: { description: 'the zip', content: { 'application/zip': { schema: { type: 'string', format: 'binary' } } } },
        ...errors(400, 401, 403, 404, 413, 500, 503),
      },
    },
  }, async (request, reply) => {
    const { type, artifactId, keys } = request.query;
    const list = (values: string[] | undefined) => values?.flatMap((v) => v.split(',')).filter((v) => v !== '');
    const artifactIds = list(artifactId);
    const storageKeys = list(keys);
    const archive = await ctx.storage.openBoardArchive(request.params.boardId, {
      tenantId: tenantOf(request),
      ...(type ? { artifactType: type } : {}), ...(artifactIds?.length ? { artifactIds } : {}), ...(storageKeys?.length ? { storageKeys } : {}),
    });
    reply.type('application/zip');
    reply.header('content-disposition', attachmentDisposition(archive.fileName));
    reply.header('cache-control', 'private, no-store');
    reply.header('x-content-type-options', 'nosniff');
    if (archive.size !== undefined) reply.header('content-length', String(archive.size));
    archive.stream.once('error', (error) => request.log.warn({ err: error, boardId: request.params.boardId }, 'a board archive failed after its headers were sent; the response is cut short'));
    return reply.send(archive.stream);
  });
}
