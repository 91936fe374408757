/**
 * Visibility on the real Ceph gateway with object ACLs (`acl: true`): a public artifact's URL
 * answers an anonymous GET; once it is made private the same anonymous GET is refused, on its
 * mirror copy too; made public again, the URL returned works.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStorageManager, StorageError } from '../../src/index.ts';
import { tempDir } from '../helpers.ts';
import { createTestBucket, providerConfig, removeTestBucket, s3SkipReason, warnSkipped } from './s3-test-server.ts';

warnSkipped('s3 visibility (object ACLs)');

describe('s3 visibility', { skip: s3SkipReason ?? false }, () => {
  it('private means not readable anonymously: the ACL follows the artifact, on its mirror too', async () => {
    const [bucket, mirrorBucket] = await Promise.all([createTestBucket('vis'), createTestBucket('vis-mirror')]);
    after(() => Promise.all([removeTestBucket(bucket), removeTestBucket(mirrorBucket)]));
    const storage = await createStorageManager({ config: { data_dir: await tempDir('s3-vis'), default_provider: 's3', providers: {
      s3: { type: 's3', config: providerConfig(bucket, { acl: true }), mirrors: ['backup'] },
      backup: { type: 's3', config: providerConfig(mirrorBucket, { acl: true }) },
    } }, env: {} });
    after(() => storage.close());
    const ref = await storage.storeArtifact({ artifactId: 'v', artifactType: 'text', contentType: 'text/plain', content: 'public words', visibility: 'public' });
    await storage.flushMirrors();
    const mirrorUrl = storage.provider('backup').getPublicUrl!(ref.storageKey)!;
    assert.match(ref.storageUrl, /^http:\/\//);
    for (const url of [ref.storageUrl, mirrorUrl]) {
      const open = await fetch(url);
      assert.equal(open.status, 200, url);
      assert.equal(await open.text(), 'public words');
    }

    const hidden = await storage.setVisibility(ref.storageKey, 'private');
    assert.equal(hidden.visibility, 'private');
    assert.doesNotMatch(hidden.storageUrl, /^http/);
    for (const url of [ref.storageUrl, mirrorUrl]) {
      const refused = await fetch(url);
      assert.equal(refused.status, 403, `${url} is refused to anonymous readers`);
      await refused.arrayBuffer();
    }
    assert.equal((await storage.provider('s3').getMetadata(ref.storageKey)).metadata.visibility, 'private');
    assert.equal(Buffer.from(await storage.download(ref.storageKey)).toString(), 'public words', 'the owner still reads it');

    const shown = await storage.setVisibility(ref.storageKey, 'public');
    const again = await fetch(shown.storageUrl);
    assert.equal(again.status, 200);
    assert.equal(await again.text(), 'public words');
  });

  it('refuses to make an artifact private on a bucket anyone may read without ACLs', async () => {
    const bucket = await createTestBucket('vis-open');
    after(() => removeTestBucket(bucket));
    const storage = await createStorageManager({ config: { data_dir: await tempDir('s3-vis-open'), default_provider: 's3', providers: { s3: { type: 's3', config: providerConfig(bucket, { public_bucket: true }) } } }, env: {} });
    after(() => storage.close());
    const ref = await storage.storeArtifact({ artifactId: 'v', artifactType: 'text', contentType: 'text/plain', content: 'words', visibility: 'public' });
    await assert.rejects(storage.setVisibility(ref.storageKey, 'private'), (e: unknown) => e instanceof StorageError && e.code === 'NOT_SUPPORTED' && /acl: true/.test(e.message));
    assert.equal((await storage.getArtifact(ref.storageKey)).visibility, 'public', 'the catalog does not claim what the bucket does not do');
  });
});
