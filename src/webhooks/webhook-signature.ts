import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * `Webhook-Signature: t={unix seconds},v1={hex HMAC-SHA256 of "{t}.{body}"}`: the timestamp is
 * signed with the body, so a receiver can refuse replays older than it tolerates.
 */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** For receivers: true when `header` signs `body` with `secret` and is at most `toleranceSeconds` old. */
export function verifyWebhookSignature(secret: string, header: string, body: string, options: { toleranceSeconds?: number; now?: number } = {}): boolean {
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=', 2) as [string, string]));
  const timestamp = Number(parts.t);
  if (!Number.isInteger(timestamp) || !parts.v1) return false;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body).split('v1=')[1]!, 'hex');
  const given = Buffer.from(parts.v1, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
