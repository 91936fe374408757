import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { createStorageManager, ValidationError } from '../../src/index.ts';
import type { StorageConfigInput } from '../../src/index.ts';
import { storedFiles, tempDir } from '../helpers.ts';
import { NO_FFMPEG, animatedImage, ffmpegAvailable, ffmpegFile, jpegImage, pngImage, NO_MEDIA_LIBRARIES } from './media-files.ts';

async function localManager(extra: Partial<StorageConfigInput> = {}) {
  const dir = await tempDir('media');
  const files = join(dir, 'files');
  const storage = await createStorageManager({ config: { data_dir: dir, signing_secret: 'media-test-secret-0123456789abcdef', providers: { local: { type: 'local', config: { base_path: files } } }, ...extra }, env: {} });
  return { storage, files, dir };
}

describe('media facts read from the bytes at store time', { skip: NO_MEDIA_LIBRARIES }, () => {
  it('records an image\'s width, height, format and a ThumbHash placeholder in the reference and the catalog', async () => {
    const { storage } = await localManager();
    const png = await pngImage(300, 200);
    const ref = await storage.storeArtifact({ artifactId: 'fox', artifactType: 'image', contentType: 'image/png', content: png });
    assert.deepEqual(ref.media, { width: 300, height: 200, format: 'png', animated: false });
    assert.ok(ref.placeholder, 'an image has a placeholder');
    assert.ok(Buffer.byteLength(ref.placeholder) < 40, `placeholder ${ref.placeholder} is under 40 bytes`);
    // It is a real ThumbHash of this image: it knows the 3:2 aspect ratio.
    const { thumbHashToApproximateAspectRatio } = await import('thumbhash');
    const ratio = thumbHashToApproximateAspectRatio(Buffer.from(ref.placeholder, 'base64'));
    assert.ok(Math.abs(ratio - 1.5) < 0.15, `aspect ratio ${ratio}`);
    const again = await storage.getArtifact(ref.storageKey);
    assert.deepEqual(again.media, ref.media);
    assert.equal(again.placeholder, ref.placeholder);
    await storage.close();
  });

  it('reads facts from a one-shot stream as it passes, and from JPEG', async () => {
    const { storage } = await localManager();
    const jpeg = await jpegImage(640, 360);
    // Chunks of 1000 bytes: the facts come from the stream, not from a buffer the caller gave.
    const chunks = Array.from({ length: Math.ceil(jpeg.length / 1000) }, (_, i) => jpeg.subarray(i * 1000, (i + 1) * 1000));
    const ref = await storage.storeArtifact({ artifactId: 'shot', artifactType: 'image', contentType: 'image/jpeg', content: Readable.from(chunks) });
    assert.equal(ref.media?.width, 640);
    assert.equal(ref.media?.height, 360);
    assert.equal(ref.media?.format, 'jpeg');
    assert.ok(ref.placeholder);
    await storage.close();
  });

  it('tells animated images from still ones (WebP and GIF)', async () => {
    const { storage } = await localManager();
    for (const format of ['webp', 'gif'] as const) {
      const ref = await storage.storeArtifact({ artifactId: `anim-${format}`, artifactType: 'image', contentType: `image/${format}`, content: await animatedImage(format, 5) });
      assert.equal(ref.media?.animated, true, format);
      assert.equal(ref.media?.width, 32);
      assert.equal(ref.media?.height, 32, `${format}: the height of one frame`);
    }
    await storage.close();
  });

  it('images larger than media.analysis_max_bytes get their header facts but no placeholder', async () => {
    const { storage } = await localManager({ media: { analysis_max_bytes: 1024 } });
    const png = await pngImage(400, 300);
    assert.ok(png.length > 1024);
    const ref = await storage.storeArtifact({ artifactId: 'big', artifactType: 'image', contentType: 'image/png', content: png });
    assert.equal(ref.media?.width, 400);
    assert.equal(ref.media?.height, 300);
    assert.equal(ref.placeholder, undefined);
    await storage.close();
  });

  it('corrects facts the caller got wrong (default) and logs both values in the audit trail', async () => {
    const { storage } = await localManager();
    const png = await pngImage(1, 1);
    const ref = await storage.storeArtifact({ artifactId: 'tiny', artifactType: 'image', contentType: 'image/png', content: png, metadata: { width: 1024, height: 1024, prompt: 'a dot' }, actor: 'user-1' });
    assert.deepEqual(ref.metadata, { width: 1, height: 1, prompt: 'a dot' });
    assert.equal(ref.media?.width, 1);
    const trail = await storage.catalog.auditTrail(ref.storageKey);
    const corrected = trail.find((e) => e.action === 'media_corrected');
    assert.ok(corrected, 'a media_corrected entry');
    assert.deepEqual(corrected.details, { corrections: [{ field: 'width', given: 1024, measured: 1 }, { field: 'height', given: 1024, measured: 1 }] });
    assert.equal(corrected.actor, 'user-1');
    // Facts that agree are not a correction.
    const fine = await storage.storeArtifact({ artifactId: 'fine', artifactType: 'image', contentType: 'image/png', content: png, media: { width: 1, height: 1 } });
    assert.ok(!(await storage.catalog.auditTrail(fine.storageKey)).some((e) => e.action === 'media_corrected'));
    await storage.close();
  });

  it('refuses disagreeing facts when media.caller_facts is refuse, leaving nothing behind', async () => {
    const { storage, files } = await localManager({ media: { caller_facts: 'refuse' } });
    const png = await pngImage(64, 64);
    await assert.rejects(
      storage.storeArtifact({ artifactId: 'liar', artifactType: 'image', contentType: 'image/png', content: png, media: { width: 1024 } }),
      (error: unknown) => error instanceof ValidationError && error.code === 'MEDIA_MISMATCH' && error.status === 422 && /width: given 1024, the bytes say 64/.test(error.message),
    );
    assert.deepEqual(await storedFiles(files), []);
    assert.deepEqual((await storage.listArtifacts()).items, []);
    await storage.close();
  });

  it('gives no media facts to content that is not media', async () => {
    const { storage } = await localManager();
    const ref = await storage.storeArtifact({ artifactId: 'notes', artifactType: 'text', contentType: 'text/plain', content: Buffer.from('hello') });
    assert.equal(ref.media, undefined);
    assert.equal(ref.placeholder, undefined);
    assert.equal('media' in (await storage.getArtifact(ref.storageKey)), false);
    await storage.close();
  });

  it('records no facts (and stores anyway) for bytes that only start like an image', async () => {
    const { storage } = await localManager();
    const png = await pngImage(50, 40);
    const cut = png.subarray(0, 40); // the signature and IHDR, nothing after
    const ref = await storage.storeArtifact({ artifactId: 'cut', artifactType: 'image', contentType: 'image/png', content: cut });
    assert.equal(ref.size, 40);
    // The header still says 50x40; there is nothing to make a placeholder from.
    assert.equal(ref.media?.width, 50);
    assert.equal(ref.placeholder, undefined);
    await storage.close();
  });
});

