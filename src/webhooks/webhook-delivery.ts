import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { assertAddressAllowed, guardedLookup, ipLiteral } from '../generation/address-guard.ts';
import type { WebhookDeliveryRow } from '../catalog/tables.ts';
import type { Webhook } from './webhook-config.ts';
import type { WebhookRecords } from './webhook-records.ts';
import { signWebhook } from './webhook-signature.ts';

/** Deliveries are attempted for this long after their event, then given up as failed. */
export const DELIVERY_WINDOW_MS = 24 * 3600_000;
const MAX_BACKOFF_MS = 3600_000;
const ATTEMPT_TIMEOUT_MS = 10_000;
const LEASE_MS = 60_000;

export interface DeliveryOptions {
  now?: () => Date;
  /** The first retry's delay; each next one doubles, up to an hour. */
  baseDelayMs?: number;
  batchSize?: number;
}

export interface DeliveryReport {
  fannedOut: number;
  delivered: number;
  retrying: number;
  failed: number;
}

/**
 * One pass of the outbox: fan new events out, then attempt every due delivery. A 2xx answer
 * delivers it; anything else (an error status, a refused address, a timeout) is tried again with
 * exponential backoff until a day after its event, then marked failed. Never throws for a
 * receiver's failure: stores never wait on this.
 */
export async function deliverWebhooks(records: WebhookRecords, webhooks: Webhook[], options: DeliveryOptions = {}): Promise<DeliveryReport> {
  const now = options.now ?? (() => new Date());
  const batchSize = options.batchSize ?? 50;
  const report: DeliveryReport = { fannedOut: 0, delivered: 0, retrying: 0, failed: 0 };
  for (;;) {
    const n = await records.fanOut(webhooks, now(), batchSize);
    report.fannedOut += n;
    if (n < batchSize) break;
  }
  const byUrl = new Map(webhooks.map((w) => [w.url, w]));
  for (;;) {
    const batch = await records.claimDue(now(), batchSize, LEASE_MS);
    await Promise.all(batch.map(async (delivery) => {
      const webhook = byUrl.get(delivery.url);
      const attempts = delivery.attempts + 1;
      const at = now();
      let httpStatus: number | undefined;
      let error: string | undefined;
      if (!webhook) error = 'this receiver is no longer configured';
      else {
        try {
          httpStatus = await post(webhook, delivery, at);
          if (httpStatus < 200 || httpStatus >= 300) error = `the receiver answered ${httpStatus}`;
        } catch (failure) {
          error = (failure as Error).message;
        }
      }
      if (!error) {
        report.delivered++;
        await records.finish(delivery.id, { status: 'delivered', attempts, at, ...(httpStatus ? { httpStatus } : {}) });
        return;
      }
      const next = new Date(at.getTime() + Math.min((options.baseDelayMs ?? 1000) * 2 ** (attempts - 1), MAX_BACKOFF_MS));
      const giveUp = !webhook || next.getTime() > Date.parse(delivery.created_at) + DELIVERY_WINDOW_MS;
      if (giveUp) report.failed++;
      else report.retrying++;
      await records.finish(delivery.id, { status: giveUp ? 'failed' : 'pending', attempts, at, error, ...(httpStatus ? { httpStatus } : {}), ...(giveUp ? {} : { nextAttemptAt: next }) });
    }));
    if (batch.length < batchSize) return report;
  }
}

/**
 * POST the signed body; resolves with the status. Every address the URL's host resolves to goes
 * through the generation context's SSRF guard (private networks only with allow_private_network);
 * redirects are not followed.
 */
function post(webhook: Webhook, delivery: WebhookDeliveryRow, at: Date): Promise<number> {
  const url = new URL(webhook.url);
  const literal = ipLiteral(url);
  if (literal) assertAddressAllowed(literal, url.host, webhook.allowPrivateNetwork);
  const timestamp = Math.floor(at.getTime() / 1000);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      timeout: ATTEMPT_TIMEOUT_MS,
      lookup: guardedLookup((address) => assertAddressAllowed(address, url.host, webhook.allowPrivateNetwork)),
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(delivery.body),
        'user-agent': 'boards-storage-webhooks',
        'webhook-id': delivery.id,
        'webhook-event': delivery.event_type,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signWebhook(webhook.secret, timestamp, delivery.body),
      },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${ATTEMPT_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(delivery.body);
  });
}
