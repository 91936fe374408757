import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { createStorageManager, NotFoundError } from '../../src/index.ts';
import { pointInTimeRestore } from '../../src/operations/point-in-time.ts';
import { tempDir } from '../helpers.ts';
import { testDatabases } from '../catalog/databases.ts';
import { createTestBucket, providerConfig as s3Config, removeTestBucket, s3SkipReason } from '../s3/s3-test-server.ts';

const cliPath = new URL('../../bin/boards-storage.js', import.meta.url).pathname;

for (const database of testDatabases) {
  describe(`point-in-time restore on ${database.name}`, () => {
    it('brings back what was deleted after the moment and trashes what was created after it, per tenant and board, with a dry run first', async () => {
      const { dataDir, databaseUrl } = await database.fresh();
      const storage = await createStorageManager({ config: { data_dir: dataDir, ...(databaseUrl ? { database_url: databaseUrl } : {}), providers: { local: { type: 'local', config: { base_path: join(dataDir, 'files') } } } }, env: {} });
      try {
        const put = (id: string, tenantId: string, boardId: string) => storage.storeArtifact({ artifactId: id, artifactType: 'text', contentType: 'text/plain', content: `${id} words`, tenantId, boardId });
        const a = await put('a', 't1', 'b1');
        const b = await put('b', 't1', 'b1');
        const c = await put('c', 't1', 'b2');
        const d = await put('d', 't2', 'b1');
        const f = await put('f', 't1', 'b2');
        await sleep(5);
        const moment = new Date();
        await sleep(5);
        await storage.deleteArtifact(a.storageKey);
        await storage.deleteArtifact(b.storageKey, undefined, { permanent: true });
        await storage.deleteArtifact(c.storageKey);
        await storage.deleteArtifact(d.storageKey);
        const e = await put('e', 't1', 'b1');
        // Deleted and brought back after the moment: it existed then and exists now, nothing to do.
        await storage.deleteArtifact(f.storageKey);
        await storage.undelete(f.storageKey);

        const dry = await pointInTimeRestore(storage, { at: moment, tenantId: 't1', boardId: 'b1', dryRun: true });
        assert.deepEqual([dry.restored, dry.trashed, dry.unrecoverable], [[a.storageKey], [e.storageKey], [b.storageKey]]);
        await assert.rejects(storage.getArtifact(a.storageKey), NotFoundError, 'a dry run changes nothing');
        assert.equal((await storage.getArtifact(e.storageKey)).sha256, e.sha256);

        const t1 = await pointInTimeRestore(storage, { at: moment, tenantId: 't1' });
        assert.deepEqual([t1.restored.sort(), t1.trashed, t1.unrecoverable], [[a.storageKey, c.storageKey].sort(), [e.storageKey], [b.storageKey]]);
        assert.equal(Buffer.from(await storage.download(a.storageKey)).toString(), 'a words');
        assert.equal(Buffer.from(await storage.download(c.storageKey)).toString(), 'c words');
        assert.equal(Buffer.from(await storage.download(f.storageKey)).toString(), 'f words');
        await assert.rejects(storage.getArtifact(e.storageKey), NotFoundError);
        assert.deepEqual((await storage.listTrash({ tenantId: 't1' })).items.map((i) => i.storageKey), [e.storageKey], 'nothing is destroyed: the newer artifact waits in the trash');
        await assert.rejects(storage.getArtifact(d.storageKey), NotFoundError, 'another tenant is untouched');

        // Running it again changes nothing more; all tenants brings back d.
        const again = await pointInTimeRestore(storage, { at: moment, tenantId: 't1' });
        assert.deepEqual([again.restored, again.trashed], [[], []]);
        const all = await pointInTimeRestore(storage, { at: moment });
        assert.deepEqual(all.restored, [d.storageKey]);
        assert.deepEqual((await storage.listArtifacts({ tenantId: 't1' })).items.map((i) => i.storageKey).sort(), [a.storageKey, c.storageKey, f.storageKey].sort());
        await assert.rejects(pointInTimeRestore(storage, { at: new Date(Date.now() + 60_000) }), /in the future/);
      } finally {
        await storage.close();
      }
    });

    it('sets back the visibility each artifact had at the moment, one brought back from the trash too, with a dry run first', async () => {
      const { dataDir, databaseUrl } = await database.fresh();
      const storage = await createStorageManager({ config: { data_dir: dataDir, ...(databaseUrl ? { database_url: databaseUrl } : {}), providers: { local: { type: 'local', config: { base_path: join(dataDir, 'files') } } } }, env: {} });
      try {
        const put = async (id: string, visibility: 'private' | 'public') => (await storage.storeArtifact({ artifactId: id, artifactType: 'text', contentType: 'text/plain', content: `${id} words`, visibility })).storageKey;
        const p = await put('p', 'private');   // made public after the moment
        const q = await put('q', 'public');    // made private before it, public again after it
        const r = await put('r', 'public');    // made private after it, then deleted
        const s = await put('s', 'private');   // never changed
        const t = await put('t', 'public');    // changed after it and back again: as it was
        await storage.setVisibility(q, 'private');
        await sleep(5);
        const moment = new Date();
        await sleep(5);
        await storage.setVisibility(p, 'public');
        await storage.setVisibility(q, 'public');
        await storage.setVisibility(r, 'private');
        await storage.deleteArtifact(r);
        await storage.setVisibility(t, 'private');
        await storage.setVisibility(t, 'public');
        const visibilityOf = async (key: string) => (await storage.getArtifact(key)).visibility;
        const expected = [
          { storageKey: p, from: 'public', to: 'private' },
          { storageKey: q, from: 'public', to: 'private' },
          { storageKey: r, from: 'private', to: 'public' },
        ];

        const dry = await pointInTimeRestore(storage, { at: moment, dryRun: true });
        assert.deepEqual(dry.restored, [r]);
        assert.deepEqual(dry.visibility, expected);
        assert.equal(await visibilityOf(p), 'public', 'a dry run changes nothing');

        const done = await pointInTimeRestore(storage, { at: moment });
        assert.deepEqual([done.restored, done.trashed, done.visibility], [[r], [], expected]);
        assert.deepEqual(await Promise.all([p, q, r, s, t].map(visibilityOf)), ['private', 'private', 'public', 'private', 'public']);
        const [change] = (await storage.listAudit({ tenantId: 'default', storageKey: p, limit: 1 })).items;
        assert.deepEqual([change?.action, change?.actor, change?.details], ['visibility_changed', 'restore', { visibility: 'private' }], 'the change back is audited');
        assert.deepEqual((await pointInTimeRestore(storage, { at: moment })).visibility, [], 'a second run has nothing left to change');
      } finally {
        await storage.close();
      }
    });
  });
}

