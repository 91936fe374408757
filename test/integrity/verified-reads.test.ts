import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptionError, createStorageManager } from '../../src/index.ts';
import type { StorageConfigInput } from '../../src/index.ts';
import type { StorageManager } from '../../src/manager/storage-manager.ts';
import { tempDir } from '../helpers.ts';

/**
 * Verified reads on the local provider, against a real disk: a stored file is changed behind the
 * manager's back (one byte flipped, or cut short) and every whole read must notice.
 */

async function flipByte(path: string, at: number): Promise<void> {
  const bytes = await readFile(path);
  bytes[at] = bytes[at]! ^ 0xff;
  await writeFile(path, bytes);
}

async function open(extra: Partial<StorageConfigInput> = {}, local: Record<string, unknown> = {}): Promise<{ storage: StorageManager; dir: string }> {
  const dir = await tempDir('verified-reads');
  const storage = await createStorageManager({
    config: { data_dir: dir, signing_secret: 's'.repeat(32), providers: { local: { type: 'local', config: { base_path: join(dir, 'files') }, ...local } }, ...extra },
    env: {},
  });
  return { storage, dir };
}

async function readStream(stream: AsyncIterable<unknown>): Promise<{ bytes: number; error?: unknown }> {
  let bytes = 0;
  try {
    for await (const chunk of stream) bytes += (chunk as Buffer).length;
    return { bytes };
  } catch (error) {
    return { bytes, error };
  }
}

describe('verified reads (local disk)', () => {
  it('download rejects and openDownload errors before its end when one byte of the file changed', async () => {
    const { storage, dir } = await open();
    try {
      const content = randomBytes(3 * 1024 * 1024);
      const ref = await storage.storeArtifact({ artifactId: 'w', artifactType: 'model', contentType: 'application/octet-stream', content });
      assert.ok(Buffer.from(await storage.download(ref.storageKey)).equals(content), 'intact: the bytes come back');
      await flipByte(join(dir, 'files', ref.storageKey), 1_000_000);

      await assert.rejects(storage.download(ref.storageKey), (error: unknown) => {
        assert.ok(error instanceof CorruptionError);
        assert.equal(error.code, 'CORRUPTION');
        assert.equal(error.details.storageKey, ref.storageKey);
        return true;
      });
      const read = await readStream(await storage.openDownload(ref.storageKey));
      assert.ok(read.error instanceof CorruptionError, 'the stream errors');
      assert.ok(read.bytes < content.length, `the consumer never gets every byte (got ${read.bytes} of ${content.length})`);

      // A range cannot be checked: it is served as stored.
      const part = await readStream(await storage.openDownload(ref.storageKey, { start: 0, end: 99 }));
      assert.equal(part.error, undefined);
      assert.equal(part.bytes, 100);

      const figures = await storage.metrics();
      assert.equal(figures.integrity.corruptions.local, 2);
      const trail = await storage.catalog.auditTrail(ref.storageKey);
      assert.equal(trail.filter((e) => e.action === 'corruption_detected').length, 2);
    } finally {
      await storage.close();
    }
  });

  it('a file cut short or grown is corrupt too', async () => {
    const { storage, dir } = await open();
    try {
      const content = randomBytes(200_000);
      const short = await storage.storeArtifact({ artifactId: 's', artifactType: 'model', contentType: 'application/octet-stream', content });
      const long = await storage.storeArtifact({ artifactId: 'l', artifactType: 'model', contentType: 'application/octet-stream', content });
      await truncate(join(dir, 'files', short.storageKey), 150_000);
      await writeFile(join(dir, 'files', long.storageKey), Buffer.concat([content, Buffer.from('x')]));
      await assert.rejects(storage.download(short.storageKey), CorruptionError);
      await assert.rejects(storage.download(long.storageKey), CorruptionError);
    } finally {
      await storage.close();
    }
  });

  it('verify_reads: false turns the check off for that provider', async () => {
    const { storage, dir } = await open({}, { verify_reads: false });
    try {
      const ref = await storage.storeArtifact({ artifactId: 'u', artifactType: 'text', contentType: 'text/plain', content: 'unchecked words' });
      const file = join(dir, 'files', ref.storageKey);
      await writeFile(file, 'UNCHECKED WORDS');
      assert.equal(Buffer.from(await storage.download(ref.storageKey)).toString(), 'UNCHECKED WORDS');
      assert.equal((await storage.metrics()).integrity.corruptions.local, undefined);
    } finally {
      await storage.close();
    }
  });
});

describe('read repair from a mirror (local disk)', () => {
  it('after a corrupt read the next read is served from the mirror, and the primary copy is restored', async () => {
    const dir = await tempDir('read-repair');
    const storage = await createStorageManager({
      config: {
        data_dir: dir, signing_secret: 's'.repeat(32), default_provider: 'primary',
        providers: {
          primary: { type: 'local', config: { base_path: join(dir, 'primary') }, mirrors: ['mirror'] },
          mirror: { type: 'local', config: { base_path: join(dir, 'mirror') } },
        },
      },
      env: {},
    });
    try {
      const content = randomBytes(1024 * 1024);
      const ref = await storage.storeArtifact({ artifactId: 'r', artifactType: 'model', contentType: 'application/octet-stream', content });
      await storage.flushMirrors();
      const primaryFile = join(dir, 'primary', ref.storageKey);
      await flipByte(primaryFile, 12345);

      await assert.rejects(storage.download(ref.storageKey), CorruptionError);
      // The next read, while the repair may still be under way, is the mirror's good copy.
      assert.ok(Buffer.from(await storage.download(ref.storageKey)).equals(content));
      await storage.integrity.settled();
      assert.ok((await readFile(primaryFile)).equals(content), 'the primary copy on disk is restored');
      assert.ok(Buffer.from(await storage.download(ref.storageKey)).equals(content));
      const figures = (await storage.metrics()).integrity;
      assert.deepEqual(figures.corruptions, { primary: 1 });
      assert.deepEqual(figures.repairs, { primary: 1 });
      const actions = (await storage.catalog.auditTrail(ref.storageKey)).map((e) => e.action);
      assert.ok(actions.includes('corruption_detected') && actions.includes('repaired'), actions.join(', '));
    } finally {
      await storage.close();
    }
  });

  it('a corrupt primary without a good copy stays corrupt: every read fails, the repair is reported as failed', async () => {
    const dir = await tempDir('read-repair-none');
    const storage = await createStorageManager({ config: { data_dir: dir, signing_secret: 's'.repeat(32), providers: { local: { type: 'local', config: { base_path: join(dir, 'files') } } } }, env: {} });
    const events: string[] = [];
    storage.integrity.onEvent((event) => events.push(event.type));
    try {
      const ref = await storage.storeArtifact({ artifactId: 'n', artifactType: 'text', contentType: 'text/plain', content: 'only copy' });
      await writeFile(join(dir, 'files', ref.storageKey), 'ONLY COPY');
      await assert.rejects(storage.download(ref.storageKey), CorruptionError);
      await storage.integrity.settled();
      await assert.rejects(storage.download(ref.storageKey), CorruptionError);
      await storage.integrity.settled();
      assert.deepEqual(events, ['corruption', 'repair_failed', 'corruption', 'repair_failed']);
    } finally {
      await storage.close();
    }
  });
});
