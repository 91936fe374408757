import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createStorageManager } from '../../src/index.ts';
import type { StorageConfigInput, VerifyReport } from '../../src/index.ts';
import { startScrubTask } from '../../src/operations/scrub-task.ts';
import { tempDir } from '../helpers.ts';
import { testDatabases } from '../catalog/databases.ts';

/**
 * The background scrub: two nodes (managers) share one catalog and one disk; every interval
 * exactly one of them runs a pass, and a pass reads no faster than its rate.
 */
for (const database of testDatabases) {
  describe(`background scrub on ${database.name}`, () => {
    it('runs once per interval, on one node at a time, and finds the corrupt copy', async () => {
      const target = await database.fresh();
      const config: StorageConfigInput = {
        data_dir: target.dataDir, ...(target.databaseUrl ? { database_url: target.databaseUrl } : {}), signing_secret: 's'.repeat(32),
        providers: { local: { type: 'local', config: { base_path: join(target.dataDir, 'files') } } },
        scrub: { interval: '0.8s', rate_mb_s: 100 },
      };
      const nodes = [await createStorageManager({ config, env: {} }), await createStorageManager({ config, env: {} })];
      const runs: { node: number; startedAt: Date; report: VerifyReport }[] = [];
      let elapsed = 0;
      try {
        const ref = await nodes[0]!.storeArtifact({ artifactId: 's', artifactType: 'model', contentType: 'application/octet-stream', content: randomBytes(100_000) });
        await nodes[0]!.storeArtifact({ artifactId: 't', artifactType: 'model', contentType: 'application/octet-stream', content: randomBytes(100_000) });
        const file = join(target.dataDir, 'files', ref.storageKey);
        const bytes = await readFile(file);
        bytes[0] = bytes[0]! ^ 1;
        await writeFile(file, bytes);

        const began = Date.now();
        const stops = nodes.map((storage, node) => startScrubTask(storage, { onScrub: (report, startedAt) => runs.push({ node, startedAt, report }) }));
        // Until three passes (about 2.6 s on a quiet machine; a loaded one starts them later).
        while (runs.length < 3 && Date.now() - began < 20_000) await sleep(100);
        await Promise.all(stops.map((stop) => stop()));
        elapsed = Date.now() - began;
      } finally {
        await Promise.all(nodes.map((n) => n.close()));
      }
      // One pass per interval in all, not one per node or per poll: at most one more than the intervals that passed.
      const passes = `${runs.length} passes in ${elapsed} ms: ${runs.map((r) => `node ${r.node} at ${r.startedAt.toISOString()}`).join(', ')}`;
      assert.ok(runs.length >= 3 && runs.length <= Math.floor(elapsed / 800) + 1, passes);
      const starts = runs.map((r) => r.startedAt.getTime()).sort((a, b) => a - b);
      for (let i = 1; i < starts.length; i++) assert.ok(starts[i]! - starts[i - 1]! >= 800, `passes ${starts[i]! - starts[i - 1]!} ms apart`);
      for (const { report } of runs) assert.deepEqual(report.counts, { ok: 1, corrupt: 1, missing: 0, size_mismatch: 0, orphan: 0, repaired: 0 });
    });
  });
}

describe('scrub rate', () => {
  it('reads no faster than bytesPerSecond', async () => {
    const dir = await tempDir('scrub-rate');
    const storage = await createStorageManager({ config: { data_dir: dir, providers: { local: { type: 'local', config: { base_path: join(dir, 'files') } } } }, env: {} });
    try {
      await storage.storeArtifact({ artifactId: 'r', artifactType: 'model', contentType: 'application/octet-stream', content: randomBytes(3 * 1024 * 1024) });
      const started = performance.now();
      const report = await storage.verify({ bytesPerSecond: 4 * 1024 * 1024 });
      const seconds = (performance.now() - started) / 1000;
      assert.equal(report.counts.ok, 1);
      assert.equal(report.bytes, 3 * 1024 * 1024);
      assert.ok(seconds >= 0.7, `3 MiB at 4 MiB/s took ${seconds.toFixed(2)} s`);
    } finally {
      await storage.close();
    }
  });
});
