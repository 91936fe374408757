import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createStorageManager } from '../../src/index.ts';
import type { StorageManager } from '../../src/manager/storage-manager.ts';
import { testDatabases } from '../catalog/databases.ts';

/**
 * A copy known to be corrupt and not yet repaired survives a restart: the catalog (SQLite and
 * PostgreSQL) remembers it, so the reopened store still reads the good copy (a mirror on another
 * real disk) and resumes the repair, at the first read or from resumeRepairs().
 */

async function flipByte(path: string, at: number): Promise<void> {
  const bytes = await readFile(path);
  bytes[at] = bytes[at]! ^ 0xff;
  await writeFile(path, bytes);
}

for (const database of testDatabases) {
  describe(`repair state across a restart (${database.name} catalog)`, () => {
    const setUp = async () => {
      const { databaseUrl, dataDir } = await database.fresh();
      const config = {
        data_dir: dataDir,
        ...(databaseUrl ? { database_url: databaseUrl } : {}),
        default_provider: 'primary',
        providers: {
          primary: { type: 'local', config: { base_path: join(dataDir, 'primary') }, mirrors: ['mirror'] },
          mirror: { type: 'local', config: { base_path: join(dataDir, 'mirror') } },
        },
      };
      const open = () => createStorageManager({ config, env: {} });
      const content = randomBytes(200_000);
      const first = await open();
      let storageKey: string;
      try {
        storageKey = (await first.storeArtifact({ artifactId: 'w', artifactType: 'model', contentType: 'application/octet-stream', content, tenantId: 'alice' })).storageKey;
        await first.flushMirrors();
        await flipByte(join(dataDir, 'primary', storageKey), 100_000);
        // A scrub without --repair: the copy is known bad, and left as it is.
        const report = await first.verify();
        assert.equal(report.counts.corrupt, 1);
        assert.equal(first.integrity.isSuspect(storageKey, 'primary'), true);
      } finally {
        await first.close();
      }
      const onPrimary = () => readFile(join(dataDir, 'primary', storageKey));
      assert.notDeepEqual(await onPrimary(), content, 'the primary copy is still corrupt when the store closes');
      return { open, content, storageKey, onPrimary };
    };

    it('after the restart the first read gets the good copy, and the repair resumes from it', async () => {
      const { open, content, storageKey, onPrimary } = await setUp();
      const storage: StorageManager = await open();
      try {
        assert.equal(storage.integrity.isSuspect(storageKey, 'primary'), true, 'the reopened store knows the copy is bad');
        assert.deepEqual(Buffer.from(await storage.download(storageKey)), content);
        await storage.integrity.settled();
        assert.deepEqual(await onPrimary(), content, 'the primary copy is repaired');
        assert.equal(storage.integrity.isSuspect(storageKey, 'primary'), false);
        assert.equal(storage.integrity.snapshot().repairs.primary, 1);
        assert.deepEqual(await storage.catalog.corruptCopies.list(), []);
      } finally {
        await storage.close();
      }
      // Repaired for good: a third start knows of nothing bad and reads the primary.
      const third = await open();
      try {
        assert.equal(third.integrity.isSuspect(storageKey, 'primary'), false);
        assert.deepEqual(Buffer.from(await third.download(storageKey)), content);
        assert.deepEqual(third.integrity.snapshot().corruptions, {});
      } finally {
        await third.close();
      }
    });

    it('resumeRepairs() (what the service runs when it starts) repairs without a read; a copy of a deleted artifact is forgotten', async () => {
      const { open, content, storageKey, onPrimary } = await setUp();
      const storage = await open();
      try {
        const other = await storage.storeArtifact({ artifactId: 'gone', artifactType: 'model', contentType: 'application/octet-stream', content: randomBytes(1000), tenantId: 'alice' });
        await storage.catalog.corruptCopies.mark(other.storageKey, 'primary', {});
        await storage.deleteArtifact(other.storageKey);
        await storage.integrity.load();
        assert.equal(storage.integrity.isSuspect(storageKey, 'primary'), true);
        assert.equal(await storage.integrity.resumeRepairs(), 1);
        await storage.integrity.settled();
        assert.deepEqual(await onPrimary(), content);
        assert.equal(storage.integrity.isSuspect(storageKey, 'primary'), false);
        assert.equal(storage.integrity.isSuspect(other.storageKey, 'primary'), false);
        assert.deepEqual(await storage.catalog.corruptCopies.list(), []);
      } finally {
        await storage.close();
      }
    });
  });
}
