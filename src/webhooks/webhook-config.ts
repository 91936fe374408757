import { z } from 'zod/v3';
import { ConfigError } from '../errors.ts';
import { formatIssues } from '../config/provider-config.ts';

export const WEBHOOK_EVENTS = ['artifact.stored', 'artifact.deleted', 'artifact.visibility_changed', 'variant.ready'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** The audit action each event comes from (see migration 0008_scale's trigger). */
export const EVENT_OF_ACTION: Record<string, WebhookEvent> = {
  stored: 'artifact.stored',
  upload_completed: 'artifact.stored',
  deleted: 'artifact.deleted',
  visibility_changed: 'artifact.visibility_changed',
  variant_ready: 'variant.ready',
};

const webhookSchema = z.object({
  url: z.string().url().refine((u) => /^https?:\/\//i.test(u), 'use an http or https URL'),
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1),
  /** Signs every delivery (HMAC-SHA256); the receiver checks it with the same secret. */
  secret: z.string().min(16, 'use at least 16 characters'),
  /** Let deliveries reach private, loopback and link-local addresses (a receiver inside the operator's network). */
  allow_private_network: z.boolean().default(false),
}).strict();

export interface Webhook {
  url: string;
  events: WebhookEvent[];
  secret: string;
  allowPrivateNetwork: boolean;
}

/** Parse `storage.webhooks`; throws a ConfigError naming the offending entry. */
export function parseWebhooks(raw: unknown[]): Webhook[] {
  const result = z.array(webhookSchema).safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(result.error, 'storage.webhooks'), { cause: result.error });
  return result.data.map((w) => ({ url: w.url, events: w.events, secret: w.secret, allowPrivateNetwork: w.allow_private_network }));
}
