import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.ts';
import type { HealthCheck } from '../../manager/storage-manager.ts';
import { healthResponse } from '../schemas.ts';

/** GET /healthz (the process answers) and GET /readyz (the catalog and every provider answered the latest background check). */
export function healthRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/healthz', {
    schema: { summary: 'Liveness', tags: ['operations'], response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } },
  }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return { ok: true };
  });
  app.get('/readyz', {
    schema: {
      summary: 'Readiness: the catalog and every provider',
      description: 'From the latest background check (every cluster.health_interval; `checkedAt` and `ageMs` say when), and whether this node runs the background work (`node`).',
      tags: ['operations'], response: { 200: healthResponse, 503: healthResponse },
    },
  }, async (request, reply) => {
    const { report, checkedAt } = await ctx.health.current();
    reply.header('cache-control', 'no-store');
    if (!report.ok) request.log.warn({ report }, 'not ready');
    // Unauthenticated: only the failures' codes, never their messages (paths, hosts); the log has those.
    const shown = (check: HealthCheck) => ({ ok: check.ok, ms: check.ms, ...(check.ok ? {} : { error: check.code ?? 'STORAGE_ERROR' }) });
    return reply.code(report.ok ? 200 : 503).send({
      ok: report.ok,
      checkedAt: new Date(checkedAt).toISOString(),
      ageMs: Math.max(0, Date.now() - checkedAt),
      ...(ctx.leadership ? { node: ctx.leadership.status() } : {}),
      catalog: shown(report.catalog),
      providers: Object.fromEntries(Object.entries(report.providers).map(([name, check]) => [name, { ...shown(check), ...(check.breaker ? { breaker: check.breaker } : {}) }])),
    });
  });
}
