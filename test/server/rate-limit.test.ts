import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { startTestServer } from './server-harness.ts';

/** Rate limits per client address and per tenant: 429 with Retry-After, in memory or shared through Redis. */

const redisUrl = process.env.BOARDS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const probe = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null });
probe.on('error', () => undefined);
const redisSkip = await probe.connect().then(() => undefined, (error: Error) => `no Redis at ${redisUrl} (${error.message}); set BOARDS_TEST_REDIS_URL`);
probe.disconnect();
if (redisSkip) console.warn(`\n*** SKIPPED rate limits on Redis: ${redisSkip} ***\n`);

async function statuses(url: string, headers: Record<string, string>, n: number): Promise<Response[]> {
  const out: Response[] = [];
  for (let i = 0; i < n; i++) out.push(await fetch(`${url}/v1/artifacts`, { headers }));
  return out;
}

describe('rate limits in memory', async () => {
  const server = await startTestServer({ server: { rate_limit: { per_address: { max: 8, window: '2s' }, per_tenant: { max: 3, window: '1m' } } } });

  it('per tenant: the request past the limit is a 429 with Retry-After; another tenant is not affected', async () => {
    const alice = await server.as('alice');
    const answers = await statuses(server.url, alice, 4);
    assert.deepEqual(answers.map((r) => r.status), [200, 200, 200, 429]);
    const limited = answers[3]!;
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    const body = await limited.json() as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'RATE_LIMITED');
    assert.match(body.error.message, /at most 3 in 1 min/);
    assert.equal((await fetch(`${server.url}/v1/artifacts`, { headers: await server.as('bob') })).status, 200);
  });

  it('per client address: every route counts, even unauthenticated ones; the window passes and requests go through again', async () => {
    await new Promise((r) => setTimeout(r, 2100));
    const answers: number[] = [];
    for (let i = 0; i < 9; i++) answers.push((await fetch(`${server.url}/healthz`)).status);
    assert.deepEqual(answers, [200, 200, 200, 200, 200, 200, 200, 200, 429]);
    const limited = await fetch(`${server.url}/healthz`);
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) <= 2);
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  });
});

describe('rate limits with no configuration', async () => {
  const server = await startTestServer();
  it('limit nothing', async () => {
    const answers = await statuses(server.url, await server.as('alice'), 50);
    assert.ok(answers.every((r) => r.status === 200));
  });
});

describe('rate limits shared through Redis', { skip: redisSkip }, async () => {
  const storage = { redis_url: redisUrl };
  const rateLimit = { per_tenant: { max: 5, window: '1m' } };
  const [a, b] = await Promise.all([
    startTestServer({ storage, server: { rate_limit: rateLimit } }),
    startTestServer({ storage, server: { rate_limit: rateLimit } }),
  ]);

  it('two nodes count one tenant together: the sixth request, on either node, is a 429', async () => {
    // A fresh tenant per run: the counters outlive the servers in Redis for their window.
    const tenant = `t-${randomUUID().slice(0, 8)}`;
    const tokenA = { authorization: `Bearer ${await a.token({ tenant })}` };
    const tokenB = { authorization: `Bearer ${await b.token({ tenant })}` };
    const answers: number[] = [];
    for (let i = 0; i < 6; i++) {
      const [url, headers] = i % 2 === 0 ? [a.url, tokenA] : [b.url, tokenB];
      answers.push((await fetch(`${url}/v1/artifacts`, { headers })).status);
    }
    assert.deepEqual(answers, [200, 200, 200, 200, 200, 429]);
    const onA = await fetch(`${a.url}/v1/artifacts`, { headers: tokenA });
    assert.equal(onA.status, 429);
    assert.ok(Number(onA.headers.get('retry-after')) > 0);
    // The counter is in Redis, under the tenant's key.
    const redis = new Redis(redisUrl);
    try {
      assert.equal(Number(await redis.get(`boards-rl-tenant:t:${tenant}`)), 7);
    } finally {
      redis.disconnect();
    }
  });

  it('a wrong redis_url fails at start-up', async () => {
    await assert.rejects(startTestServer({ storage: { redis_url: 'redis://127.0.0.1:1' } }), /redis_url: cannot connect/);
  });
});
