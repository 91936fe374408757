import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createStorageManager, ProviderUnavailableError } from '../../src/index.ts';
import type { StorageManager } from '../../src/index.ts';
import { wrapProvider } from '../../src/layers/layer.ts';
import { sweepExpired } from '../../src/lifecycle/expiry-sweep.ts';
import { media } from '../fixtures/media.ts';
import { storedFiles } from '../helpers.ts';
import { testDatabases } from '../catalog/databases.ts';

/** What the fault layer makes fail, switched by the test. */
interface Faults {
  /** Every delete fails (as on a backend that is down for deletes). */
  deletes: boolean;
  /** An upload or server-side copy lands its object, then reports a failure. */
  afterLanding: boolean;
}

/**
 * Real local providers on a temp directory, each behind a layer that fails what `faults` says.
 * Uploads never defer their object to the catalog's commit (the layer drops `commitWith`): a
 * store's object is in place when the store fails, as on every backend but local with SQLite.
 */
async function open(target: { databaseUrl?: string; dataDir: string }, extra: Record<string, unknown> = {}): Promise<{ storage: StorageManager; files: string; other: string; faults: Faults }> {
  const files = join(target.dataDir, 'files');
  const other = join(target.dataDir, 'other');
  const storage = await createStorageManager({
    config: {
      data_dir: target.dataDir, ...(target.databaseUrl ? { database_url: target.databaseUrl } : {}), signing_secret: 's'.repeat(32),
      default_provider: 'local',
      providers: { local: { type: 'local', config: { base_path: files } }, other: { type: 'local', config: { base_path: other } } },
      ...extra,
    },
    env: {},
  });
  const faults: Faults = { deletes: false, afterLanding: false };
  for (const name of ['local', 'other']) {
    const real = storage.provider(name);
    storage.registerProvider(name, wrapProvider(real, async (operation, run, first) => {
      if (operation === 'delete' && faults.deletes) throw new ProviderUnavailableError(`${name}: deletes fail (test fault)`);
      if (operation === 'upload' && first.uploadOptions) {
        const { commitWith: _, ...uploadOptions } = first.uploadOptions;
        const landed = await run({ ...first, uploadOptions });
        if (faults.afterLanding) throw new ProviderUnavailableError(`${name}: the upload landed, then the connection dropped (test fault)`);
        return landed;
      }
      const result = await run(first);
      if (operation === 'copy' && faults.afterLanding) throw new ProviderUnavailableError(`${name}: the copy landed, then the connection dropped (test fault)`);
      return result;
    }));
  }
  return { storage, files, other, faults };
}

/** The queued deletions, without their times. */
async function queued(storage: StorageManager): Promise<{ storageKey: string; provider: string }[]> {
  return (await storage.catalog.deletions.due(new Date(Date.now() + 60_000), 100)).map(({ storageKey, provider }) => ({ storageKey, provider }));
}

/** The object a failed operation left is queued; once deletes work again, the next sweep removes it and its row. */
async function sweptAway(storage: StorageManager, faults: Faults, base: string, kept: string[]): Promise<void> {
  faults.deletes = false;
  const report = await sweepExpired(storage);
  assert.deepEqual(report.failures, []);
  assert.deepEqual(await storedFiles(base), kept.sort());
  assert.deepEqual(await queued(storage), []);
}

