import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CorruptionError, createStorageManager } from '../../src/index.ts';
import { SwitchBatch } from '../../src/operations/switch-batch.ts';
import { S3Provider } from '../../src/providers/s3.ts';
import { testDatabases } from '../catalog/databases.ts';
import { createTestBucket, providerConfig as s3Config, removeTestBucket, s3SkipReason } from '../s3/s3-test-server.ts';

describe('a migration switches its rows in batches', () => {
  for (const database of testDatabases) it(`switchItems on ${database.name}: one transaction switches the rows still on the source with the verified checksum (live or in the trash), marks and audits them, and leaves the rest`, async () => {
    const { databaseUrl, dataDir } = await database.fresh();
    const storage = await createStorageManager({
      config: {
        data_dir: dataDir, ...(databaseUrl ? { database_url: databaseUrl } : {}), default_provider: 'local',
        providers: { local: { type: 'local', config: { base_path: join(dataDir, 'files') } }, archive: { type: 'local', config: { base_path: join(dataDir, 'archive') } } },
      },
      env: {},
    });
    try {
      const refs = [];
      for (let i = 0; i < 5; i++) refs.push(await storage.storeArtifact({ artifactId: `a${i}`, artifactType: 'text', contentType: 'text/plain', content: Buffer.from(`artifact ${i}`), tenantId: 't1' }));
      const records = storage.catalog.migrations;
      const now = new Date().toISOString();
      await records.create({ id: 'mig_batch', from_provider: 'local', to_provider: 'archive', filters: '{}', concurrency: 1, status: 'running', planned: 1, owner: null, heartbeat_at: now, created_at: now });
      await records.addItems('mig_batch', refs.map((r) => ({ storageKey: r.storageKey, size: r.size })));
      const [live, gone, trashed, changed, last] = refs as [typeof refs[0], typeof refs[0], typeof refs[0], typeof refs[0], typeof refs[0]];
      await storage.deleteArtifact(gone.storageKey, undefined, { permanent: true });
      await storage.deleteArtifact(trashed.storageKey);

      const switched = await records.switchItems('mig_batch', [
        { storageKey: live.storageKey, sha256: live.sha256 },
        { storageKey: gone.storageKey, sha256: gone.sha256 },
        { storageKey: trashed.storageKey, sha256: trashed.sha256 },
        { storageKey: changed.storageKey, sha256: '0'.repeat(64) },
        { storageKey: last.storageKey, sha256: last.sha256 },
      ], 'local', 'archive', 'switched', 'tester');

      assert.deepEqual(switched, [true, false, true, false, true]);
      assert.equal((await records.providerOf(live.storageKey))?.provider, 'archive');
      assert.equal(await records.providerOf(gone.storageKey), undefined, 'a deleted artifact is not brought back');
      assert.deepEqual(await records.providerOf(trashed.storageKey).then((r) => [r?.provider, r?.trashed]), ['archive', true]);
      assert.equal((await records.providerOf(changed.storageKey))?.provider, 'local', 'a row whose checksum is not the verified one stays');
      assert.equal((await records.providerOf(last.storageKey))?.provider, 'archive');
      const states = new Map((await records.items('mig_batch', ['pending', 'switched'], '', 10)).map((i) => [i.storage_key, i.state]));
      assert.deepEqual([live, gone, trashed, changed, last].map((r) => states.get(r.storageKey)), ['switched', 'pending', 'switched', 'pending', 'switched']);
      for (const ref of [live, trashed, last]) {
        const moved = (await storage.catalog.auditTrail(ref.storageKey)).filter((e) => e.action === 'moved');
        assert.deepEqual(moved.map((e) => [e.actor, e.details]), [['tester', { provider: 'archive', from: 'local', migration: 'mig_batch' }]], ref.storageKey);
      }
      assert.equal((await storage.catalog.auditTrail(changed.storageKey)).filter((e) => e.action === 'moved').length, 0);
      assert.deepEqual(await records.switchItems('mig_batch', [], 'local', 'archive', 'switched', 'tester'), []);
    } finally {
      await storage.close();
    }
  });

  it('SwitchBatch commits a full batch at once, a partial one after the delay, holds producers back while a batch is full, and fails only the batch whose commit failed', async () => {
    const commits: number[][] = [];
    let failNext = false;
    const batch = new SwitchBatch<number, string>(async (items) => {
      await sleep(20);
      if (failNext) {
        failNext = false;
        throw new Error('catalog unavailable');
      }
      commits.push(items);
      return items.map((i) => `ok ${i}`);
    }, { size: 3, delayMs: 100 });

    const full = [1, 2, 3].map((i) => batch.add(i));
    assert.deepEqual(await Promise.all(full), ['ok 1', 'ok 2', 'ok 3']);
    assert.deepEqual(commits, [[1, 2, 3]]);

    const started = performance.now();
    assert.equal(await batch.add(4), 'ok 4');
    assert.ok(performance.now() - started >= 95, 'a partial batch waits for the delay');
    assert.deepEqual(commits.at(-1), [4]);

    failNext = true;
    const failing = [5, 6, 7].map((i) => batch.add(i).catch((error: Error) => error.message));
    const next = batch.add(8);
    await batch.room();
    assert.deepEqual(await Promise.all(failing), ['catalog unavailable', 'catalog unavailable', 'catalog unavailable']);
    await batch.drain();
    assert.equal(await next, 'ok 8', 'the batch after a failed one commits');
    assert.deepEqual(commits.at(-1), [8]);

    // Producers that wait for room never let more than a batch queue up.
    const produced: Promise<string>[] = [];
    for (let i = 10; i < 20; i++) {
      produced.push(batch.add(i));
      await batch.room();
    }
    await batch.drain();
    assert.equal((await Promise.all(produced)).length, 10);
    assert.ok(commits.slice(-4).every((c) => c.length <= 3));
    assert.deepEqual(commits.slice(-4).flat(), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  });
});

async function* once(bytes: Buffer): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('a copy to S3 is signed with the SHA-256 the migration already checked', { skip: s3SkipReason }, () => {
  it('sends the given SHA-256 as the signed payload hash (the gateway checks the body against it; the SDK does not hash it again), and only when the payload is signed', async () => {
    const bucket = await createTestBucket('migrate-payload-hash');
    after(() => removeTestBucket(bucket));
    const signed = new S3Provider(s3Config(bucket, { sign_payload: true }));
    const unsigned = new S3Provider(s3Config(bucket, { sign_payload: false }));
    after(() => Promise.all([signed.close?.(), unsigned.close?.()]));
    const bytes = randomBytes(64 * 1024);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const other = createHash('sha256').update('other bytes').digest('hex');
    const options = (hash: string) => ({ contentType: 'application/octet-stream', size: bytes.length, metadata: {}, sha256: hash });

    // Told the wrong hash, the gateway refuses the body: so the hash sent is the one given, not one computed from the bytes.
    await assert.rejects(signed.upload('t/wrong.bin', once(bytes), options(other)), CorruptionError);
    assert.equal(await signed.exists('t/wrong.bin'), false);
    const stored = await signed.upload('t/right.bin', once(bytes), options(sha256));
    // The gateway was shown to refuse a mismatch (the provider's probe), so its acceptance is the checksum.
    assert.deepEqual(stored.backendChecksum, { algorithm: 'sha256', value: sha256 });
    assert.deepEqual(await readAll(await signed.openDownload('t/right.bin')), bytes);
    // Without a given hash, the ETag vouches for the bytes.
    const plain = await signed.upload('t/plain.bin', once(bytes), { contentType: 'application/octet-stream', size: bytes.length, metadata: {} });
    assert.deepEqual(plain.backendChecksum, { algorithm: 'md5', value: createHash('md5').update(bytes).digest('hex') });
    // Unsigned (sign_payload: false), nothing is sent for the gateway to check: the ETag is what vouches for the copy.
    const unsignedCopy = await unsigned.upload('t/unsigned.bin', once(bytes), options(other));
    assert.equal(await unsigned.exists('t/unsigned.bin'), true);
    assert.deepEqual(unsignedCopy.backendChecksum, { algorithm: 'md5', value: createHash('md5').update(bytes).digest('hex') });
    // The probe left nothing in the bucket.
    assert.deepEqual((await signed.list('')).items.map((i) => i.key).sort(), ['t/plain.bin', 't/right.bin', 't/unsigned.bin']);
  });
});
