import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { CorruptionError, createStorageManager, StorageError, ValidationError } from '../../src/index.ts';
import type { StorageConfigInput } from '../../src/index.ts';
import { storedFiles, tempDir } from '../helpers.ts';
import { adminClient, createTestBucket, providerConfig, s3SkipReason } from '../s3/s3-test-server.ts';
import { testDatabases } from '../catalog/databases.ts';
import { NO_FFMPEG, decompressionBomb, ffmpegAvailable, ffmpegFile, pngImage, NO_MEDIA_LIBRARIES, sharp } from './media-files.ts';

const PRESETS = { image: [{ name: 'thumb_256', width: 256, format: 'webp' }, { name: 'preview_1024', width: 1024, format: 'webp' }], video: [{ name: 'poster', width: 160, format: 'jpeg' }] } as const;

async function localManager(extra: Partial<StorageConfigInput> = {}, dir?: string) {
  const dataDir = dir ?? await tempDir('variants');
  const files = join(dataDir, 'files');
  const storage = await createStorageManager({ config: { data_dir: dataDir, signing_secret: 'variant-test-secret-0123456789abcdef', providers: { local: { type: 'local', config: { base_path: files } } }, ...extra } as StorageConfigInput, env: {} });
  return { storage, files, dir: dataDir };
}

const folderOf = (key: string) => key.slice(0, key.lastIndexOf('/'));