describe('point-in-time restore on S3 with object ACLs', { skip: s3SkipReason ?? false }, () => {
  it('makes an artifact made private after the moment readable anonymously again, on the backend too', async () => {
    const bucket = await createTestBucket('pitr-vis');
    after(() => removeTestBucket(bucket));
    const dataDir = await tempDir('pitr-s3-vis');
    const storage = await createStorageManager({ config: { data_dir: dataDir, default_provider: 's3', providers: { s3: { type: 's3', config: s3Config(bucket, { acl: true }) } } }, env: {} });
    after(() => storage.close());
    const ref = await storage.storeArtifact({ artifactId: 'v', artifactType: 'text', contentType: 'text/plain', content: 'public words', visibility: 'public' });
    await sleep(5);
    const moment = new Date();
    await sleep(5);
    await storage.setVisibility(ref.storageKey, 'private');
    const refused = await fetch(ref.storageUrl);
    assert.equal(refused.status, 403);
    await refused.arrayBuffer();

    const report = await pointInTimeRestore(storage, { at: moment });
    assert.deepEqual(report.visibility, [{ storageKey: ref.storageKey, from: 'private', to: 'public' }]);
    const open = await fetch(ref.storageUrl);
    assert.equal(open.status, 200, 'the object ACL is public again');
    assert.equal(await open.text(), 'public words');
    assert.equal((await storage.provider('s3').getMetadata(ref.storageKey)).metadata.visibility, 'public');
    assert.equal((await storage.getArtifact(ref.storageKey)).visibility, 'public');
  });
});

describe('restore --at on the command line', () => {
  it('prints what a dry run would change as JSON', async () => {
    const cwd = await tempDir('pitr-cli');
    const storage = await createStorageManager({ config: { data_dir: join(cwd, '.boards-storage'), providers: { local: { type: 'local', config: { base_path: join(cwd, '.boards-storage', 'files') } } } }, env: {} });
    const ref = await storage.storeArtifact({ artifactId: 'x', artifactType: 'text', contentType: 'text/plain', content: 'x' });
    await sleep(5);
    const moment = new Date().toISOString();
    await sleep(5);
    await storage.deleteArtifact(ref.storageKey);
    await storage.close();
    const { stdout } = await promisify(execFile)(process.execPath, [cliPath, '--json', 'restore', '--at', moment, '--dry-run'], { cwd, env: { ...process.env, BOARDS_STORAGE_CONFIG: '' } });
    assert.deepEqual(JSON.parse(stdout), { at: moment, dryRun: true, restored: [ref.storageKey], trashed: [], unrecoverable: [], visibility: [] });
    const bad = await promisify(execFile)(process.execPath, [cliPath, 'restore', '--at', 'yesterday'], { cwd }).catch((error: { code: number; stderr: string }) => error);
    assert.equal((bad as { code: number }).code, 1);
    assert.match((bad as { stderr: string }).stderr, /--at "yesterday" is not a time/);
  });
});
