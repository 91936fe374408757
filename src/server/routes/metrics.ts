import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.ts';

/** GET /metrics: Prometheus text format. */
export function metricsRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/metrics', {
    schema: { summary: 'Prometheus metrics', tags: ['operations'], response: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } } },
  }, async (_request, reply) => {
    const { contentType, body } = await ctx.metrics.render();
    return reply.header('cache-control', 'no-store').type(contentType).send(body);
  });
}
