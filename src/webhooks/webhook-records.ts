import { createHash } from 'node:crypto';
import { CatalogRecords } from '../catalog/records.ts';
import type { WebhookDeliveryRow } from '../catalog/tables.ts';
import { EVENT_OF_ACTION } from './webhook-config.ts';
import type { Webhook } from './webhook-config.ts';

/**
 * The webhook outbox in the catalog: events (written by a trigger in the transaction of each
 * change), fanned out into one delivery row per matching webhook, claimed with a lease so that
 * nodes never deliver the same attempt twice at once.
 */
export class WebhookRecords extends CatalogRecords {
  /** Turn the event trigger on (webhooks configured) or off (none: changes write no events). */
  async setEnabled(enabled: boolean): Promise<void> {
    // One upsert: nodes starting at once all set it (a delete then insert made all but one fail on the key).
    const value = enabled ? 1 : 0;
    await this.run('enabling webhooks', () => this.db.insertInto('webhook_state').values({ id: 1, enabled: value })
      .onConflict((oc) => oc.column('id').doUpdateSet({ enabled: value })).execute());
  }

  /**
   * Fan up to `limit` new events out into delivery rows, one per webhook that wants the event. A
   * delivery's id is derived from the event and the URL, so a fan-out repeated by another node
   * inserts nothing twice.
   */
  async fanOut(webhooks: Webhook[], now: Date, limit: number): Promise<number> {
    return this.run('fanning out webhook events', () => this.db.transaction().execute(async (tx) => {
      const events = await tx.selectFrom('webhook_events').selectAll().where('fanned_out', '=', 0).orderBy('at').orderBy('id').limit(limit).execute();
      for (const event of events) {
        let type = EVENT_OF_ACTION[event.action];
        const details = JSON.parse(event.details) as Record<string, unknown>;
        if (type === 'artifact.stored') {
          // A stored variant (its record names its original) is the variant becoming ready.
          const stored = await tx.selectFrom('artifacts').select('original_key').where('storage_key', '=', event.storage_key).executeTakeFirst();
          if (stored?.original_key) {
            type = 'variant.ready';
            details.originalKey = stored.original_key;
          }
        }
        const rows: WebhookDeliveryRow[] = webhooks.filter((w) => type && w.events.includes(type)).map((w) => ({
          id: deliveryId(event.id, w.url),
          event_id: event.id, event_type: type!, url: w.url, tenant_id: event.tenant_id, storage_key: event.storage_key,
          body: JSON.stringify({ id: event.id, type, createdAt: event.at, data: { tenantId: event.tenant_id, storageKey: event.storage_key, ...details } }),
          status: 'pending', attempts: 0, next_attempt_at: now.toISOString(), created_at: now.toISOString(), last_attempt_at: null, last_status: null, last_error: null,
        }));
        if (rows.length) await tx.insertInto('webhook_deliveries').values(rows).onConflict((oc) => oc.column('id').doNothing()).execute();
        await tx.updateTable('webhook_events').set({ fanned_out: 1 }).where('id', '=', event.id).execute();
      }
      return events.length;
    }));
  }

  /** Take up to `limit` due deliveries for `leaseMs` (their next attempt moves past the lease). */
  async claimDue(now: Date, limit: number, leaseMs: number): Promise<WebhookDeliveryRow[]> {
    const due = now.toISOString();
    const lease = new Date(now.getTime() + leaseMs).toISOString();
    return this.run('claiming webhook deliveries', () => this.db.transaction().execute(async (tx) => {
      const candidates = await tx.selectFrom('webhook_deliveries').selectAll().where('status', '=', 'pending').where('next_attempt_at', '<=', due).orderBy('next_attempt_at').limit(limit).execute();
      const claimed: WebhookDeliveryRow[] = [];
      for (const c of candidates) {
        const result = await tx.updateTable('webhook_deliveries').set({ next_attempt_at: lease }).where('id', '=', c.id).where('next_attempt_at', '=', c.next_attempt_at).where('status', '=', 'pending').executeTakeFirst();
        if (Number(result.numUpdatedRows) > 0) claimed.push({ ...c, attempts: Number(c.attempts) });
      }
      return claimed;
    }));
  }

  async finish(id: string, outcome: { status: 'pending' | 'delivered' | 'failed'; attempts: number; at: Date; httpStatus?: number; error?: string; nextAttemptAt?: Date }): Promise<void> {
    await this.run('recording a webhook attempt', () => this.db.updateTable('webhook_deliveries').set({
      status: outcome.status, attempts: outcome.attempts, last_attempt_at: outcome.at.toISOString(),
      last_status: outcome.httpStatus ?? null, last_error: outcome.error?.slice(0, 1000) ?? null,
      ...(outcome.nextAttemptAt ? { next_attempt_at: outcome.nextAttemptAt.toISOString() } : {}),
    }).where('id', '=', id).execute());
  }

  /** Recent deliveries, newest first, for operators. */
  async recent(query: { status?: string; limit: number }): Promise<WebhookDeliveryRow[]> {
    let select = this.db.selectFrom('webhook_deliveries').selectAll();
    if (query.status) select = select.where('status', '=', query.status as WebhookDeliveryRow['status']);
    const rows = await this.run('reading webhook deliveries', () => select.orderBy('created_at', 'desc').orderBy('id').limit(query.limit).execute());
    return rows.map((r) => ({ ...r, attempts: Number(r.attempts) }));
  }
}

/** A UUID-shaped id fixed by the event and the receiver: the same delivery keeps it on every attempt and every node. */
function deliveryId(eventId: string, url: string): string {
  const h = createHash('sha256').update(`${eventId}\n${url}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
