import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createStorageManager } from '../../src/index.ts';
import type { StorageConfigInput } from '../../src/index.ts';
import { rebalance } from '../../src/lifecycle/rebalance.ts';
import { storedFiles, tempDir } from '../helpers.ts';
import { testDatabases } from '../catalog/databases.ts';
import { createTestBucket, providerConfig, removeTestBucket, s3SkipReason, warnSkipped } from '../s3/s3-test-server.ts';
import { switchableProxy } from '../fixtures/switchable-proxy.ts';

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

function config(dataDir: string, databaseUrl: string | undefined, mirrors: string[]): StorageConfigInput {
  return {
    data_dir: dataDir, ...(databaseUrl ? { database_url: databaseUrl } : {}), signing_secret: 's'.repeat(32), default_provider: 'primary',
    providers: {
      primary: { type: 'local', config: { base_path: join(dataDir, 'primary') }, mirrors },
      mirror: { type: 'local', config: { base_path: join(dataDir, 'mirror') } },
    },
  };
}

for (const database of testDatabases) {
  describe(`sync --mirrors on ${database.name}`, () => {
    it('gives a mirror added later a verified, recorded copy of everything, and resumes after an interruption', async () => {
      const target = await database.fresh();
      const before = await createStorageManager({ config: config(target.dataDir, target.databaseUrl, []), env: {} });
      const refs = [];
      for (let i = 0; i < 3; i++) refs.push(await before.storeArtifact({ artifactId: `a${i}`, artifactType: 'text', contentType: 'text/plain', content: `artifact number ${i}` }));
      await before.close();

      const storage = await createStorageManager({ config: config(target.dataDir, target.databaseUrl, ['mirror']), env: {} });
      try {
        assert.deepEqual(await storedFiles(join(target.dataDir, 'mirror')), [], 'a mirror added later receives nothing by itself');
        // Interrupted after the first artifact (as a killed process would be).
        await assert.rejects(storage.syncMirrors({ onProgress: () => { throw new Error('interrupted'); } }), /interrupted/);
        assert.equal((await storedFiles(join(target.dataDir, 'mirror'))).length, 1);

        const resumed = await storage.syncMirrors();
        assert.deepEqual({ artifacts: resumed.artifacts, copied: resumed.copied, alreadyDone: resumed.alreadyDone, failed: resumed.failed }, { artifacts: 3, copied: 2, alreadyDone: 1, failed: [] });
        for (const [i, ref] of refs.entries()) {
          assert.deepEqual(await storage.catalog.copiesOf(ref.storageKey), [{ provider: 'mirror', status: 'done' }]);
          const copy = await readFile(join(target.dataDir, 'mirror', ref.storageKey));
          assert.equal(sha256(copy), sha256(`artifact number ${i}`));
          assert.equal((await storage.provider('mirror').getMetadata(ref.storageKey)).metadata.sha256, ref.sha256);
        }
        const again = await storage.syncMirrors();
        assert.equal(again.copied, 0);
        assert.equal(again.alreadyDone, 3);
      } finally {
        await storage.close(); // before the test's database is dropped
      }
    });

    it('does not record a copy whose source bytes are corrupt; the copy stays queued and the run reports it', async () => {
      const target = await database.fresh();
      const before = await createStorageManager({ config: config(target.dataDir, target.databaseUrl, []), env: {} });
      const ref = await before.storeArtifact({ artifactId: 'c', artifactType: 'text', contentType: 'text/plain', content: 'the original words' });
      await before.close();
      await writeFile(join(target.dataDir, 'primary', ref.storageKey), 'the corrupted words');
      const storage = await createStorageManager({ config: config(target.dataDir, target.databaseUrl, ['mirror']), env: {} });
      try {
        const report = await storage.syncMirrors();
        assert.equal(report.copied, 0);
        assert.deepEqual(report.failed.map((f) => [f.storageKey, f.provider]), [[ref.storageKey, 'mirror']]);
        assert.deepEqual(await storage.catalog.copiesOf(ref.storageKey), [{ provider: 'mirror', status: 'pending' }]);
        assert.deepEqual(await storedFiles(join(target.dataDir, 'mirror')), []);
      } finally {
        await storage.close();
      }
    });
  });
}

describe('boards-storage sync --mirrors', () => {
  it('backfills from the command line, one JSON object with --json, exit code 0', async () => {
    const dir = await tempDir('sync-cli');
    const before = await createStorageManager({ config: config(dir, undefined, []), env: {} });
    const ref = await before.storeArtifact({ artifactId: 'cli', artifactType: 'text', contentType: 'text/plain', content: 'from the command line' });
    await before.close();
    const file = join(dir, 'storage.json');
    await writeFile(file, JSON.stringify({ storage: config(dir, undefined, ['mirror']) }));
    const bin = fileURLToPath(new URL('../../bin/boards-storage.js', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [bin, '--json', '--config', file, 'sync', '--mirrors', '--provider', 'primary'], { cwd: dir });
    const report = JSON.parse(stdout);
    assert.equal(report.copied, 1);
    assert.deepEqual(report.failed, []);
    assert.deepEqual(await storedFiles(join(dir, 'mirror')), [ref.storageKey]);
    const refused = await promisify(execFile)(process.execPath, [bin, '--config', file, 'sync'], { cwd: dir }).catch((e: { code: number; stderr: string }) => e);
    assert.equal((refused as { code: number }).code, 1);
    assert.match((refused as { stderr: string }).stderr, /sync --mirrors/);
  });
});

warnSkipped('mirrors after a real outage and rebalance');

describe('an artifact written to the fallback during an outage and moved home by rebalance', { skip: s3SkipReason ?? false }, () => {
  it('ends on its home provider\'s mirror: copied, verified, recorded', async () => {
    const bucket = await createTestBucket('mirror-home');
    after(() => removeTestBucket(bucket));
    const proxy = await switchableProxy(providerConfig(bucket).endpoint!);
    const dir = await tempDir('mirror-home');
    const storage = await createStorageManager({ config: {
      data_dir: dir, signing_secret: 's'.repeat(32), default_provider: 's3',
      providers: {
        s3: { type: 's3', config: { ...providerConfig(bucket, { endpoint: proxy.url }), max_attempts: 1 }, fallback: 'spare', mirrors: ['backup'] },
        spare: { type: 'local', config: { base_path: join(dir, 'spare') } },
        backup: { type: 'local', config: { base_path: join(dir, 'backup') } },
      },
    }, env: {} });
    after(() => storage.close());
    await proxy.down();
    const ref = await storage.storeArtifact({ artifactId: 'outage', artifactType: 'text', contentType: 'text/plain', content: 'written during the outage' });
    assert.equal(ref.storageProvider, 'spare');
    await proxy.up();
    const report = await rebalance(storage);
    assert.equal(report.moved, 1);
    assert.equal(report.mirrored, 1);
    assert.deepEqual(report.failed, []);
    assert.equal((await storage.getArtifact(ref.storageKey)).storageProvider, 's3');
    assert.deepEqual(await storage.catalog.copiesOf(ref.storageKey), [{ provider: 'backup', status: 'done' }]);
    assert.equal(sha256(await readFile(join(dir, 'backup', ref.storageKey))), ref.sha256);
    assert.deepEqual(await storedFiles(join(dir, 'spare')), []);
    // The mirror copy serves reads when home goes down again.
    await proxy.down();
    assert.equal(Buffer.from(await storage.download(ref.storageKey)).toString(), 'written during the outage');
  });
});
