import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.ts';
import { healthResponse } from '../schemas.ts';

/** GET /healthz (the process answers) and GET /readyz (the catalog and every provider answer). */
export function healthRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/healthz', {
    schema: { summary: 'Liveness', tags: ['operations'], response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } },
  }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return { ok: true };
  });
  app.get('/readyz', {
    schema: { summary: 'Readiness: the catalog and every provider', tags: ['operations'], response: { 200: healthResponse, 503: healthResponse } },
  }, async (_request, reply) => {
    const report = await ctx.storage.health();
    reply.header('cache-control', 'no-store');
    return reply.code(report.ok ? 200 : 503).send(report);
  });
}
