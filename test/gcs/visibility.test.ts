/**
 * Visibility on the GCS emulator. The firebase-tools emulator accepts ACL calls but does not
 * enforce them: it serves every object to anonymous readers, so the anonymous refusal itself is
 * proven on the Ceph gateway (test/s3/visibility.test.ts). Here: the calls a fine-grained bucket
 * needs are made and the object's visibility metadata and Cache-Control follow; a bucket anyone
 * may read without ACLs refuses to make an artifact private.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StorageError } from '../../src/errors.ts';
import { GcsProvider } from '../../src/providers/gcs.ts';
import { gcsSkipReason, providerConfig, testBucket } from './gcs-test-server.ts';

const words = async function* () { yield Buffer.from('public words'); };

describe('gcs visibility', { skip: gcsSkipReason ?? false }, () => {
  it('with acl: true, makes the object private and public again, its metadata and Cache-Control following', async () => {
    const provider = new GcsProvider(providerConfig(testBucket('vis'), { acl: true }), { name: 'gcs-vis' });
    await provider.upload('v/a.txt', words(), { contentType: 'text/plain', metadata: { visibility: 'public' } });
    assert.deepEqual(await provider.setVisibility('v/a.txt', 'private'), {});
    const hidden = await provider.getMetadata('v/a.txt');
    assert.equal(hidden.metadata.visibility, 'private');
    const [raw] = await (provider as unknown as { bucket: { file(k: string): { getMetadata(): Promise<[{ cacheControl?: string }]> } } }).bucket.file('v/a.txt').getMetadata();
    assert.equal(raw.cacheControl, 'private');
    const shown = await provider.setVisibility('v/a.txt', 'public');
    assert.equal(shown.url, provider.getPublicUrl('v/a.txt'));
    assert.equal((await fetch(shown.url!)).status, 200);
    assert.equal((await provider.getMetadata('v/a.txt')).metadata.visibility, 'public');
    await provider.delete('v/a.txt');
  });

  it('refuses to make an artifact private on a bucket anyone may read without ACLs', async () => {
    const provider = new GcsProvider(providerConfig(testBucket('vis-open'), { public_bucket: true }), { name: 'gcs-open' });
    await assert.rejects(provider.setVisibility('v/a.txt', 'private'), (e: unknown) => e instanceof StorageError && e.code === 'NOT_SUPPORTED');
  });
});
