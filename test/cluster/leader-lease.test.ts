import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Catalog } from '../../src/catalog/catalog.ts';
import { LeaderLease, whileLeader } from '../../src/cluster/leader-lease.ts';
import { startServer } from '../../src/server/start.ts';
import { testDatabases } from '../catalog/databases.ts';
import { tempDir } from '../helpers.ts';

/**
 * The leader lease on a real PostgreSQL: one holder among several, failover when the holder goes
 * silent (its connection gone), an immediate hand-over on a clean stop; on SQLite the one node
 * always leads.
 */

const postgres = testDatabases.find((d) => d.name === 'postgres');
if (!postgres) console.warn('\n*** SKIPPED leader lease on PostgreSQL: set BOARDS_TEST_DATABASE_URL ***\n');

const TTL = 1500;
const RENEW = 300;

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - started;
}

describe('leader lease on PostgreSQL', { skip: !postgres && 'no PostgreSQL' }, () => {
  it('one node leads; when its catalog connection goes, it stops leading before another takes over', async () => {
    const { databaseUrl, dataDir } = await postgres!.fresh();
    const catalogs = await Promise.all([1, 2, 3].map(() => Catalog.open({ databaseUrl: databaseUrl!, dataDir })));
    const leases = catalogs.map((catalog, i) => new LeaderLease(catalog.leases, { nodeId: `node-${i}`, ttlMs: TTL, renewMs: RENEW }));
    const events: string[] = [];
    leases.forEach((lease) => lease.onChange((leader) => events.push(`${lease.nodeId}:${leader ? 'up' : 'down'}@${performance.now().toFixed(0)}`)));
    try {
      for (const lease of leases) await lease.start();
      assert.deepEqual(leases.map((l) => l.isLeader), [true, false, false]);
      // Renewals keep it where it is for several lease lifetimes.
      await new Promise((r) => setTimeout(r, TTL * 2));
      assert.deepEqual(leases.map((l) => l.isLeader), [true, false, false]);
      assert.deepEqual(leases.map((l) => l.status().holder), ['node-0', 'node-0', 'node-0']);
      const term = leases[0]!.status().term!;

      // Node 0 loses its database (as a partition or a dead connection pool would).
      let steppedDownAt = 0;
      leases[0]!.onChange((leader) => { if (!leader) steppedDownAt = performance.now(); });
      const cut = performance.now();
      await catalogs[0]!.close();
      await until('a new leader', () => leases[1]!.isLeader || leases[2]!.isLeader, TTL + RENEW * 4);
      const tookOverAt = performance.now();
      assert.equal(leases[0]!.isLeader, false);
      assert.ok(steppedDownAt > 0 && steppedDownAt <= tookOverAt, `the old leader stepped down (${steppedDownAt - cut} ms) before the new one took over (${tookOverAt - cut} ms): ${events.join(' ')}`);
      assert.ok(tookOverAt - cut <= TTL + RENEW * 3, `took over after ${tookOverAt - cut} ms`);
      assert.equal(leases.filter((l) => l.isLeader).length, 1, 'exactly one leader');
      const leader = leases.find((l) => l.isLeader)!;
      assert.equal(leader.status().term, term + 1, 'a hand-over raises the term');

      // A clean stop hands over at once, without waiting for the lease to expire.
      const other = leases.find((l) => l !== leases[0] && l !== leader)!;
      const stopped = performance.now();
      await leader.stop();
      await until('the hand-over', () => other.isLeader, RENEW * 4);
      assert.ok(performance.now() - stopped < TTL, 'handed over before the lease would have expired');
    } finally {
      for (const lease of leases) await lease.stop();
      for (const catalog of catalogs.slice(1)) await catalog.close();
    }
  });

  it('runs background work only on the leader, and stops it when leadership goes', async () => {
    const { databaseUrl, dataDir } = await postgres!.fresh();
    const catalogs = await Promise.all([1, 2].map(() => Catalog.open({ databaseUrl: databaseUrl!, dataDir })));
    const leases = catalogs.map((catalog, i) => new LeaderLease(catalog.leases, { nodeId: `node-${i}`, ttlMs: TTL, renewMs: RENEW }));
    const running = new Set<string>();
    const log: string[] = [];
    const stops = leases.map((lease) => whileLeader(lease, () => {
      running.add(lease.nodeId);
      log.push(`start ${lease.nodeId}`);
      return async () => {
        await new Promise((r) => setTimeout(r, 50)); // a pass under way finishes
        running.delete(lease.nodeId);
        log.push(`stop ${lease.nodeId}`);
      };
    }));
    try {
      for (const lease of leases) await lease.start();
      await until('work on node-0', () => running.has('node-0'), 1000);
      assert.deepEqual([...running], ['node-0']);
      await leases[0]!.stop();
      await until('work on node-1', () => running.has('node-1'), RENEW * 4);
      assert.deepEqual([...running], ['node-1']);
      assert.deepEqual(log, ['start node-0', 'stop node-0', 'start node-1']);
    } finally {
      for (const stop of stops) await stop();
      for (const lease of leases) await lease.stop();
      for (const catalog of catalogs) await catalog.close();
    }
    assert.deepEqual([...running], [], 'stopping ends the work');
  });
});

describe('a node on a SQLite catalog', () => {
  it('always leads, and says so on /readyz and /metrics', async () => {
    const dataDir = await tempDir('lease-sqlite');
    const server = await startServer({ env: { BOARDS_STORAGE_DATA_DIR: dataDir }, port: 0, logger: false });
    try {
      const ready = await (await fetch(`${server.url}/readyz`)).json() as { ok: boolean; ageMs: number; checkedAt: string; node: { leader: boolean; mode: string; node: string } };
      assert.equal(ready.ok, true);
      assert.equal(ready.node.leader, true);
      assert.equal(ready.node.mode, 'single-node');
      assert.ok(ready.ageMs >= 0 && Number.isFinite(Date.parse(ready.checkedAt)));
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(metrics, new RegExp(`^boards_storage_leader\\{node="${ready.node.node.replace(/[.:]/g, '\\$&')}"\\} 1$`, 'm'));
    } finally {
      await server.close();
    }
  });
});
