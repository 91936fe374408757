/**
 * Verified reads, read repair and the scrub on the real Ceph gateway: the stored object is
 * overwritten behind the manager's back with the admin client (same size, other bytes).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CorruptionError, createStorageManager } from '../../src/index.ts';
import type { StorageManager } from '../../src/index.ts';
import { startTestServer } from '../server/server-harness.ts';
import { tempDir } from '../helpers.ts';
import { adminClient, createTestBucket, providerConfig, removeTestBucket, s3SkipReason, s3WithLocalMirror, warnSkipped } from './s3-test-server.ts';

async function overwrite(bucket: string, key: string, bytes: Buffer): Promise<void> {
  await adminClient().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, ContentType: 'application/octet-stream' }));
}

async function objectBytes(bucket: string, key: string): Promise<Buffer> {
  const got = await adminClient().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

function tampered(content: Buffer, at: number): Buffer {
  const copy = Buffer.from(content);
  copy[at] = copy[at]! ^ 0xff;
  return copy;
}

warnSkipped('s3 verified-read tests');
describe('verified reads on s3 (Ceph RGW)', { skip: s3SkipReason ?? false }, () => {
  let bucket: string;
  let storage: StorageManager;
  let dir: string;
  before(async () => {
    bucket = await createTestBucket('verify');
    dir = await tempDir('s3-verify');
    storage = await s3WithLocalMirror(bucket, dir);
  });
  after(async () => {
    await storage?.close();
    if (bucket) await removeTestBucket(bucket);
  });

  it('download rejects and openDownload errors before its end when the object was overwritten', async () => {
    // The s3 provider alone: no mirror copy to read instead.
    const alone = await createStorageManager({ config: { data_dir: await tempDir('s3-verify-alone'), providers: { s3: { type: 's3', config: providerConfig(bucket) as unknown as Record<string, unknown> } }, default_provider: 's3' }, env: {} });
    try {
      const content = randomBytes(6 * 1024 * 1024);
      const ref = await alone.storeArtifact({ artifactId: 'o', artifactType: 'model', contentType: 'application/octet-stream', content });
      await overwrite(bucket, ref.storageKey, tampered(content, 3 * 1024 * 1024));
      await assert.rejects(alone.download(ref.storageKey), CorruptionError);
      let received = 0;
      await assert.rejects((async () => { for await (const chunk of await alone.openDownload(ref.storageKey)) received += (chunk as Buffer).length; })(), CorruptionError);
      assert.ok(received < content.length, `the consumer got ${received} of ${content.length} bytes`);
      assert.equal((await alone.metrics()).integrity.corruptions.s3, 2);
    } finally {
      await alone.close();
    }
  });

  it('reads the mirror after a corrupt read and restores the object on the gateway', async () => {
    const content = randomBytes(2 * 1024 * 1024);
    const ref = await storage.storeArtifact({ artifactId: 'm', artifactType: 'model', contentType: 'application/octet-stream', content });
    await storage.flushMirrors();
    await overwrite(bucket, ref.storageKey, tampered(content, 100));
    await assert.rejects(storage.download(ref.storageKey), CorruptionError);
    assert.ok(Buffer.from(await storage.download(ref.storageKey)).equals(content), 'the next read is the good copy');
    await storage.integrity.settled();
    assert.ok((await objectBytes(bucket, ref.storageKey)).equals(content), 'the object on the gateway is whole again');
  });

  it('verify finds the corrupt object and --repair restores it from the mirror', async () => {
    const content = randomBytes(300_000);
    const ref = await storage.storeArtifact({ artifactId: 'v', artifactType: 'model', contentType: 'application/octet-stream', content, tenantId: 'scrubbed' });
    await storage.flushMirrors();
    await overwrite(bucket, ref.storageKey, tampered(content, 0));
    const found = await storage.verify({ tenantId: 'scrubbed' });
    assert.deepEqual(found.problems, [{ storageKey: ref.storageKey, status: 'corrupt', provider: 's3' }]);
    const repaired = await storage.verify({ tenantId: 'scrubbed', repair: true });
    assert.equal(repaired.counts.repaired, 1);
    assert.ok((await objectBytes(bucket, ref.storageKey)).equals(content));
    assert.equal((await storage.verify({ tenantId: 'scrubbed' })).problems.length, 0);
  });
});

describe('HTTP GET of an overwritten s3 object (Ceph RGW)', { skip: s3SkipReason ?? false }, () => {
  it('is cut short of its Content-Length', async () => {
    const bucket = await createTestBucket('verify-http');
    after(() => removeTestBucket(bucket));
    const server = await startTestServer({ storage: { providers: { s3: { type: 's3', config: providerConfig(bucket) as unknown as Record<string, unknown> } }, default_provider: 's3' } });
    const content = randomBytes(4 * 1024 * 1024);
    const ref = await server.put('alice', content, 'application/octet-stream', { artifactType: 'model' });
    await overwrite(bucket, ref.storageKey, tampered(content, content.length - 1));
    const { hostname, port } = new URL(server.url);
    const got = await new Promise<{ status: number; received: number; complete: boolean }>((resolve, reject) => {
      void server.as('alice').then((headers) => {
        const req = request({ host: hostname, port, path: `/v1/artifacts/${ref.storageKey}`, headers, agent: false }, (res) => {
          let received = 0;
          res.on('data', (c: Buffer) => { received += c.length; });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, received, complete: true }));
          res.on('aborted', () => resolve({ status: res.statusCode ?? 0, received, complete: false }));
          res.on('error', () => resolve({ status: res.statusCode ?? 0, received, complete: false }));
        });
        req.on('error', reject);
        req.end();
      }, reject);
    });
    assert.equal(got.status, 200);
    assert.equal(got.complete, false);
    assert.ok(got.received < content.length);
  });
});