describe('audio and video facts (files made by ffmpeg)', { skip: NO_MEDIA_LIBRARIES }, async () => {
  const ffmpeg = await ffmpegAvailable();
  if (!ffmpeg) console.warn(NO_FFMPEG);
  const dir = await tempDir('media-files');

  it('WAV: duration, sample rate, channels, codec', { skip: !ffmpeg && NO_FFMPEG }, async () => {
    const { storage } = await localManager();
    const ref = await storage.storeArtifact({ artifactId: 'tone', artifactType: 'audio', contentType: 'audio/wav', content: await ffmpegFile(dir, 'wav') });
    assert.deepEqual(ref.media, { format: 'wav', durationMs: 1500, sampleRate: 22050, channels: 2, codec: 'PCM' });
    await storage.close();
  });

  it('MP3: duration, sample rate, channels, codec', { skip: !ffmpeg && NO_FFMPEG }, async () => {
    const { storage } = await localManager();
    const ref = await storage.storeArtifact({ artifactId: 'tone', artifactType: 'audio', contentType: 'audio/mpeg', content: Readable.from([await ffmpegFile(dir, 'mp3')]) });
    assert.equal(ref.media?.format, 'mp3');
    assert.equal(ref.media?.sampleRate, 44100);
    assert.equal(ref.media?.channels, 1);
    assert.match(ref.media?.codec ?? '', /MPEG 1 Layer 3/);
    assert.ok(Math.abs(ref.media!.durationMs! - 1500) < 100, `duration ${ref.media?.durationMs}`);
    await storage.close();
  });

  it('MP4: width, height, duration, codec (the index at the end of the file)', { skip: !ffmpeg && NO_FFMPEG }, async () => {
    const { storage } = await localManager();
    const mp4 = await ffmpegFile(dir, 'mp4');
    const chunks = Array.from({ length: Math.ceil(mp4.length / 512) }, (_, i) => mp4.subarray(i * 512, (i + 1) * 512));
    const ref = await storage.storeArtifact({ artifactId: 'clip', artifactType: 'video', contentType: 'video/mp4', content: Readable.from(chunks) });
    assert.deepEqual({ ...ref.media, codec: ref.media?.codec?.split('.')[0] }, { width: 320, height: 240, format: 'mp4', durationMs: 1000, codec: 'avc1' });
    await storage.close();
  });

  it('WebM: width, height, duration, codec', { skip: !ffmpeg && NO_FFMPEG }, async () => {
    const { storage } = await localManager();
    const ref = await storage.storeArtifact({ artifactId: 'clip', artifactType: 'video', contentType: 'video/webm', content: await ffmpegFile(dir, 'webm') });
    assert.deepEqual(ref.media, { width: 160, height: 120, format: 'webm', durationMs: 2000, codec: 'VP8' });
    await storage.close();
  });

  it('corrects a wrong duration given in the metadata', { skip: !ffmpeg && NO_FFMPEG }, async () => {
    const { storage } = await localManager();
    const ref = await storage.storeArtifact({ artifactId: 'tone', artifactType: 'audio', contentType: 'audio/wav', content: await ffmpegFile(dir, 'wav'), metadata: { durationMs: 60_000 } });
    assert.equal(ref.metadata.durationMs, 1500);
    await storage.close();
  });
});
