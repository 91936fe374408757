/**
 * Board copies and archives on the real Ceph gateway: copies are the gateway's own (CopyObject),
 * read back against the recorded SHA-256; a source object lost on the gateway is copied from its
 * mirror instead; a corrupt one fails the copy and leaves nothing of it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { CorruptionError, createStorageManager } from '../../src/index.ts';
import type { ArtifactReference, StorageManager } from '../../src/index.ts';
import { media } from '../fixtures/media.ts';
import { tempDir } from '../helpers.ts';
import { adminClient, createTestBucket, providerConfig, removeTestBucket, s3SkipReason, s3WithLocalMirror, warnSkipped } from '../s3/s3-test-server.ts';
import { readZip } from './zip-reader.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function objectSha(bucket: string, key: string): Promise<string> {
  const got = await adminClient().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return sha256(await got.Body!.transformToByteArray());
}

async function keysUnder(bucket: string, prefix: string): Promise<string[]> {
  const page = await adminClient().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key!);
}

warnSkipped('board copy and archive tests on s3');
// Made at the top level: a temporary directory made in a `before` hook is removed when the hook ends.
const dir = await tempDir('boards-s3');
const aloneDir = await tempDir('boards-s3-alone');
describe('boards on s3 (Ceph RGW)', { skip: s3SkipReason ?? false }, () => {
  let bucket: string;
  let storage: StorageManager;
  const refs: ArtifactReference[] = [];
  let thumb: ArtifactReference;

  before(async () => {
    bucket = await createTestBucket('boards');
    storage = await s3WithLocalMirror(bucket, dir);
    for (const [id, content] of [['weights', randomBytes(3 * 1024 * 1024)], ['notes', Buffer.from('a board on ceph')]] as const) {
      refs.push(await storage.storeArtifact({ artifactId: id, artifactType: id === 'weights' ? 'lora' : 'text', contentType: id === 'weights' ? 'application/octet-stream' : 'text/plain', content, tenantId: 't1', boardId: 'b1' }));
    }
    refs.push(await storage.storeArtifact({ artifactId: 'fox', artifactType: 'image', contentType: 'image/png', content: media.png(4000), tenantId: 't1', boardId: 'b1' }));
    thumb = await storage.storeVariant(refs[2]!.storageKey, 'thumb_64.png', media.png(500));
    await storage.flushMirrors();
  });
  after(async () => {
    await storage?.close();
    if (bucket) await removeTestBucket(bucket);
  });

  it('copies a board with the gateway\'s own copies, each read back against its SHA-256', async () => {
    const result = await storage.copyBoard('b1', { tenantId: 't1', toBoardId: 'b2' });
    assert.deepEqual([result.copied, result.variants, result.serverSide], [3, 1, 4]);
    const copies = (await storage.listArtifacts({ tenantId: 't1', boardId: 'b2' })).items;
    for (const copy of copies) {
      const source = refs.find((r) => r.artifactId === copy.artifactId)!;
      assert.match(copy.storageKey, /^t1\/[a-z]+\/b2\//);
      assert.equal(copy.sha256, source.sha256);
      assert.equal(await objectSha(bucket, copy.storageKey), source.sha256, 'the object on the gateway has the same bytes');
    }
    const fox = copies.find((c) => c.artifactId === 'fox')!;
    assert.equal(await objectSha(bucket, fox.variants![0]!.storageKey), thumb.sha256);
    // The copies' mirror copies are queued like any store's.
    const mirrored = await storage.flushMirrors();
    assert.deepEqual(mirrored.failed, []);
    for (const copy of copies) assert.deepEqual(await storage.catalog.copiesOf(copy.storageKey), [{ provider: 'mirror', status: 'done' }]);
  });

  it('copies from the mirror an object the gateway has lost', async () => {
    await adminClient().send(new DeleteObjectCommand({ Bucket: bucket, Key: refs[1]!.storageKey }));
    const result = await storage.copyBoard('b1', { tenantId: 't1', toBoardId: 'b3' });
    assert.deepEqual([result.copied, result.serverSide], [3, 3]);
    const notes = (await storage.listArtifacts({ tenantId: 't1', boardId: 'b3', artifactType: 'text' })).items[0]!;
    assert.equal(await objectSha(bucket, notes.storageKey), refs[1]!.sha256);
  });

  it('fails a copy whose source is corrupt everywhere and leaves nothing of it', async () => {
    // The s3 provider alone, without a mirror: no good copy anywhere.
    const alone = await createStorageManager({ config: { data_dir: aloneDir, default_provider: 's3', providers: { s3: { type: 's3', config: providerConfig(bucket) as unknown as Record<string, unknown> } } }, env: {} });
    try {
      const stored = await alone.storeArtifact({ artifactId: 'rotten', artifactType: 'lora', contentType: 'application/octet-stream', content: randomBytes(1024 * 1024), tenantId: 't9', boardId: 'r1' });
      await alone.storeArtifact({ artifactId: 'fine', artifactType: 'text', contentType: 'text/plain', content: 'fine', tenantId: 't9', boardId: 'r1' });
      const bytes = Buffer.from(await (await adminClient().send(new GetObjectCommand({ Bucket: bucket, Key: stored.storageKey }))).Body!.transformToByteArray());
      bytes[10] = bytes[10]! ^ 0xff;
      await adminClient().send(new PutObjectCommand({ Bucket: bucket, Key: stored.storageKey, Body: bytes, ContentType: 'application/octet-stream' }));
      await assert.rejects(alone.copyBoard('r1', { tenantId: 't9', toBoardId: 'r2' }), CorruptionError);
      assert.deepEqual((await alone.listBoards({ tenantId: 't9' })).items.map((b) => b.boardId), ['r1'], 'no board r2');
      assert.deepEqual(await keysUnder(bucket, 't9/lora/r2/'), []);
      assert.deepEqual(await keysUnder(bucket, 't9/text/r2/'), []);
      // The archive of that board fails rather than complete with bad bytes.
      const archive = await alone.openBoardArchive('r1', { tenantId: 't9' });
      await assert.rejects((async () => { for await (const _ of archive.stream) { /* read to the end */ } })(), CorruptionError);
    } finally {
      await alone.close();
    }
  });

  it('archives a board read from the gateway', async () => {
    const archive = await storage.openBoardArchive('b2', { tenantId: 't1' });
    const chunks: Buffer[] = [];
    for await (const chunk of archive.stream) chunks.push(chunk as Buffer);
    const { files } = await readZip(Buffer.concat(chunks), 0);
    assert.equal(files.get('lora/weights.bin')?.sha256, refs[0]!.sha256);
    assert.equal(files.get('text/notes.txt')?.sha256, refs[1]!.sha256);
    assert.equal(files.get('image/fox.png')?.sha256, refs[2]!.sha256);
  });
});
