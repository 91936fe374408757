import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createStorageManager } from '../../src/index.ts';
import { canonicalContentType } from '../../src/content/content-types.ts';
import { media } from '../fixtures/media.ts';
import { tempDir } from '../helpers.ts';

/** The names Python's mimetypes, `file` and browsers print are accepted and recorded canonically. */
describe('content type aliases', () => {
  it('stores audio/x-wav, audio/wave, image/jpg and audio/mp3 under their canonical types', async () => {
    const dir = await tempDir('aliases');
    const storage = await createStorageManager({
      config: {
        data_dir: dir, signing_secret: 'aliases-secret-0123456789abcdef0123',
        providers: { local: { type: 'local', config: { base_path: join(dir, 'files') } }, sounds: { type: 'memory' } },
        // The allowlist and the routing rules name canonical types only; the aliases still match them.
        allowed_content_types: ['audio/wav', 'audio/mpeg', 'image/jpeg'],
        routing_rules: [{ condition: { content_type: 'audio/wav' }, provider: 'sounds' }],
      }, env: {},
    });
    const cases: [string, string, string, Uint8Array, string][] = [
      ['audio', 'audio/x-wav', 'audio/wav', media.wav(), 'original.wav'],
      ['audio', 'audio/wave', 'audio/wav', media.wav(), 'original.wav'],
      ['audio', 'Audio/X-WAV; codecs=1', 'audio/wav', media.wav(), 'original.wav'],
      ['image', 'image/jpg', 'image/jpeg', media.jpeg(), 'original.jpg'],
      ['audio', 'audio/mp3', 'audio/mpeg', media.mp3(), 'original.mp3'],
    ];
    for (const [artifactType, declared, canonical, content, variant] of cases) {
      const ref = await storage.storeArtifact({ artifactId: 'a', artifactType, contentType: declared, content });
      assert.equal(ref.contentType, canonical, declared);
      assert.ok(ref.storageKey.endsWith(`/${variant}`), ref.storageKey);
      assert.equal((await storage.getArtifact(ref.storageKey)).contentType, canonical);
      assert.equal(ref.storageProvider, canonical === 'audio/wav' ? 'sounds' : 'local', declared);
    }
    const upload = await storage.getUploadUrl({ artifactId: 'b', artifactType: 'image', contentType: 'image/jpg', size: 64 });
    assert.ok(upload.storageKey.endsWith('/original.jpg'));
    await storage.close();
  });

  it('leaves types without an alias as they are', () => {
    assert.equal(canonicalContentType('image/png'), 'image/png');
    assert.equal(canonicalContentType('application/x-custom'), 'application/x-custom');
    assert.equal(canonicalContentType('text/x-markdown'), 'text/markdown');
  });
});
