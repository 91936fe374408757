import type { Catalog } from '../catalog/catalog.ts';
import type { Webhook } from './webhook-config.ts';
import { deliverWebhooks } from './webhook-delivery.ts';
import type { DeliveryOptions, DeliveryReport } from './webhook-delivery.ts';

/** Deliver the outbox every `intervalMs` in the background; returns a function that stops (waiting for a pass under way). */
export function startWebhookTask(catalog: Catalog, webhooks: Webhook[], options: DeliveryOptions & { intervalMs?: number; onPass?: (report: DeliveryReport) => void; onError?: (error: unknown) => void } = {}): () => Promise<void> {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= deliverWebhooks(catalog.webhooks, webhooks, options).then(options.onPass, options.onError).finally(() => { running = undefined; });
  }, options.intervalMs ?? 1000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
