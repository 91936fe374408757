import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

describe('cluster: configuration', () => {
  it('has defaults: a 15 s lease renewed every 5 s, health polled every 5 s', () => {
    assert.deepEqual(loadConfig({}, { env: {} }).cluster, { leaseTtlMs: 15_000, leaseRenewMs: 5_000, healthIntervalMs: 5_000 });
  });

  it('reads durations, the node id, and BOARDS_STORAGE_NODE_ID', () => {
    const config = loadConfig({ cluster: { lease_ttl: '30s', lease_renew: 10, health_interval: '1m' } }, { env: { BOARDS_STORAGE_NODE_ID: 'node-b' } });
    assert.deepEqual(config.cluster, { nodeId: 'node-b', leaseTtlMs: 30_000, leaseRenewMs: 10_000, healthIntervalMs: 60_000 });
  });

  it('refuses a renewal too slow for the lease, a tiny lease, unknown keys and odd node ids, naming the path', () => {
    const refused: [unknown, RegExp][] = [
      [{ lease_ttl: '10s', lease_renew: '6s' }, /storage\.cluster\.lease_renew: renew at most every half lease_ttl \(5s\)/],
      [{ lease_ttl: 0.5 }, /storage\.cluster\.lease_ttl: use at least 1s/],
      [{ lease_ttl: 'soon' }, /storage\.cluster\.lease_ttl: "soon" is not a duration/],
      [{ leader: true }, /cluster/],
      [{ node_id: 'a b' }, /cluster\.node_id/],
    ];
    for (const [cluster, message] of refused) {
      assert.throws(() => loadConfig({ cluster } as never, { env: {} }), (error: unknown) => error instanceof ConfigError && message.test(error.message), JSON.stringify(cluster));
    }
  });
});