describe('variants beside their original', { skip: NO_MEDIA_LIBRARIES }, () => {
  it('createVariant makes a resized WebP in the same artifact folder, linked to the original', async () => {
    const { storage, files } = await localManager();
    const original = await storage.storeArtifact({ artifactId: 'fox', artifactType: 'image', contentType: 'image/png', content: await pngImage(800, 600), boardId: 'b1', tenantId: 't1' });
    const thumb = await storage.createVariant(original.storageKey, { name: 'thumb_256', width: 256, format: 'webp', quality: 70 });
    assert.equal(thumb.storageKey, `${folderOf(original.storageKey)}/thumb_256.webp`);
    assert.equal(thumb.originalKey, original.storageKey);
    assert.equal(thumb.contentType, 'image/webp');
    assert.equal(thumb.tenantId, 't1');
    assert.equal(thumb.boardId, 'b1');
    // The bytes really are a 256x192 WebP, and the variant's own facts say so.
    const meta = await sharp(Buffer.from(await storage.download(thumb.storageKey))).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 256, 192]);
    assert.deepEqual([thumb.media?.width, thumb.media?.height], [256, 192]);
    // The original lists it; the listing shows the original only, with its variant.
    const info = await storage.getArtifact(original.storageKey);
    assert.deepEqual(info.variants, [{ name: 'thumb_256', storageKey: thumb.storageKey, contentType: 'image/webp', size: thumb.size, width: 256, height: 192 }]);
    const page = await storage.listArtifacts({ tenantId: 't1' });
    assert.deepEqual(page.items.map((a) => a.storageKey), [original.storageKey]);
    assert.equal(page.items[0]!.variants?.length, 1);
    // Variants are not counted as artifacts; their bytes are.
    const stats = await storage.getStats('t1');
    assert.equal(stats.total.count, 1);
    assert.equal(stats.total.bytes, original.size + thumb.size);
    // Asking again gives the same variant, not a new one.
    assert.equal((await storage.createVariant(original.storageKey, { name: 'thumb_256', width: 256, format: 'webp', quality: 70 })).sha256, thumb.sha256);
    assert.equal((await storedFiles(files)).filter((f) => f.includes('thumb_256')).length, 1);
    await storage.close();
  });

  it('storeVariant keeps a variant the caller made; deleting the original deletes its variants', async () => {
    const { storage, files } = await localManager();
    const original = await storage.storeArtifact({ artifactId: 'fox', artifactType: 'image', contentType: 'image/png', content: await pngImage(300, 300) });
    const own = await sharp(await pngImage(300, 300)).resize(64).webp().toBuffer();
    const stored = await storage.storeVariant(original.storageKey, 'tiny.webp', own);
    assert.equal(stored.storageKey, `${folderOf(original.storageKey)}/tiny.webp`);
    assert.equal(stored.contentType, 'image/webp');
    assert.deepEqual(Buffer.from(await storage.download(stored.storageKey)), own);
    // AVIF made here is kept even though callers may not store image/avif (not in allowed_content_types).
    const avif = await storage.createVariant(original.storageKey, { name: 'thumb', width: 100, format: 'avif' });
    assert.equal((await sharp(Buffer.from(await storage.download(avif.storageKey))).metadata()).compression, 'av1');
    await assert.rejects(storage.storeVariant(original.storageKey, 'tiny.webp', own), (e: unknown) => e instanceof StorageError && e.code === 'CONFLICT');
    await assert.rejects(storage.storeVariant(original.storageKey, 'original.png', own), ValidationError);
    await assert.rejects(storage.storeVariant(original.storageKey, '../escape.png', own), /name may contain only/);
    assert.equal((await storedFiles(files)).length, 3);
    assert.equal(await storage.deleteArtifact(original.storageKey), true);
    // The original waits in the trash (its file stays until the purge); its variants are gone for good.
    assert.deepEqual(await storedFiles(files), [original.storageKey]);
    assert.equal(await storage.exists(stored.storageKey), false);
    assert.deepEqual((await storage.listTrash()).items.map((i) => i.storageKey), [original.storageKey]);
    const restored = await storage.undelete(original.storageKey);
    assert.equal(restored.variants, undefined);
    // Without a trash, everything goes at once.
    await storage.createVariant(original.storageKey, { name: 'thumb', width: 100 });
    assert.equal(await storage.deleteArtifact(original.storageKey, undefined, { permanent: true }), true);
    assert.deepEqual(await storedFiles(files), []);
    await storage.close();
  });

  it('presets are made in the background after a store, once, and on demand before that', async () => {
    const { storage } = await localManager({ variants: PRESETS });
    const first = await storage.storeArtifact({ artifactId: 'a', artifactType: 'image', contentType: 'image/png', content: await pngImage(2000, 1000) });
    // On demand: made now, before the queue gets to it.
    const onDemand = await storage.getVariant(first.storageKey, 'preview_1024');
    assert.equal(onDemand.media?.width, 1024);
    const report = await storage.flushVariants();
    // The background pass may have run already; together they made each preset once.
    const jobs = await storage.catalog.variantJobsOf(first.storageKey);
    assert.deepEqual(jobs.map((j) => [j.name, j.status]), [['preview_1024', 'done'], ['thumb_256', 'done']]);
    const info = await storage.getArtifact(first.storageKey);
    assert.deepEqual(info.variants?.map((v) => [v.name, v.width, v.height]), [['preview_1024', 1024, 512], ['thumb_256', 256, 128]]);
    assert.equal(report.failed.length, 0);
    // A second pass finds nothing to do: a job runs once.
    assert.deepEqual(await storage.flushVariants(), { made: 0, skipped: [], failed: [] });
    // Types without presets queue nothing.
    const text = await storage.storeArtifact({ artifactId: 'n', artifactType: 'text', contentType: 'text/plain', content: Buffer.from('x') });
    assert.deepEqual(await storage.catalog.variantJobsOf(text.storageKey), []);
    await assert.rejects(storage.getVariant(first.storageKey, 'nope'), /no variant nope/);
    await storage.close();
  });

  it('a job survives a crash: claimed by a worker that died, it runs when the lease ends, and once', async () => {
    const config = { variants: { image: [PRESETS.image[0]] }, media: { background_variants: false } };
    const { storage, dir } = await localManager(config);
    const original = await storage.storeArtifact({ artifactId: 'a', artifactType: 'image', contentType: 'image/png', content: await pngImage(600, 600) });
    // The job is in the catalog with the record; a worker takes it (its lease) and dies before finishing.
    assert.deepEqual((await storage.catalog.variantJobsOf(original.storageKey)).map((j) => j.status), ['pending']);
    assert.equal((await storage.catalog.claimVariantJobs(new Date(), 10, 10 * 60_000)).length, 1);
    await storage.close();
    const { storage: restarted } = await localManager(config, dir);
    // Still leased by the dead worker: not taken again now...
    assert.equal((await restarted.flushVariants()).made, 0);
    // ...but once its lease has passed.
    assert.equal((await restarted.flushVariants({ now: () => new Date(Date.now() + 20 * 60_000) })).made, 1);
    assert.equal((await restarted.flushVariants({ now: () => new Date(Date.now() + 40 * 60_000) })).made, 0);
    assert.deepEqual((await restarted.catalog.variantJobsOf(original.storageKey)).map((j) => j.status), ['done']);
    assert.equal((await restarted.getArtifact(original.storageKey)).variants?.[0]?.name, 'thumb_256');
    await restarted.close();
  });

  it('refuses a decompression bomb before decoding it, and a background job for it is skipped, not retried', async () => {
    const { storage } = await localManager({ variants: { image: [PRESETS.image[0]] }, transforms: { max_pixels: 50_000_000 } });
    const bomb = await decompressionBomb(100_000, 100_000);
    const ref = await storage.storeArtifact({ artifactId: 'bomb', artifactType: 'image', contentType: 'image/png', content: bomb });
    assert.deepEqual([ref.media?.width, ref.media?.height], [100_000, 100_000]);
    assert.equal(ref.placeholder, undefined);
    const before = process.memoryUsage().rss;
    await assert.rejects(storage.createVariant(ref.storageKey, { name: 'x', width: 64 }), (e: unknown) => e instanceof ValidationError && e.code === 'MEDIA_TOO_LARGE' && e.status === 422);
    assert.ok(process.memoryUsage().rss - before < 100 * 1024 * 1024, 'nothing was decoded');
    const report = await storage.flushVariants();
    const jobs = await storage.catalog.variantJobsOf(ref.storageKey);
    assert.equal(jobs[0]!.status, 'skipped');
    assert.match(jobs[0]!.lastError ?? '', /transforms\.max_pixels/);
    assert.equal(report.failed.length, 0);
    await storage.close();
  });
});

