import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../catalog/databases.ts';
import { createTestBucket, providerConfig, removeTestBucket, s3SkipReason } from '../s3/s3-test-server.ts';
import { bearer, clusterConfig, startNode } from './cluster-harness.ts';
import type { ClusterNode } from './cluster-harness.ts';

/**
 * Two `serve` processes on one PostgreSQL catalog and one S3 bucket (the Ceph gateway): one holds
 * the leader lease and the other takes it over within 30 s of a SIGKILL (default lease settings);
 * a delete or a visibility change made on one node empties the other's small-object cache and is
 * answered there at once.
 */

const postgres = testDatabases.find((d) => d.name === 'postgres');
const skip = !postgres ? 'no PostgreSQL (BOARDS_TEST_DATABASE_URL)' : s3SkipReason;
if (skip) console.warn(`\n*** SKIPPED several nodes (leader lease, cache coherence): ${skip} ***\n`);

interface Ready { ok: boolean; ageMs: number; node: { node: string; leader: boolean; holder?: string; term?: number; mode: string } }

const ready = async (node: ClusterNode): Promise<Ready> => (await fetch(`${node.url}/readyz`)).json() as Promise<Ready>;

async function metric(node: ClusterNode, line: RegExp): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const match = line.exec(text);
  return match ? Number(match[1]) : 0;
}
const hits = (node: ClusterNode) => metric(node, /^boards_storage_cache_hits_total (\S+)$/m);
const invalidations = (node: ClusterNode) => metric(node, /^boards_storage_cache_invalidations_total\{reason="changed"\} (\S+)$/m);

async function eventually<T>(what: string, probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined && ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(value)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('several serve nodes on one PostgreSQL', { skip }, () => {
  it('one leads; a SIGKILLed leader is replaced within 30 s; deletes and visibility changes reach the other node\'s cache at once', async () => {
    const { databaseUrl } = await postgres!.fresh();
    const bucket = await createTestBucket('nodes');
    try {
      const cluster = await clusterConfig({
        database_url: databaseUrl,
        default_provider: 's3',
        providers: { s3: { type: 's3', config: providerConfig(bucket) } },
        trash_retention: 0,
      });
      const a = await startNode(cluster, 'a');
      const b = await startNode(cluster, 'b');
      const auth = await bearer(cluster, { tenant: 'studio' });

      // One leader, and both nodes agree which.
      const [ra, rb] = await Promise.all([ready(a), ready(b)]);
      assert.equal(ra.node.mode, 'lease');
      assert.deepEqual([ra.node.leader, rb.node.leader], [true, false]);
      assert.equal(rb.node.holder, ra.node.node);
      assert.equal(await metric(a, /^boards_storage_leader\{node="[^"]+"\} (\S+)$/m), 1);
      assert.equal(await metric(b, /^boards_storage_leader\{node="[^"]+"\} (\S+)$/m), 0);
      assert.ok(ra.ageMs < 10_000, `/readyz answers from a recent poll (${ra.ageMs} ms old)`);

      // Cache coherence: B caches an artifact; A deletes it; B answers 404 and has dropped it.
      const store = async (text: string, visibility: 'private' | 'public') => {
        const res = await fetch(`${a.url}/v1/artifacts?artifactType=text&artifactId=note&visibility=${visibility}`, { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: text });
        assert.equal(res.status, 201, await res.clone().text());
        return (await res.json() as { storageKey: string }).storageKey;
      };
      const key = await store('a small note, cached on every node that reads it', 'private');
      for (let i = 0; i < 2; i++) assert.equal((await fetch(`${b.url}/v1/artifacts/${key}`, { headers: auth })).status, 200);
      assert.equal(await hits(b), 1, 'the second read on B came from its cache');
      const dropped = await invalidations(b);
      assert.equal((await fetch(`${a.url}/v1/artifacts/${key}`, { method: 'DELETE', headers: auth })).status, 204);
      const gone = await fetch(`${b.url}/v1/artifacts/${key}`, { headers: auth });
      assert.equal(gone.status, 404, 'B answers the delete at once');
      await eventually('B drops the deleted artifact from its cache', () => invalidations(b), (n) => n === dropped + 1, 2000);

      // A public artifact served anonymously by B stops answering there once A makes it private.
      const shown = await store('a public note', 'public');
      for (let i = 0; i < 2; i++) assert.equal((await fetch(`${b.url}/v1/public/${shown}`)).status, 200);
      assert.equal(await hits(b), 2);
      const patched = await fetch(`${a.url}/v1/info/${shown}`, { method: 'PATCH', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ visibility: 'private' }) });
      assert.equal(patched.status, 200, await patched.text());
      assert.equal((await fetch(`${b.url}/v1/public/${shown}`)).status, 404, 'B stops serving it publicly at once');
      await eventually('B drops the hidden artifact from its cache', () => invalidations(b), (n) => n === dropped + 2, 2000);

      // Failover: SIGKILL the leader; B takes the lease over within 30 s (default lease_ttl 15s, renewed every 5s).
      const term = rb.node.term!;
      const killedAt = Date.now();
      await a.kill('SIGKILL');
      const taken = await eventually('B leads', () => ready(b), (r) => r.node.leader, 30_000);
      const failoverMs = Date.now() - killedAt;
      assert.ok(failoverMs <= 30_000, `took over after ${failoverMs} ms`);
      assert.equal(taken.node.holder, taken.node.node);
      assert.equal(taken.node.term, term + 1);
      console.log(`failover after SIGKILL of the leader: ${failoverMs} ms`);

      // The killed node comes back as a follower: the lease stays where it is.
      const a2 = await startNode(cluster, 'a');
      const back = await ready(a2);
      assert.equal(back.node.leader, false);
      assert.equal(back.node.holder, taken.node.node);
      // A clean stop of the leader hands over at once.
      const stoppedAt = Date.now();
      await b.kill('SIGTERM');
      await eventually('A leads again', () => ready(a2), (r) => r.node.leader, 10_000);
      assert.ok(Date.now() - stoppedAt < 10_000);
      await a2.kill('SIGTERM');
    } finally {
      await removeTestBucket(bucket);
    }
  });
});
