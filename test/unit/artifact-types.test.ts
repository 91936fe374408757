import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createStorageManager, ConfigError, ValidationError } from '../../src/index.ts';
import type { StorageConfigInput } from '../../src/index.ts';
import { media } from '../fixtures/media.ts';
import { storedFiles, tempDir } from '../helpers.ts';

/** An artifact type is one the configuration lists, and the content is of the family it holds. */

async function manager(extra: Partial<StorageConfigInput> = {}) {
  const dir = await tempDir('artifact-types');
  const files = join(dir, 'files');
  const storage = await createStorageManager({ config: { data_dir: dir, signing_secret: 'artifact-types-secret-0123456789abcdef', providers: { local: { type: 'local', config: { base_path: files } } }, ...extra }, env: {} });
  return { storage, files };
}

const refusedFor = (field: string, pattern: RegExp) => (e: unknown) => e instanceof ValidationError && e.code === 'VALIDATION_FAILED' && e.status === 400
  && (e.details as { field?: string }).field === field && pattern.test(e.message);

describe('artifact types', () => {
  it('refuses a type the configuration does not list, and content of another family, leaving nothing', async () => {
    const { storage, files } = await manager();
    await assert.rejects(storage.storeArtifact({ artifactId: 'a', artifactType: 'picture', contentType: 'image/png', content: media.png() }),
      refusedFor('artifactType', /artifactType "picture" is not one of the configured artifact types \(image, video, audio, text, model, .*\); use one of them, or add it to artifact_types/));
    await assert.rejects(storage.storeArtifact({ artifactId: 'a', artifactType: 'image', contentType: 'audio/wav', content: media.wav() }),
      refusedFor('artifactType', /artifactType "image" holds image\/\*, not audio\/wav; choose the artifact type that fits the content \(for audio\/wav: audio\)/));
    await assert.rejects(storage.storeArtifact({ artifactId: 'a', artifactType: 'text', contentType: 'application/octet-stream', content: Buffer.alloc(10) }), refusedFor('artifactType', /holds text/));
    await assert.rejects(storage.storeArtifact({ artifactId: 'a', artifactType: 'model', contentType: 'application/json', content: '{}' }), refusedFor('artifactType', /holds application\/octet-stream or another binary/));
    await assert.rejects(storage.getUploadUrl({ artifactId: 'a', artifactType: 'video', contentType: 'image/png', size: 10 }), refusedFor('artifactType', /holds video\/\*/));
    await assert.rejects(storage.getUploadUrl({ artifactId: 'a', artifactType: 'temp', contentType: 'text/plain', size: 10 }), refusedFor('artifactType', /"temp" is not one of/));
    assert.deepEqual(await storedFiles(files), []);
  });

  it('accepts each default type with content of its family; LoRAs and checkpoints are models', async () => {
    const { storage } = await manager();
    const stores: [string, string, Uint8Array | string][] = [
      ['image', 'image/png', media.png()], ['video', 'video/webm', media.webm()], ['audio', 'audio/wav', media.wav()],
      ['text', 'text/plain', 'words'], ['text', 'application/json', '{"a":1}'], ['text', 'text/markdown', '# title'],
      ['model', 'application/octet-stream', Buffer.alloc(64)], ['lora', 'application/octet-stream', Buffer.alloc(64)], ['checkpoint', 'application/octet-stream', Buffer.alloc(64)],
    ];
    for (const [artifactType, contentType, content] of stores) {
      const ref = await storage.storeArtifact({ artifactId: 'a', artifactType, contentType, content });
      assert.equal(ref.contentType, contentType, artifactType);
    }
    // The generation context's temporary files keep their own type.
    const temp = await storage.storeTempFile({ jobId: 'job1', name: 'notes.txt', contentType: 'text/plain', content: 'x' });
    assert.equal(temp.storageKey, 'temp/job1/notes.txt');
  });

  it('takes its list from artifact_types, where `any` holds anything', async () => {
    const { storage } = await manager({ artifact_types: { sketch: 'image', archive: 'any' } });
    assert.ok((await storage.storeArtifact({ artifactId: 'a', artifactType: 'sketch', contentType: 'image/gif', content: media.gif() })).storageKey.includes('/sketch/'));
    assert.ok((await storage.storeArtifact({ artifactId: 'a', artifactType: 'archive', contentType: 'text/plain', content: 'x' })).storageKey.includes('/archive/'));
    await assert.rejects(storage.storeArtifact({ artifactId: 'a', artifactType: 'image', contentType: 'image/gif', content: media.gif() }), refusedFor('artifactType', /\(sketch, archive\)/));
  });

  it('refuses a bad artifact_types at start-up, naming the path', async () => {
    const dir = await tempDir('artifact-types-bad');
    const bad = async (artifact_types: unknown, pattern: RegExp) => assert.rejects(
      createStorageManager({ config: { data_dir: dir, artifact_types } as StorageConfigInput, env: {} }),
      (e: unknown) => e instanceof ConfigError && pattern.test(e.message));
    await bad({ image: 'picture' }, /artifact_types\.image/);
    await bad({ 'bad type': 'image' }, /artifact_types/);
    await bad({}, /artifact_types: list at least one artifact type/);
    await bad({ temp: 'any' }, /artifact_types\.temp: "temp" is reserved/);
  });
});