describe('the original a variant is made from is checked against its SHA-256', { skip: NO_MEDIA_LIBRARIES }, () => {
  it('local: sharp decodes the file while it is hashed; a corrupt original is refused, counted and not transformed', async () => {
    const { storage, files } = await localManager();
    const original = await storage.storeArtifact({ artifactId: 'fox', artifactType: 'image', contentType: 'image/png', content: await pngImage(640, 480) });
    const good = await storage.createVariant(original.storageKey, { name: 'thumb_256', width: 256 });
    assert.deepEqual([good.media?.width, good.media?.height], [256, 192]);
    // The last byte is the IEND chunk's CRC, which decoders do not need: sharp alone would make a
    // thumbnail of this file; the hash must refuse it.
    const path = join(files, original.storageKey);
    const bytes = await readFile(path);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    await writeFile(path, bytes);
    assert.equal((await sharp(path).resize(64).webp().toBuffer({ resolveWithObject: true })).info.width, 64, 'the corrupt file still decodes');
    await assert.rejects(storage.createVariant(original.storageKey, { name: 'thumb_128', width: 128 }), (e: unknown) => e instanceof CorruptionError && e.details.storageKey === original.storageKey);
    assert.equal((await storage.metrics()).integrity.corruptions.local, 1);
    assert.deepEqual((await storage.getArtifact(original.storageKey)).variants?.map((v) => v.name), ['thumb_256']);
    assert.deepEqual((await storedFiles(files)).filter((f) => f.includes('thumb_128')), []);
    await storage.close();
  });

  it('S3: the original streams into one buffer of its recorded size, verified as it is read', { skip: s3SkipReason }, async () => {
    const bucket = await createTestBucket('variants');
    const dir = await tempDir('variants-s3');
    const storage = await createStorageManager({ config: { data_dir: dir, default_provider: 's3', providers: { s3: { type: 's3', config: providerConfig(bucket) as unknown as Record<string, unknown> } } }, env: {} });
    try {
      const original = await storage.storeArtifact({ artifactId: 'fox', artifactType: 'image', contentType: 'image/png', content: await pngImage(640, 480) });
      const thumb = await storage.createVariant(original.storageKey, { name: 'thumb_256', width: 256 });
      assert.equal(thumb.storageProvider, 's3');
      const meta = await sharp(Buffer.from(await storage.download(thumb.storageKey))).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 256, 192]);
      // The same bytes but the last one, behind the manager's back: the read fails its check.
      const bytes = Buffer.from(await storage.download(original.storageKey));
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
      await adminClient().send(new PutObjectCommand({ Bucket: bucket, Key: original.storageKey, Body: bytes, ContentType: 'image/png' }));
      await assert.rejects(storage.createVariant(original.storageKey, { name: 'thumb_128', width: 128 }), CorruptionError);
      assert.equal((await storage.metrics()).integrity.corruptions.s3, 1);
      assert.deepEqual((await storage.getArtifact(original.storageKey)).variants?.map((v) => v.name), ['thumb_256']);
    } finally {
      await storage.close();
    }
  });
});