for (const database of testDatabases) {
  describe(`compensating deletes that fail go to the deletion outbox, on ${database.name}`, () => {
    it('queues the object of a store refused after its bytes landed (quota) when its delete fails, and the next sweep removes it', async () => {
      const { storage, files, faults } = await open(await database.fresh(), { quotas: { default: { bytes: 100 } } });
      try {
        faults.deletes = true;
        // A stream of unknown length: the quota can only refuse it once its 300 bytes have landed.
        await assert.rejects(storage.storeArtifact({ artifactId: 'big', artifactType: 'text', contentType: 'text/plain', content: Readable.from([Buffer.alloc(300, 'a')]) }), { code: 'QUOTA_EXCEEDED' });
        const [left, ...more] = await storedFiles(files);
        assert.ok(left?.startsWith('default/text/big_'), `the landed object is still on disk: ${left}`);
        assert.deepEqual(more, []);
        assert.deepEqual(await queued(storage), [{ storageKey: left, provider: 'local' }]);
        assert.deepEqual((await storage.metrics()).orphansLeft, {});
        await sweptAway(storage, faults, files, []);
      } finally {
        await storage.close();
      }
    });

    it('queues a direct upload that fails its checks at completion when its delete fails, and the pending upload goes', async () => {
      const { storage, files, faults } = await open(await database.fresh());
      try {
        const upload = await storage.getUploadUrl({ artifactId: 'photo', artifactType: 'image', contentType: 'image/png' });
        // What a client that uploads to the backend itself leaves: text where a PNG was signed for.
        await storage.provider('local').upload(upload.storageKey, Readable.from([Buffer.from('not a png at all')]), { contentType: 'image/png', metadata: {} });
        faults.deletes = true;
        await assert.rejects(storage.completeUpload(upload.storageKey, { tenantId: 'default' }), { name: 'ValidationError' });
        assert.equal(await storage.catalog.getPendingUpload(upload.storageKey), undefined);
        assert.deepEqual(await storedFiles(files), [upload.storageKey]);
        assert.deepEqual(await queued(storage), [{ storageKey: upload.storageKey, provider: 'local' }]);
        await sweptAway(storage, faults, files, []);
      } finally {
        await storage.close();
      }
    });

    it('queues a received upload refused over quota at completion when its delete fails', async () => {
      const { storage, files, faults } = await open(await database.fresh(), { quotas: { default: { bytes: 100 } } });
      try {
        const upload = await storage.getUploadUrl({ artifactId: 'late', artifactType: 'text', contentType: 'text/plain' });
        await storage.acceptDirectUpload(upload.storageKey, Readable.from([Buffer.alloc(60, 'u')]), { contentType: 'text/plain', maxSize: 1000 });
        // Meanwhile the tenant fills most of its quota.
        const kept = await storage.storeArtifact({ artifactId: 'first', artifactType: 'text', contentType: 'text/plain', content: Buffer.alloc(60, 'k') });
        faults.deletes = true;
        await assert.rejects(storage.completeUpload(upload.storageKey, { tenantId: 'default' }), { code: 'QUOTA_EXCEEDED' });
        assert.equal(await storage.catalog.getPendingUpload(upload.storageKey), undefined);
        assert.deepEqual(await queued(storage), [{ storageKey: upload.storageKey, provider: 'local' }]);
        await sweptAway(storage, faults, files, [kept.storageKey]);
      } finally {
        await storage.close();
      }
    });

    it('queues the object of a board copy that failed after it landed when its delete fails', async () => {
      const { storage, files, faults } = await open(await database.fresh());
      try {
        const source = await storage.storeArtifact({ artifactId: 'cover', artifactType: 'image', contentType: 'image/png', boardId: 'b1', content: media.png() });
        faults.afterLanding = true;
        faults.deletes = true;
        await assert.rejects(storage.copyBoard('b1', { toBoardId: 'b2' }), ProviderUnavailableError);
        const left = (await storedFiles(files)).filter((f) => f !== source.storageKey);
        assert.equal(left.length, 1);
        assert.ok(left[0]!.startsWith('default/image/b2/cover_'), `the copy is still on disk: ${left[0]}`);
        assert.deepEqual(await queued(storage), [{ storageKey: left[0], provider: 'local' }]);
        assert.deepEqual((await storage.listArtifacts({ boardId: 'b2' })).items, []);
        faults.afterLanding = false;
        await sweptAway(storage, faults, files, [source.storageKey]);
      } finally {
        await storage.close();
      }
    });

    it('queues the destination copy of a failed migration item when its delete fails; a later run takes it back and moves the artifact', async () => {
      const { storage, other, faults } = await open(await database.fresh());
      try {
        const ref = await storage.storeArtifact({ artifactId: 'moving', artifactType: 'text', contentType: 'text/plain', content: 'to be moved' });
        faults.afterLanding = true;
        faults.deletes = true;
        const failed = await storage.migrate({ from: 'local', to: 'other' });
        assert.equal(failed.counts.failed, 1);
        assert.deepEqual(await storedFiles(other), [ref.storageKey]);
        assert.deepEqual(await queued(storage), [{ storageKey: ref.storageKey, provider: 'other' }]);

        // The next run copies the key to the same place: the queued deletion is taken back, so no
        // sweep can remove the new copy before its switch; the sweep after has nothing to do.
        faults.afterLanding = false;
        faults.deletes = false;
        const moved = await storage.migrate({ from: 'local', to: 'other' });
        assert.equal(moved.counts.failed, 0);
        assert.equal((await storage.getArtifact(ref.storageKey)).storageProvider, 'other');
        assert.deepEqual(await queued(storage), []);
        assert.deepEqual((await sweepExpired(storage)).failures, []);
        assert.equal(Buffer.from(await storage.download(ref.storageKey)).toString(), 'to be moved');
      } finally {
        await storage.close();
      }
    });
  });
}
