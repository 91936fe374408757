/**
 * Presigned URLs, direct uploads and public URLs, proven over HTTP against the real gateway; and the
 * manager storing through the s3 provider.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { createStorageManager } from '../../src/manager/create.ts';
import { S3Provider } from '../../src/providers/s3.ts';
import type { PresignedUpload } from '../../src/providers/provider.ts';
import { chunksOf, generated, readAll } from '../contract/provider-contract.ts';
import { adminClient, createTestBucket, providerConfig, removeTestBucket, s3SkipReason, warnSkipped } from './s3-test-server.ts';

const MiB = 1024 * 1024;

warnSkipped('s3 presign tests');
describe('s3 presigned and public URLs', { skip: s3SkipReason ?? false }, () => {
  let bucket: string;
  let provider: S3Provider;
  before(async () => {
    bucket = await createTestBucket('presign');
    provider = new S3Provider(providerConfig(bucket));
    await provider.upload('doc.txt', chunksOf(Buffer.from('signed body'), 4), { contentType: 'text/plain', metadata: {} });
  });
  after(async () => {
    await provider?.close();
    if (bucket) await removeTestBucket(bucket);
  });

  it('signs a download that names the file to save', async () => {
    const url = await provider.getPresignedDownloadUrl('doc.txt', { expiresIn: 60, filename: 'report é.txt' });
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'signed body');
    const disposition = response.headers.get('content-disposition') ?? '';
    assert.match(disposition, /^attachment; filename="report _\.txt"; filename\*=UTF-8''report%20%C3%A9\.txt$/);
  });

  it('refuses a tampered signature and an expired URL with 403', async () => {
    const url = new URL(await provider.getPresignedDownloadUrl('doc.txt', { expiresIn: 60 }));
    const signature = url.searchParams.get('X-Amz-Signature')!;
    url.searchParams.set('X-Amz-Signature', (signature[0] === 'a' ? 'b' : 'a') + signature.slice(1));
    assert.equal((await fetch(url)).status, 403);
    const longer = new URL(await provider.getPresignedDownloadUrl('doc.txt', { expiresIn: 60 }));
    longer.searchParams.set('X-Amz-Expires', '3600');
    assert.equal((await fetch(longer)).status, 403);

    const short = await provider.getPresignedDownloadUrl('doc.txt', { expiresIn: 1 });
    await new Promise((resolve) => setTimeout(resolve, 2100));
    assert.equal((await fetch(short)).status, 403);
    await assert.rejects(provider.getPresignedDownloadUrl('doc.txt', { expiresIn: 8 * 24 * 3600 }), /7 days/);
  });

  it('lets S3 refuse a direct POST upload larger than its limit', async () => {
    const upload = await provider.getPresignedUploadUrl('direct/limited.bin', { contentType: 'application/octet-stream', expiresIn: 60, maxSize: 1024 });
    assert.equal(upload.method, 'POST');
    const tooLarge = await postForm(upload, Buffer.alloc(1025, 1), 'application/octet-stream');
    assert.equal(tooLarge.status, 400);
    assert.match(await tooLarge.text(), /EntityTooLarge/);
    assert.equal(await provider.exists('direct/limited.bin'), false);

    const wrongType = await postForm({ ...upload, fields: { ...upload.fields, 'Content-Type': 'text/html' } }, Buffer.alloc(10), 'text/html');
    assert.equal(wrongType.status, 403);
    assert.equal(await provider.exists('direct/limited.bin'), false);

    const exact = await postForm(upload, Buffer.alloc(1024, 2), 'application/octet-stream');
    assert.ok(exact.status >= 200 && exact.status < 300, `answered ${exact.status}`);
    const meta = await provider.getMetadata('direct/limited.bin');
    assert.equal(meta.size, 1024);
    assert.equal(meta.contentType, 'application/octet-stream');
  });

  it('offers a presigned PUT with the content type signed in', async () => {
    const putProvider = new S3Provider(providerConfig(bucket, { presigned_upload_method: 'put' }));
    try {
      assert.equal(putProvider.capabilities.presignUpload, 'PUT');
      const upload = await putProvider.getPresignedUploadUrl('direct/put.json', { contentType: 'application/json', expiresIn: 60 });
      assert.equal(upload.method, 'PUT');
      const wrongType = await fetch(upload.url, { method: 'PUT', body: '{}', headers: { 'Content-Type': 'text/html' } });
      assert.equal(wrongType.status, 403);
      const ok = await fetch(upload.url, { method: 'PUT', body: '{"a":1}', headers: upload.headers ?? {} });
      assert.equal(ok.status, 200);
      assert.equal((await putProvider.getMetadata('direct/put.json')).contentType, 'application/json');
    } finally {
      await putProvider.close();
    }
  });

  it('serves public artifacts at the bucket URL when ACLs allow it, private ones only signed', async () => {
    const acl = new S3Provider(providerConfig(bucket, { acl: true }));
    try {
      assert.equal(acl.capabilities.publicUrl, true);
      const stored = await acl.upload('pub/open.txt', chunksOf(Buffer.from('for everyone'), 4), { contentType: 'text/plain', metadata: { visibility: 'public' } });
      assert.equal(stored.url, `${providerConfig(bucket).endpoint}/${bucket}/pub/open.txt`);
      const open = await fetch(stored.url!);
      assert.equal(open.status, 200);
      assert.equal(await open.text(), 'for everyone');
      assert.match(open.headers.get('cache-control') ?? '', /public/);

      const hidden = await acl.upload('pub/hidden.txt', chunksOf(Buffer.from('secret'), 4), { contentType: 'text/plain', metadata: { visibility: 'private' } });
      assert.equal(hidden.url, undefined);
      assert.equal((await fetch(acl.getPublicUrl('pub/hidden.txt')!)).status, 403);

      // A copy keeps its source's visibility.
      await acl.copy('pub/open.txt', 'pub/open-copy.txt');
      assert.equal((await fetch(acl.getPublicUrl('pub/open-copy.txt')!)).status, 200);
      await acl.copy('pub/hidden.txt', 'pub/hidden-copy.txt');
      assert.equal((await fetch(acl.getPublicUrl('pub/hidden-copy.txt')!)).status, 403);
    } finally {
      await acl.close();
    }
  });

  it('stores through the manager: multipart content gets its sha256 and size on the object', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'boards-s3-manager-'));
    const manager = await createStorageManager({
      config: { default_provider: 'media', data_dir: dataDir, providers: { media: { type: 's3', config: { ...providerConfig(bucket, { part_size: '5MB' }) } } } },
    });
    try {
      const size = 12 * MiB + 3;
      const ref = await manager.storeArtifact({ artifactId: 'weights', artifactType: 'model', contentType: 'application/octet-stream', content: Readable.from(generated(size)), metadata: { prompt: 'a cat' } });
      const head = await adminClient().send(new HeadObjectCommand({ Bucket: bucket, Key: ref.storageKey }));
      assert.equal(head.Metadata?.sha256, ref.sha256);
      assert.equal(head.Metadata?.size, String(size));
      assert.equal(head.ContentType, 'application/octet-stream');
      assert.equal(head.ContentLength, size);
      const found = await manager.getArtifact(ref.storageKey);
      assert.equal(found.sha256, ref.sha256);
      assert.deepEqual(found.metadata, { prompt: 'a cat' });
      const part = await readAll(await manager.openDownload(ref.storageKey, { start: 5 * MiB, end: 5 * MiB + 9 }));
      assert.equal(part.length, 10);

      const upload = await manager.getUploadUrl({ artifactId: 'direct', artifactType: 'image', contentType: 'image/png', size: 2048 });
      assert.equal(upload.method, 'POST');
      assert.ok(upload.fields?.Policy);
      const url = await manager.getDownloadUrl(ref.storageKey, undefined, { expiresIn: 60 });
      const response = await fetch(url, { headers: { Range: 'bytes=0-3' } });
      assert.equal(response.status, 206);
      assert.equal(await manager.deleteArtifact(ref.storageKey), true);
      assert.equal(await manager.deleteArtifact(ref.storageKey), false);
    } finally {
      await manager.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

async function postForm(upload: PresignedUpload, body: Buffer, type: string): Promise<Response> {
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.fields ?? {})) form.append(name, value);
  form.append('file', new Blob([body], { type }));
  return fetch(upload.url, { method: 'POST', body: form });
}
