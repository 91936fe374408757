import type { FastifyInstance } from 'fastify';
import { AccessDeniedError } from '../../errors.ts';
import type { RouteContext } from '../context.ts';
import { principalOf } from '../context.ts';
import { z } from 'zod';
import { errors, pageLimit, requestSchema } from '../schemas.ts';

const delivery = {
  type: 'object',
  properties: {
    id: { type: 'string', description: 'the delivery id (Webhook-Id), the same on every attempt' },
    eventId: { type: 'string' },
    event: { type: 'string' },
    url: { type: 'string' },
    tenantId: { type: 'string' },
    storageKey: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
    attempts: { type: 'integer' },
    createdAt: { type: 'string' },
    lastAttemptAt: { type: 'string' },
    lastStatus: { type: 'integer' },
    lastError: { type: 'string' },
    nextAttemptAt: { type: 'string' },
  },
} as const;

const deliveriesQuerySchema = z.object({ status: z.enum(['pending', 'delivered', 'failed']).optional(), limit: pageLimit }).strict();

/** GET /v1/webhooks/deliveries: recent delivery attempts, newest first; service tokens only (operators). */
export function webhookDeliveriesRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.get<{ Querystring: z.output<typeof deliveriesQuerySchema> }>('/v1/webhooks/deliveries', {
    schema: {
      summary: 'Recent webhook deliveries (operators)',
      tags: ['operations'],
      querystring: requestSchema(deliveriesQuerySchema),
      response: { 200: { type: 'object', properties: { items: { type: 'array', items: delivery } } }, ...errors(400, 401, 403) },
    },
  }, async (request) => {
    if (!principalOf(request).isService) throw new AccessDeniedError('webhook deliveries are for operators: use a service token');
    const rows = await ctx.storage.catalog.webhooks.recent({ limit: request.query.limit, ...(request.query.status ? { status: request.query.status } : {}) });
    return {
      items: rows.map((r) => ({
        id: r.id, eventId: r.event_id, event: r.event_type, url: r.url, tenantId: r.tenant_id, storageKey: r.storage_key, status: r.status,
        attempts: r.attempts, createdAt: r.created_at,
        ...(r.last_attempt_at ? { lastAttemptAt: r.last_attempt_at } : {}), ...(r.last_status === null ? {} : { lastStatus: Number(r.last_status) }),
        ...(r.last_error ? { lastError: r.last_error } : {}), ...(r.status === 'pending' ? { nextAttemptAt: r.next_attempt_at } : {}),
      })),
    };
  });
}