describe('video poster frames', { skip: NO_MEDIA_LIBRARIES }, async () => {
  const ffmpeg = await ffmpegAvailable();
  if (!ffmpeg) console.warn(NO_FFMPEG);
  const dir = await tempDir('poster-files');

  it('makes a JPEG poster of an MP4 with ffmpeg, beside the video', { skip: !ffmpeg && NO_FFMPEG }, async () => {
    const { storage } = await localManager({ variants: PRESETS });
    const video = await storage.storeArtifact({ artifactId: 'clip', artifactType: 'video', contentType: 'video/mp4', content: await ffmpegFile(dir, 'mp4') });
    const report = await storage.flushVariants();
    assert.equal(report.failed.length, 0);
    const info = await storage.getArtifact(video.storageKey);
    assert.deepEqual(info.variants?.map((v) => [v.name, v.contentType, v.width, v.height]), [['poster', 'image/jpeg', 160, 120]]);
    const meta = await sharp(Buffer.from(await storage.download(info.variants![0]!.storageKey))).metadata();
    assert.equal(meta.format, 'jpeg');
    await storage.close();
  });

  it('without ffmpeg, video variants are skipped with a clear message, not an error', async () => {
    const { storage } = await localManager({ variants: PRESETS, media: { ffmpeg_path: '/nonexistent/ffmpeg' } });
    // Bytes that look like an MP4 are enough: ffmpeg is never reached.
    const mp4 = ffmpeg ? await ffmpegFile(dir, 'mp4') : Buffer.concat([Buffer.from([0, 0, 0, 16]), Buffer.from('ftypisom'), Buffer.alloc(4)]);
    const video = await storage.storeArtifact({ artifactId: 'clip', artifactType: 'video', contentType: 'video/mp4', content: mp4 });
    const report = await storage.flushVariants();
    assert.equal(report.failed.length, 0);
    const jobs = await storage.catalog.variantJobsOf(video.storageKey);
    assert.equal(jobs[0]!.status, 'skipped');
    assert.match(jobs[0]!.lastError ?? '', /need ffmpeg.*not on PATH/);
    assert.equal((await storage.getArtifact(video.storageKey)).variants, undefined);
    await assert.rejects(storage.getVariant(video.storageKey, 'poster'), (e: unknown) => e instanceof StorageError && e.code === 'NOT_SUPPORTED');
    await storage.close();
  });
});

for (const database of testDatabases) {
  describe(`variants in the ${database.name} catalog`, { skip: NO_MEDIA_LIBRARIES }, () => {
    it('queues presets with the record, makes each once, lists originals only and deletes variants with them', async () => {
      const { databaseUrl, dataDir } = await database.fresh();
      const { storage, files } = await localManager({ variants: PRESETS, media: { background_variants: false }, ...(databaseUrl ? { database_url: databaseUrl } : {}) }, dataDir);
      const refs: { storageKey: string }[] = [];
      for (let i = 0; i < 3; i++) refs.push(await storage.storeArtifact({ artifactId: `img${i}`, artifactType: 'image', contentType: 'image/png', content: await pngImage(400, 300), tenantId: 'pg' }));
      const report = await storage.flushVariants();
      assert.equal(report.made, 6);
      assert.equal((await storage.flushVariants()).made, 0);
      const page = await storage.listArtifacts({ tenantId: 'pg', limit: 2 });
      assert.equal(page.items.length, 2);
      assert.deepEqual(page.items.map((i) => i.variants?.map((v) => v.name)), [['preview_1024', 'thumb_256'], ['preview_1024', 'thumb_256']]);
      const rest = await storage.listArtifacts({ tenantId: 'pg', cursor: page.nextCursor! });
      assert.deepEqual(rest.items.map((i) => i.storageKey), [refs[2]!.storageKey]);
      assert.equal((await storage.getStats('pg')).total.count, 3);
      assert.equal(await storage.deleteArtifact(refs[0]!.storageKey, undefined, { permanent: true }), true);
      assert.equal((await storedFiles(files)).filter((f) => f.startsWith(folderOf(refs[0]!.storageKey))).length, 0);
      await storage.close();
    });

    it('refuses an image whose header declares too many pixels, read from its bytes when no facts were recorded', async () => {
      const { databaseUrl, dataDir } = await database.fresh();
      const { storage } = await localManager({ media: { analyze: false }, ...(databaseUrl ? { database_url: databaseUrl } : {}) }, dataDir);
      const ref = await storage.storeArtifact({ artifactId: 'bomb', artifactType: 'image', contentType: 'image/png', content: await decompressionBomb(60_000, 60_000) });
      assert.equal(ref.media, undefined);
      await assert.rejects(storage.createVariant(ref.storageKey, { name: 'x', width: 64 }), (e: unknown) => e instanceof ValidationError && e.code === 'MEDIA_TOO_LARGE' && /declares 60000x60000 pixels/.test(e.message));
      await storage.close();
    });
  });
}
