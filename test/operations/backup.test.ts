import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptionError, createStorageManager, StorageError } from '../../src/index.ts';
import type { StorageManager } from '../../src/index.ts';
import { backup, blobPath } from '../../src/operations/backup.ts';
import { restore } from '../../src/operations/restore.ts';
import { allGood } from '../../src/operations/verify.ts';
import { filesUnder, storedFiles, tempDir } from '../helpers.ts';
import { testDatabases } from '../catalog/databases.ts';
import { media } from '../fixtures/media.ts';

async function everything(storage: StorageManager, tenants: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const tenantId of tenants) {
    for (const a of (await storage.listArtifacts({ tenantId, limit: 1000 })).items) out.push(`${a.storageKey} ${a.sha256} ${a.size} ${a.visibility}`);
    for (const a of (await storage.listTrash({ tenantId, limit: 1000 })).items) out.push(`trash ${a.storageKey} ${a.sha256}`);
  }
  return out.sort();
}

for (const database of testDatabases) {
  describe(`backup and restore from a ${database.name} catalog`, () => {
    it('backs up in full, then incrementally, and restores into an empty directory that verifies all ok', async () => {
      const source = await database.fresh();
      const backups = await tempDir('backups');
      const storage = await createStorageManager({ config: { data_dir: source.dataDir, ...(source.databaseUrl ? { database_url: source.databaseUrl } : {}), providers: { local: { type: 'local', config: { base_path: join(source.dataDir, 'files') } } } }, env: {} });
      let before: string[];
      try {
        const a = await storage.storeArtifact({ artifactId: 'a', artifactType: 'image', contentType: 'image/png', content: media.png(5000), tenantId: 't1', boardId: 'b1', metadata: { prompt: 'a fox' } });
        await storage.storeArtifact({ artifactId: 'b', artifactType: 'text', contentType: 'text/plain', content: 'bee', tenantId: 't2', visibility: 'public' });
        const c = await storage.storeArtifact({ artifactId: 'c', artifactType: 'text', contentType: 'text/plain', content: 'sea', tenantId: 't1' });
        await storage.deleteArtifact(c.storageKey);
        const full = await backup(storage, { to: backups });
        assert.equal(full.type, 'full');
        assert.deepEqual(full.counts, { artifacts: 3, bytes: a.size + 6, copied: 3, copiedBytes: a.size + 6, failed: 0 });
        assert.equal(full.catalog.format, database.name === 'sqlite' ? 'sqlite' : 'ndjson');
        assert.ok(full.position.auditId, 'the manifest records the catalog position');

        // The same content stored twice is one blob; the incremental copies only what is new.
        await storage.storeArtifact({ artifactId: 'd', artifactType: 'text', contentType: 'text/plain', content: 'new words', tenantId: 't1', boardId: 'b1' });
        await storage.storeArtifact({ artifactId: 'e', artifactType: 'text', contentType: 'text/plain', content: 'bee', tenantId: 't1' });
        const incremental = await backup(storage, { to: backups, incremental: true });
        assert.deepEqual([incremental.type, incremental.parent], ['incremental', full.id]);
        assert.deepEqual([incremental.counts.artifacts, incremental.counts.copied, incremental.counts.copiedBytes], [5, 1, 9]);
        assert.equal((await filesUnder(join(backups, 'blobs'))).length, 4);
        before = await everything(storage, ['t1', 't2']);
      } finally {
        await storage.close();
      }

      const target = await tempDir('restored');
      const restored = await createStorageManager({ config: { data_dir: target, providers: { local: { type: 'local', config: { base_path: join(target, 'files') } } } }, env: {} });
      try {
        const report = await restore(restored, { from: backups });
        assert.deepEqual(report.counts, { artifacts: 5, verified: 5, failed: 0 });
        assert.deepEqual(await everything(restored, ['t1', 't2']), before);
        const verify = await restored.verify();
        assert.ok(allGood(verify), JSON.stringify(verify.problems));
        assert.deepEqual([verify.counts.ok, verify.artifacts], [4, 4], 'every live artifact checked, no orphan (the trash\'s object is recorded)');
        // The trash came back too: the deleted artifact can still be undeleted, and verifies.
        const trashed = (await restored.listTrash({ tenantId: 't1' })).items[0]!;
        await restored.undelete(trashed.storageKey);
        assert.equal(Buffer.from(await restored.download(trashed.storageKey)).toString(), 'sea');
        assert.equal((await restored.verify()).counts.ok, 5);
        await assert.rejects(restore(restored, { from: backups }), (error: unknown) => error instanceof StorageError && error.code === 'CONFLICT');
      } finally {
        await restored.close();
      }
    });
  });
}

describe('restore refuses a damaged backup', () => {
  it('fails on a blob that does not match its SHA-256 and leaves the target catalog empty', async () => {
    const dir = await tempDir('damaged');
    const backups = join(dir, 'backups');
    const storage = await createStorageManager({ config: { data_dir: join(dir, 'a'), providers: { local: { type: 'local', config: { base_path: join(dir, 'a', 'files') } } } }, env: {} });
    const ref = await storage.storeArtifact({ artifactId: 'x', artifactType: 'text', contentType: 'text/plain', content: 'original' });
    await backup(storage, { to: backups });
    await storage.close();
    await writeFile(join(backups, blobPath(ref.sha256)), 'tampered');
    const target = await createStorageManager({ config: { data_dir: join(dir, 'b'), providers: { local: { type: 'local', config: { base_path: join(dir, 'b', 'files') } } } }, env: {} });
    try {
      await assert.rejects(restore(target, { from: backups }), CorruptionError);
      assert.deepEqual((await target.listArtifacts()).items, []);
      assert.deepEqual(await storedFiles(join(dir, 'b', 'files')), []);
    } finally {
      await target.close();
    }
  });
});
