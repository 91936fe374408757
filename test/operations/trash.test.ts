import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createStorageManager, NotFoundError } from '../../src/index.ts';
import { sweepExpired } from '../../src/lifecycle/expiry-sweep.ts';
import { findOrphans } from '../../src/lifecycle/orphans.ts';
import { media } from '../fixtures/media.ts';
import { storedFiles } from '../helpers.ts';
import { testDatabases } from '../catalog/databases.ts';
import { startTestServer } from '../server/server-harness.ts';

const DAY = 86400_000;

for (const database of testDatabases) {
  describe(`trash on ${database.name}`, () => {
    async function open(extra: Record<string, unknown> = {}) {
      const { dataDir, databaseUrl } = await database.fresh();
      const files = join(dataDir, 'files');
      const storage = await createStorageManager({ config: { data_dir: dataDir, ...(databaseUrl ? { database_url: databaseUrl } : {}), providers: { local: { type: 'local', config: { base_path: files } } }, ...extra }, env: {} });
      return { storage, files };
    }

    it('hides a deleted artifact from reads, listings and stats, brings it back with undelete, purges it after trash_retention', async () => {
      const { storage, files } = await open({ trash_retention: '2d' });
      try {
        const kept = await storage.storeArtifact({ artifactId: 'kept', artifactType: 'image', contentType: 'image/png', content: media.png(), tenantId: 't1', boardId: 'b1' });
        const gone = await storage.storeArtifact({ artifactId: 'gone', artifactType: 'text', contentType: 'text/plain', content: 'deleted words', tenantId: 't1', boardId: 'b1' });
        assert.equal(await storage.deleteArtifact(gone.storageKey, undefined, { actor: 'alice' }), true);

        await assert.rejects(storage.getArtifact(gone.storageKey), NotFoundError);
        await assert.rejects(storage.openDownload(gone.storageKey), NotFoundError);
        assert.deepEqual((await storage.listArtifacts({ tenantId: 't1' })).items.map((i) => i.storageKey), [kept.storageKey]);
        const stats = await storage.getStats('t1');
        assert.deepEqual(stats.total, { count: 1, bytes: kept.size });
        assert.deepEqual(stats.trash, { count: 1, bytes: gone.size });

        const trash = await storage.listTrash({ tenantId: 't1' });
        assert.deepEqual(trash.items.map((i) => [i.storageKey, i.deletedBy, i.sha256]), [[gone.storageKey, 'alice', gone.sha256]]);
        assert.ok(Date.parse(trash.items[0]!.purgeAfter) - Date.parse(trash.items[0]!.deletedAt) === 2 * DAY);
        assert.deepEqual((await storage.listTrash({ tenantId: 't2' })).items, [], 'another tenant sees nothing');
        // The trash's objects are recorded: orphan cleanup leaves them alone.
        assert.deepEqual((await findOrphans(storage, { fix: true })).unrecordedObjects, []);

        const back = await storage.undelete(gone.storageKey);
        assert.equal(back.sha256, gone.sha256);
        assert.equal(Buffer.from(await storage.download(gone.storageKey)).toString(), 'deleted words');
        assert.deepEqual((await storage.getStats('t1')).trash, { count: 0, bytes: 0 });
        await assert.rejects(storage.undelete(gone.storageKey), NotFoundError);

        assert.equal(await storage.deleteArtifact(gone.storageKey), true);
        assert.equal((await sweepExpired(storage, { now: () => new Date(Date.now() + DAY) })).purgedFromTrash, 0, 'not before its retention');
        assert.deepEqual(await storedFiles(files), [kept.storageKey, gone.storageKey].sort());
        assert.equal((await sweepExpired(storage, { now: () => new Date(Date.now() + 3 * DAY) })).purgedFromTrash, 1);
        assert.deepEqual(await storedFiles(files), [kept.storageKey]);
        await assert.rejects(storage.undelete(gone.storageKey), NotFoundError);
        assert.deepEqual((await storage.catalog.auditTrail(gone.storageKey)).map((e) => e.action), ['stored', 'deleted', 'restored', 'deleted', 'purged']);
      } finally {
        await storage.close();
      }
    });

    it('deletes at once with trash_retention 0, with permanent, and for temporary files', async () => {
      const off = await open({ trash_retention: 0 });
      try {
        const ref = await off.storage.storeArtifact({ artifactId: 'a', artifactType: 'text', contentType: 'text/plain', content: 'x' });
        assert.equal(await off.storage.deleteArtifact(ref.storageKey), true);
        assert.deepEqual(await storedFiles(off.files), []);
        assert.deepEqual((await off.storage.listTrash()).items, []);
      } finally {
        await off.storage.close();
      }
      const on = await open();
      try {
        const ref = await on.storage.storeArtifact({ artifactId: 'a', artifactType: 'text', contentType: 'text/plain', content: 'x' });
        assert.equal(await on.storage.deleteArtifact(ref.storageKey, undefined, { permanent: true }), true);
        const temp = await on.storage.storeTempFile({ jobId: 'job1', name: 'step.txt', contentType: 'text/plain', content: 'intermediate' });
        assert.equal(await on.storage.deleteJobTempFiles('job1'), 1);
        assert.deepEqual(await storedFiles(on.files), []);
        assert.deepEqual((await on.storage.listTrash()).items, []);
        assert.equal(await on.storage.catalog.trash.get(temp.storageKey), undefined);
      } finally {
        await on.storage.close();
      }
    });
  });
}

