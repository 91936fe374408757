import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.ts';
import { principalOf, tenantOf } from '../context.ts';
import { boardListQuery, boardPageSchema, boardParams, copyBoardBody, copyBoardResponse, deleteBoardResponse, errors, keyQuery } from '../schemas.ts';
import type { BoardListQuery, BoardParams, CopyBoardBody } from '../schemas.ts';

/** GET /v1/boards: the caller's boards with their figures and covers, a page at a time. */
export function listBoardsRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.get<{ Querystring: BoardListQuery }>('/v1/boards', {
    schema: {
      summary: 'List the caller\'s boards',
      description: 'Each board with its artifact count (variants not counted), bytes (variants included), last activity and cover (its newest image). Keyset pagination: pass `nextCursor` back as `cursor`.',
      tags: ['boards'],
      querystring: boardListQuery,
      response: { 200: boardPageSchema, ...errors(400, 401, 403, 500, 503) },
    },
  }, async (request) => {
    const { limit, cursor } = request.query;
    return ctx.storage.listBoards({ tenantId: tenantOf(request), limit, ...(cursor ? { cursor } : {}) });
  });
}

/** DELETE /v1/boards/{boardId}: every artifact of the board, to the trash when there is one. */
export function deleteBoardRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.delete<{ Params: BoardParams }>('/v1/boards/:boardId', {
    schema: {
      summary: 'Delete a board\'s artifacts',
      description: 'With a trash (`trash_retention` > 0, the default) they can be restored one by one with POST /v1/trash/{storageKey}/restore; their variants are deleted for good and made again on demand. 404 when the caller has no such board.',
      tags: ['boards'],
      params: boardParams,
      querystring: keyQuery,
      response: { 200: deleteBoardResponse, ...errors(400, 401, 403, 404, 500, 503) },
    },
  }, async (request) => ctx.storage.deleteBoard(request.params.boardId, { tenantId: tenantOf(request), actor: principalOf(request).subject }));
}

/** POST /v1/boards/{boardId}/copy: the board's artifacts, variants included, copied to a new board. */
export function copyBoardRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.post<{ Params: BoardParams; Body: CopyBoardBody }>('/v1/boards/:boardId/copy', {
    schema: {
      summary: 'Copy a board to a new board',
      description: 'Server-side copies where the backend has them; every copy is read back and checked against the recorded SHA-256 before it is recorded under its new key. 409 when `toBoardId` already has artifacts; a failure leaves nothing of the copy.',
      tags: ['boards'],
      params: boardParams,
      querystring: keyQuery,
      body: copyBoardBody,
      response: { 201: copyBoardResponse, ...errors(400, 401, 403, 404, 409, 500, 503, 507) },
    },
  }, async (request, reply) => {
    const toBoardId = request.body?.toBoardId;
    const result = await ctx.storage.copyBoard(request.params.boardId, { tenantId: tenantOf(request), actor: principalOf(request).subject, ...(toBoardId ? { toBoardId } : {}) });
    return reply.code(201).send(result);
  });
}
