import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { createStorageManager, ProviderUnavailableError } from '../../src/index.ts';
import type { StorageConfigInput } from '../../src/index.ts';
import { processMirrorQueue } from '../../src/lifecycle/mirrors.ts';
import { sweepExpired } from '../../src/lifecycle/expiry-sweep.ts';
import { rebalance } from '../../src/lifecycle/rebalance.ts';
import { storedFiles, tempDir } from '../helpers.ts';
import { testDatabases } from '../catalog/databases.ts';

function config(dataDir: string, databaseUrl?: string, extra: Partial<StorageConfigInput> = {}): StorageConfigInput {
  return {
    data_dir: dataDir, ...(databaseUrl ? { database_url: databaseUrl } : {}), signing_secret: 's'.repeat(32), default_provider: 'primary',
    providers: {
      primary: { type: 'local', config: { base_path: join(dataDir, 'primary') }, mirrors: ['mirror'] },
      mirror: { type: 'local', config: { base_path: join(dataDir, 'mirror') } },
    },
    ...extra,
  };
}

for (const database of testDatabases) {
  describe(`mirrors on ${database.name}`, () => {
    it('copies each artifact to its mirrors with its metadata, reads from a mirror while the primary is down, deletes every copy', async () => {
      const target = await database.fresh();
      const storage = await createStorageManager({ config: config(target.dataDir, target.databaseUrl), env: {} });
      try {
        const ref = await storage.storeArtifact({ artifactId: 'm', artifactType: 'text', contentType: 'text/plain', content: 'mirrored words', metadata: { prompt: 'x' } });
        await storage.flushMirrors();
        assert.deepEqual(await storage.catalog.copiesOf(ref.storageKey), [{ provider: 'mirror', status: 'done' }]);
        const copy = await storage.provider('mirror').getMetadata(ref.storageKey);
        assert.equal(copy.contentType, 'text/plain');
        assert.equal(copy.metadata.sha256, ref.sha256);
        // The primary goes down: reads come from the mirror.
        const primary = storage.provider('primary');
        const down = async () => { throw new ProviderUnavailableError('primary: down'); };
        const saved = primary.openDownload;
        primary.openDownload = down;
        assert.equal(Buffer.from(await storage.download(ref.storageKey)).toString(), 'mirrored words');
        primary.openDownload = saved;
        assert.equal(await storage.deleteArtifact(ref.storageKey), true);
        // In the trash, every copy stays; the purge removes them all.
        assert.deepEqual(await storedFiles(join(target.dataDir, 'mirror')), [ref.storageKey]);
        assert.equal((await sweepExpired(storage, { now: () => new Date(Date.now() + 8 * 86400_000) })).purgedFromTrash, 1);
        assert.deepEqual(await storedFiles(join(target.dataDir, 'primary')), []);
        assert.deepEqual(await storedFiles(join(target.dataDir, 'mirror')), []);
        assert.deepEqual(await storage.catalog.copiesOf(ref.storageKey), []);
      } finally {
        await storage.close();
      }
    });

    it('completes a mirror copy after the process was killed between the write and the copy', async () => {
      const target = await database.fresh();
      const worker = new URL('./mirror-crash-worker.ts', import.meta.url).pathname;
      const run = await promisify(execFile)(process.execPath, [worker, JSON.stringify({ ...target, config: config(target.dataDir, target.databaseUrl) })]).catch((error: { stdout: string; signal: string }) => error);
      assert.equal((run as { signal?: string }).signal, 'SIGKILL', 'the worker killed itself right after the store');
      const key = JSON.parse(run.stdout).storageKey as string;
      assert.deepEqual(await storedFiles(join(target.dataDir, 'mirror')), [], 'no copy was made before the kill');
      const storage = await createStorageManager({ config: config(target.dataDir, target.databaseUrl), env: {} });
      try {
        assert.deepEqual(await storage.catalog.copiesOf(key), [{ provider: 'mirror', status: 'pending' }]);
        // The dead process may have claimed the copy: it comes due again when the claim's lease ends.
        const report = await processMirrorQueue(storage, { now: () => new Date(Date.now() + 11 * 60_000) });
        assert.equal(report.copied, 1);
        assert.deepEqual(await storedFiles(join(target.dataDir, 'mirror')), [key]);
        assert.equal(Buffer.from(await storage.download(key)).toString(), 'written just before the crash');
      } finally {
        await storage.close();
      }
    });
  });
}

describe('rebalance', () => {
  it('moves artifacts home to the provider their rule chooses, verifying checksums', async () => {
    const dir = await tempDir('rebalance');
    const providers = { home: { type: 'local', config: { base_path: join(dir, 'home') } }, spare: { type: 'local', config: { base_path: join(dir, 'spare') } } };
    const away = await createStorageManager({ config: { data_dir: dir, signing_secret: 's'.repeat(32), default_provider: 'spare', providers }, env: {} });
    const refs = [];
    for (let i = 0; i < 3; i++) refs.push(await away.storeArtifact({ artifactId: `a${i}`, artifactType: 'text', contentType: 'text/plain', content: `artifact ${i}` }));
    await away.close();
    const storage = await createStorageManager({ config: { data_dir: dir, signing_secret: 's'.repeat(32), default_provider: 'home', providers }, env: {} });
    after(() => storage.close());
    const dry = await rebalance(storage, { dryRun: true });
    assert.deepEqual(dry.moves.map((m) => [m.from, m.to]), [['spare', 'home'], ['spare', 'home'], ['spare', 'home']]);
    assert.equal(dry.moved, 0);
    const done = await rebalance(storage);
    assert.equal(done.moved, 3);
    assert.deepEqual(done.failed, []);
    for (const ref of refs) {
      assert.equal((await storage.getArtifact(ref.storageKey)).storageProvider, 'home');
      assert.equal(Buffer.from(await storage.download(ref.storageKey)).toString(), Buffer.from(`artifact ${refs.indexOf(ref)}`).toString());
    }
    assert.deepEqual(await storedFiles(join(dir, 'spare')), []);
    assert.equal((await rebalance(storage)).moves.length, 0);
  });
});
