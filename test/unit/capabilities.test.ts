import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { createStorageManager, registerProviderType, MemoryProvider, ValidationError } from '../../src/index.ts';
import type { ProviderContext, StorageProvider } from '../../src/index.ts';
import { tempDir } from '../helpers.ts';

/** A real in-memory provider that declares it takes no direct uploads. */
class NoDirectUploads extends MemoryProvider {
  override readonly capabilities = { ...new MemoryProvider().capabilities, presignUpload: false as const };
}

describe('provider capabilities', () => {
  it('a provider that declares no direct uploads is refused before any presign, with a ValidationError naming it', async () => {
    registerProviderType('test-no-direct', (config, ctx) => new NoDirectUploads(config, ctx));
    const dir = await tempDir('caps');
    const storage = await createStorageManager({ config: { data_dir: dir, signing_secret: 'caps-test-secret-0123456789abcdef', default_provider: 'vault', providers: { vault: { type: 'test-no-direct', config: {} } } }, env: {} });
    try {
      await assert.rejects(storage.getUploadUrl({ artifactId: 'a', artifactType: 'image', contentType: 'image/png', size: 10 }), (error: unknown) => {
        assert.ok(error instanceof ValidationError);
        assert.equal(error.code, 'VALIDATION_FAILED');
        assert.match(error.message, /storage provider "vault" cannot take presigned direct uploads \(it declares presignUpload: false\)/);
        return true;
      });
      // Nothing was half-recorded: no pending upload.
      assert.equal((await storage.catalog.claimExpiredUploads(new Date(Date.now() + 365 * 86_400_000), 10)).length, 0);
    } finally {
      await storage.close();
    }
  });

  it('a type registered with selfSignedUrls receives the service\'s signing secret; one without does not', async () => {
    const seen = new Map<string, ProviderContext>();
    const factory = (type: string) => (config: Record<string, unknown>, ctx: ProviderContext): StorageProvider => {
      seen.set(type, ctx);
      return new MemoryProvider({ ...config, signing_secret: 'own-secret-0123456789abcdef-0123' }, ctx);
    };
    registerProviderType('test-self-signed', factory('test-self-signed'), { selfSignedUrls: true });
    registerProviderType('test-plain', factory('test-plain'));
    const open = async (type: string) => {
      const dir = await tempDir('caps');
      const storage = await createStorageManager({ config: { data_dir: dir, default_provider: 'a', providers: { a: { type, config: {} } } }, env: {} });
      await storage.close();
      return readdir(dir);
    };
    assert.ok((await open('test-self-signed')).includes('signing.key'), 'a secret was made in the data directory');
    assert.match(seen.get('test-self-signed')!.signingSecret ?? '', /.{32,}/);
    assert.ok(!(await open('test-plain')).includes('signing.key'), 'no secret is made for a type that does not sign its own URLs');
    assert.equal(seen.get('test-plain')!.signingSecret, undefined);
  });
});