describe('trash over HTTP', () => {
  it('lists the caller\'s trash, restores from it, and never shows another tenant\'s', async () => {
    const server = await startTestServer();
    const alice = await server.as('alice');
    const bob = await server.as('bob');
    const ref = await server.put('alice', media.png(), 'image/png', { boardId: 'b1' });
    const bobRef = await server.put('bob', media.png(), 'image/png');
    assert.equal((await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { method: 'DELETE', headers: alice })).status, 204);
    assert.equal((await fetch(`${server.url}/v1/artifacts/${bobRef.storageKey}`, { method: 'DELETE', headers: bob })).status, 204);
    assert.equal((await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { headers: alice })).status, 404);

    const listed = await (await fetch(`${server.url}/v1/trash`, { headers: alice })).json() as { items: { storageKey: string; deletedBy: string; purgeAfter: string }[] };
    assert.deepEqual(listed.items.map((i) => [i.storageKey, i.deletedBy]), [[ref.storageKey, 'user-1']]);
    assert.ok(listed.items[0]!.purgeAfter);
    const stats = await (await fetch(`${server.url}/v1/stats`, { headers: alice })).json() as { total: { count: number }; trash: { count: number; bytes: number } };
    assert.deepEqual([stats.total.count, stats.trash], [0, { count: 1, bytes: ref.size }]);

    // Bob's key, asked for by Alice: answered like a missing one.
    assert.equal((await fetch(`${server.url}/v1/trash/${bobRef.storageKey}/restore`, { method: 'POST', headers: alice })).status, 404);
    assert.equal((await fetch(`${server.url}/v1/trash/${ref.storageKey}`, { method: 'POST', headers: alice })).status, 404);
    const restored = await fetch(`${server.url}/v1/trash/${ref.storageKey}/restore`, { method: 'POST', headers: alice });
    assert.equal(restored.status, 200);
    assert.equal(((await restored.json()) as { sha256: string }).sha256, ref.sha256);
    const read = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { headers: alice });
    assert.equal(read.status, 200);
    assert.deepEqual(Buffer.from(await read.arrayBuffer()), Buffer.from(media.png()));
    assert.equal((await fetch(`${server.url}/v1/trash/${ref.storageKey}/restore`, { method: 'POST', headers: alice })).status, 404);
    assert.equal((await fetch(`${server.url}/v1/trash`)).status, 401);
  });
});
