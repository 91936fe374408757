import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createStorageManager } from '../../src/index.ts';
import type { StorageManager } from '../../src/index.ts';
import { sweepExpired } from '../../src/lifecycle/expiry-sweep.ts';
import { applyRetention } from '../../src/lifecycle/retention.ts';
import { findOrphans } from '../../src/lifecycle/orphans.ts';
import { media } from '../fixtures/media.ts';
import { storedFiles } from '../helpers.ts';
import { testDatabases } from '../catalog/databases.ts';

const HOUR = 3600_000;

async function sweepInChild(target: { databaseUrl?: string; dataDir: string }): Promise<{ expiredArtifacts: number; failures: unknown[]; ran: boolean }> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const worker = new URL('./sweep-worker.ts', import.meta.url).pathname;
  const { stdout } = await promisify(execFile)(process.execPath, [worker, JSON.stringify(target)]);
  return JSON.parse(stdout) as { expiredArtifacts: number; failures: unknown[]; ran: boolean };
}

async function open(target: { databaseUrl?: string; dataDir: string }): Promise<{ storage: StorageManager; files: string }> {
  const files = join(target.dataDir, 'files');
  const storage = await createStorageManager({ config: { data_dir: target.dataDir, ...(target.databaseUrl ? { database_url: target.databaseUrl } : {}), signing_secret: 's'.repeat(32), providers: { local: { type: 'local', config: { base_path: files } } } }, env: {} });
  return { storage, files };
}

