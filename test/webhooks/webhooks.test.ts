import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { testDatabases } from '../catalog/databases.ts';
import { startTestServer } from '../server/server-harness.ts';
import { jsonHeaders } from '../server/server-harness.ts';
import { media } from '../fixtures/media.ts';
import { parseWebhooks } from '../../src/webhooks/webhook-config.ts';
import { deliverWebhooks } from '../../src/webhooks/webhook-delivery.ts';
import { verifyWebhookSignature } from '../../src/webhooks/webhook-signature.ts';
import { storeVariant } from '../../src/media/variants.ts';

/** Webhooks: events written with each change, delivered signed, at least once, through the SSRF guard. */

const SECRET = 'a-webhook-secret-of-some-length';

interface Received { headers: IncomingHttpHeaders; body: string }

/** A receiver on loopback that answers with the statuses given, in turn, then 200. */
async function receiver(statuses: number[] = []): Promise<{ url: string; received: Received[]; close(): void }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = statuses.shift() ?? 200;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/hooks`, received, close: () => server.close() };
}

for (const database of testDatabases) {
  describe(`webhooks on ${database.name}`, async () => {
    const hook = await receiver([500]);
    const blocked = await receiver();
    const webhooksConfig = [
      { url: hook.url, events: ['artifact.stored', 'artifact.deleted', 'artifact.visibility_changed', 'variant.ready'], secret: SECRET, allow_private_network: true },
      // Loopback without allow_private_network: the SSRF guard refuses it.
      { url: blocked.url, events: ['artifact.stored'], secret: SECRET },
    ];
    const server = await startTestServer({ database, storage: { webhooks: webhooksConfig, trash_retention: 0 } });
    const webhooks = parseWebhooks(webhooksConfig);
    const records = server.storage.catalog.webhooks;
    await records.setEnabled(true);
    const alice = await server.as('alice');
    let clock = Date.now();
    const now = () => new Date(clock);

    it('writes the event with the change, delivers it signed with a delivery id, and retries a failure with the same id', async () => {
      const ref = await server.put('alice', media.png(500), 'image/png');
      // Nothing delivered yet, but the event is in the catalog already: it was written with the store.
      assert.equal(hook.received.length, 0);
      const first = await deliverWebhooks(records, webhooks, { now, baseDelayMs: 1000 });
      assert.equal(first.fannedOut, 1);
      assert.equal(hook.received.length, 1); // answered 500
      assert.equal(blocked.received.length, 0);
      assert.equal(first.retrying, 2);
      // Not due yet: nothing is sent again.
      await deliverWebhooks(records, webhooks, { now, baseDelayMs: 1000 });
      assert.equal(hook.received.length, 1);
      clock += 1500;
      const second = await deliverWebhooks(records, webhooks, { now, baseDelayMs: 1000 });
      assert.equal(second.delivered, 1);
      assert.equal(hook.received.length, 2);
      const [a, b] = hook.received;
      assert.equal(a!.headers['webhook-id'], b!.headers['webhook-id'], 'a retry keeps the delivery id');
      assert.equal(b!.headers['webhook-event'], 'artifact.stored');
      assert.ok(verifyWebhookSignature(SECRET, String(b!.headers['webhook-signature']), b!.body, { now: Math.floor(clock / 1000) }));
      assert.equal(verifyWebhookSignature('another-secret-entirely', String(b!.headers['webhook-signature']), b!.body, { now: Math.floor(clock / 1000) }), false);
      assert.equal(verifyWebhookSignature(SECRET, String(b!.headers['webhook-signature']), b!.body.replace('alice', 'mallory'), { now: Math.floor(clock / 1000) }), false);
      const body = JSON.parse(b!.body) as { type: string; data: { storageKey: string; tenantId: string; sha256: string } };
      assert.equal(body.type, 'artifact.stored');
      assert.equal(body.data.storageKey, ref.storageKey);
      assert.equal(body.data.sha256, ref.sha256);
    });

    it('sends visibility changes and deletes', async () => {
      const ref = await server.put('alice', media.png(600), 'image/png');
      assert.equal((await fetch(`${server.url}/v1/info/${ref.storageKey}`, { method: 'PATCH', headers: jsonHeaders(alice), body: JSON.stringify({ visibility: 'public' }) })).status, 200);
      assert.equal((await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { method: 'DELETE', headers: alice })).status, 204);
      hook.received.length = 0;
      await deliverWebhooks(records, webhooks, { now });
      // Attempts of one pass run concurrently: the events arrive in any order.
      assert.deepEqual(hook.received.map((r) => r.headers['webhook-event']).sort(), ['artifact.deleted', 'artifact.stored', 'artifact.visibility_changed']);
      assert.ok(hook.received.every((r) => JSON.parse(r.body).data.storageKey === ref.storageKey));
    });

    it('sends variant.ready when a variant of an artifact is stored, naming its original', async () => {
      const ref = await server.put('alice', media.png(700), 'image/png');
      const original = (await server.storage.catalog.get(ref.storageKey))!;
      const variant = await storeVariant(server.storage, original, 'thumb', media.png(200), { contentType: 'image/png' });
      hook.received.length = 0;
      const report = await deliverWebhooks(records, webhooks, { now });
      const events = hook.received.map((r) => JSON.parse(r.body) as { type: string; data: { storageKey: string; originalKey?: string } });
      const ready = events.find((e) => e.type === 'variant.ready');
      assert.ok(ready, JSON.stringify({ events, report, pending: await records.recent({ limit: 5 }) }));
      assert.equal(ready.data.storageKey, variant.storageKey);
      assert.equal(ready.data.originalKey, ref.storageKey);
      assert.equal(events.filter((e) => e.type === 'artifact.stored' && e.data.storageKey === variant.storageKey).length, 0);
    });

    it('never delivers to a private address without allow_private_network, and gives up a day after the event', async () => {
      assert.equal(blocked.received.length, 0);
      const deliveries = await (await fetch(`${server.url}/v1/webhooks/deliveries?status=pending`, { headers: { authorization: `Bearer ${await server.token({ role: 'service', sub: 'ops' })}` } })).json() as { items: { url: string; lastError: string; attempts: number }[] };
      const refused = deliveries.items.filter((d) => d.url === blocked.url);
      assert.ok(refused.length >= 1);
      assert.match(refused[0]!.lastError, /loopback/);
      clock += 25 * 3600_000;
      const report = await deliverWebhooks(records, webhooks, { now });
      assert.ok(report.failed >= 1);
      const failed = await (await fetch(`${server.url}/v1/webhooks/deliveries?status=failed`, { headers: { authorization: `Bearer ${await server.token({ role: 'service', sub: 'ops' })}` } })).json() as { items: { url: string }[] };
      assert.ok(failed.items.some((d) => d.url === blocked.url));
      assert.equal(blocked.received.length, 0);
    });

    it('GET /v1/webhooks/deliveries is for service tokens only', async () => {
      assert.equal((await fetch(`${server.url}/v1/webhooks/deliveries`, { headers: alice })).status, 403);
      assert.equal((await fetch(`${server.url}/v1/webhooks/deliveries`)).status, 401);
    });

    it('a receiver that is down never blocks a store', async () => {
      hook.close();
      const started = performance.now();
      const res = await fetch(`${server.url}/v1/artifacts?artifactType=image`, { method: 'POST', headers: { ...alice, 'content-type': 'image/png' }, body: media.png(300) });
      assert.equal(res.status, 201);
      const report = await deliverWebhooks(records, webhooks, { now });
      assert.ok(report.retrying >= 1);
      assert.ok(performance.now() - started < 10_000);
      blocked.close();
    });

    it('lets nodes that start at once all switch the event trigger, without a conflict', async () => {
      await Promise.all(Array.from({ length: 8 }, (_, i) => records.setEnabled(i % 2 === 0)));
      await records.setEnabled(true);
      // On: the next store writes its event.
      await server.put('alice', media.png(600), 'image/png');
      assert.equal((await deliverWebhooks(records, webhooks, { now })).fannedOut, 1);
    });
  });
}

describe('webhook configuration', () => {
  it('is checked at start-up', async () => {
    await assert.rejects(startTestServer({ storage: { webhooks: [{ url: 'ftp://x', events: ['artifact.stored'], secret: SECRET }] } }), /storage\.webhooks/);
    await assert.rejects(startTestServer({ storage: { webhooks: [{ url: 'https://x.example', events: ['artifact.eaten'], secret: SECRET }] } }), /storage\.webhooks/);
  });
});