for (const database of testDatabases) {
  describe(`lifecycle on ${database.name}`, () => {
    it('sweeps temporary files past their TTL and uploads never completed, by an injected clock', async () => {
      const { storage, files } = await open(await database.fresh());
      try {
        const t0 = Date.now();
        await storage.storeTempFile({ jobId: 'j1', name: 'a.txt', contentType: 'text/plain', content: 'old', expiresAt: new Date(t0 + 1 * HOUR) });
        const young = await storage.storeTempFile({ jobId: 'j1', name: 'b.txt', contentType: 'text/plain', content: 'young', expiresAt: new Date(t0 + 48 * HOUR) });
        const kept = await storage.storeArtifact({ artifactId: 'kept', artifactType: 'image', contentType: 'image/png', content: media.png() });
        const upload = await storage.getUploadUrl({ artifactId: 'direct', artifactType: 'text', contentType: 'text/plain', expiresIn: 3600 });
        const { Readable } = await import('node:stream');
        await storage.acceptDirectUpload(upload.storageKey, Readable.from([Buffer.from('landed, never completed')]), { contentType: 'text/plain', maxSize: 1000 });

        const early = await sweepExpired(storage, { now: () => new Date(t0 + 30 * 60_000) });
        assert.deepEqual([early.expiredArtifacts, early.expiredUploads], [0, 0]);
        const later = await sweepExpired(storage, { now: () => new Date(t0 + 2 * HOUR), batchSize: 1 });
        assert.deepEqual([later.expiredArtifacts, later.expiredUploads, later.failures.length], [1, 1, 0]);
        assert.deepEqual(await storedFiles(files), [kept.storageKey, young.storageKey].sort());
        assert.equal(await storage.exists('temp/j1/a.txt'), false);
        assert.deepEqual((await storage.catalog.auditTrail('temp/j1/a.txt')).map((e) => [e.action, e.actor]), [['stored', undefined], ['deleted', 'cleanup']]);
        await assert.rejects(storage.completeUpload(upload.storageKey, { tenantId: 'default' }), /no upload is pending/);
      } finally {
        await storage.close();
      }
    });

    it('records who swept in the audit trail (serve names its node)', async () => {
      const { storage } = await open(await database.fresh());
      try {
        const ref = await storage.storeTempFile({ jobId: 'j2', name: 'a.txt', contentType: 'text/plain', content: 'old', expiresAt: new Date(Date.now() - 1000) });
        const report = await sweepExpired(storage, { actor: 'cleanup:node-a' });
        assert.equal(report.expiredArtifacts, 1);
        assert.deepEqual((await storage.catalog.auditTrail(ref.storageKey)).map((e) => [e.action, e.actor]), [['stored', undefined], ['deleted', 'cleanup:node-a']]);
      } finally {
        await storage.close();
      }
    });

    it('finishes the deletions of a sweep killed between claiming and deleting, and spares a key stored again', async () => {
      const { storage, files } = await open(await database.fresh());
      try {
        const expiresAt = new Date(Date.now() - 1000);
        const lost = await storage.storeTempFile({ jobId: 'j3', name: 'lost.txt', contentType: 'text/plain', content: 'left behind', expiresAt });
        const reused = await storage.storeTempFile({ jobId: 'j3', name: 'reused.txt', contentType: 'text/plain', content: 'first', expiresAt });
        // What a sweep that died right after its claim leaves: the records gone, both objects on disk.
        assert.equal((await storage.catalog.claimExpired(new Date(), 10, 'cleanup:dead-node')).length, 2);
        assert.deepEqual(await storedFiles(files), [lost.storageKey, reused.storageKey].sort());
        // Meanwhile a job stores the second name again: that object is the new one's, not the sweep's.
        await storage.storeTempFile({ jobId: 'j3', name: 'reused.txt', contentType: 'text/plain', content: 'second', expiresAt: new Date(Date.now() + HOUR) });

        const report = await sweepExpired(storage, { actor: 'cleanup:next-node' });
        assert.deepEqual([report.expiredArtifacts, report.failures], [0, []]);
        assert.deepEqual(await storedFiles(files), [reused.storageKey]);
        assert.equal(Buffer.from(await storage.download(reused.storageKey)).toString(), 'second');
        assert.deepEqual(await storage.catalog.deletions.due(new Date(), 10), []);
        assert.deepEqual((await storage.catalog.auditTrail(lost.storageKey)).map((e) => [e.action, e.actor]), [['stored', undefined], ['deleted', 'cleanup:dead-node']]);
      } finally {
        await storage.close();
      }
    });

    it('never lets two processes delete the same batch', async () => {
      const target = await database.fresh();
      const { storage, files } = await open(target);
      const n = 60;
      try {
        const expiresAt = new Date(Date.now() - 1000);
        for (let i = 0; i < n; i++) await storage.storeTempFile({ jobId: 'batch', name: `f${i}.txt`, contentType: 'text/plain', content: `file ${i}`, expiresAt });
      } finally {
        await storage.close();
      }
      // Two real processes sweep the same catalog and disk at once.
      const reports = await Promise.all([sweepInChild(target), sweepInChild(target)]);
      assert.equal(reports.reduce((sum, r) => sum + r.expiredArtifacts, 0), n, 'every expired file deleted exactly once');
      assert.deepEqual(reports.flatMap((r) => r.failures), []);
      const after = await open(target);
      try {
        assert.deepEqual(await storedFiles(files), []);
        assert.equal((await after.storage.catalog.list({ tenantId: 'default', limit: 1000 })).items.length, 0);
      } finally {
        await after.storage.close();
      }
    });

    it('applies a retention age with a dry run first, auditing each deletion', async () => {
      const { storage, files } = await open(await database.fresh());
      try {
        const old = await storage.storeArtifact({ artifactId: 'old', artifactType: 'image', contentType: 'image/png', content: media.png() });
        const oldText = await storage.storeArtifact({ artifactId: 'old2', artifactType: 'text', contentType: 'text/plain', content: 'old text' });
        const future = () => new Date(Date.now() + 31 * 24 * HOUR);
        const dry = await applyRetention(storage, { olderThanSeconds: 30 * 86400, artifactType: 'image', dryRun: true, now: future });
        assert.deepEqual(dry.matched.map((m) => m.storageKey), [old.storageKey]);
        assert.equal(dry.deleted, 0);
        assert.equal(await storage.exists(old.storageKey), true);
        const none = await applyRetention(storage, { olderThanSeconds: 30 * 86400 });
        assert.equal(none.matched.length, 0, 'nothing is 30 days old today');
        const real = await applyRetention(storage, { olderThanSeconds: 30 * 86400, now: future, actor: 'ops' });
        assert.equal(real.deleted, 2);
        // Into the trash first; the sweep purges them once trash_retention (7 days) has passed.
        assert.deepEqual(await storedFiles(files), [old.storageKey, oldText.storageKey].sort());
        assert.equal((await sweepExpired(storage, { now: () => new Date(Date.now() + 6 * 24 * HOUR) })).purgedFromTrash, 0);
        assert.equal((await sweepExpired(storage, { now: () => new Date(Date.now() + 8 * 24 * HOUR) })).purgedFromTrash, 2);
        assert.deepEqual(await storedFiles(files), []);
        assert.deepEqual((await storage.catalog.auditTrail(oldText.storageKey)).map((e) => [e.action, e.actor]), [['stored', undefined], ['deleted', 'ops'], ['purged', 'cleanup']]);
      } finally {
        await storage.close();
      }
    });

    it('finds orphans both ways and fixes them on request', async () => {
      const { storage, files } = await open(await database.fresh());
      try {
        const good = await storage.storeArtifact({ artifactId: 'good', artifactType: 'text', contentType: 'text/plain', content: 'fine' });
        const vanished = await storage.storeArtifact({ artifactId: 'gone', artifactType: 'text', contentType: 'text/plain', content: 'object removed behind our back' });
        await storage.provider('local').delete(vanished.storageKey);
        await storage.provider('local').upload('default/text/stray_20260101000000_0000abcd/original.txt', (async function* () { yield Buffer.from('nobody recorded me'); })(), { contentType: 'text/plain', metadata: {} });
        const pending = await storage.getUploadUrl({ artifactId: 'p', artifactType: 'text', contentType: 'text/plain' });
        const { Readable } = await import('node:stream');
        await storage.acceptDirectUpload(pending.storageKey, Readable.from([Buffer.from('pending, not an orphan')]), { contentType: 'text/plain', maxSize: 100 });

        const report = await findOrphans(storage);
        assert.deepEqual(report.unrecordedObjects.map((o) => o.key), ['default/text/stray_20260101000000_0000abcd/original.txt']);
        assert.deepEqual(report.missingObjects.map((m) => m.key), [vanished.storageKey]);
        assert.equal(report.fixed, 0);
        const fixed = await findOrphans(storage, { fix: true });
        assert.equal(fixed.fixed, 2);
        const after = await findOrphans(storage);
        assert.deepEqual([after.unrecordedObjects, after.missingObjects], [[], []]);
        assert.deepEqual(await storedFiles(files), [good.storageKey, pending.storageKey].sort());
      } finally {
        await storage.close();
      }
    });
  });
}
