/** What the GCS provider does beyond the contract, against the emulator (or a real bucket). */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Storage } from '@google-cloud/storage';
import { ProviderUnavailableError, StorageError } from '../../src/errors.ts';
import { GcsProvider } from '../../src/providers/gcs.ts';
import { encodeCursor } from '../../src/providers/list-cursor.ts';
import { chunksOf, generated, readAll } from '../contract/provider-contract.ts';
import { gcsSkipReason, providerConfig, server, testBucket } from './gcs-test-server.ts';

const MiB = 1024 * 1024;
if (gcsSkipReason) console.warn(`\n*** SKIPPED gcs provider tests: ${gcsSkipReason} ***\n`);

describe('gcs provider', { skip: gcsSkipReason ?? false }, () => {
  let provider: GcsProvider;
  let bucket: string;
  before(() => {
    bucket = testBucket('provider');
    provider = new GcsProvider(providerConfig(bucket, { simple_upload_threshold: '1MB', chunk_size: '256KB', public_bucket: true }), { name: 'gcs-test' });
  });
  after(async () => {
    const page = await provider.list('', { limit: 1000 });
    await Promise.all(page.items.map((item) => provider.delete(item.key)));
  });

  it('streams content over the threshold as a resumable upload, then sets its sha256 metadata', async () => {
    const hash = createHash('sha256');
    const metadata: Record<string, string> = { visibility: 'public', note: 'r\u00e9sum\u00e9' };
    const size = 3 * MiB + 12345;
    async function* content() {
      yield* generated(size, hash);
      metadata.sha256 = 'set-at-the-end';
      metadata.size = String(size);
    }
    const result = await provider.upload('r/big.bin', content(), { contentType: 'application/octet-stream', metadata });
    assert.equal(result.url, `${server().endpoint}/${bucket}/r/big.bin`);
    const meta = await provider.getMetadata('r/big.bin');
    assert.equal(meta.size, size);
    assert.equal(meta.metadata.sha256, 'set-at-the-end');
    assert.equal(meta.metadata.size, String(size));
    assert.equal(meta.metadata.note, 'r\u00e9sum\u00e9');
    const read = createHash('sha256').update(await readAll(await provider.openDownload('r/big.bin'))).digest('hex');
    assert.equal(read, hash.digest('hex'));
    // Public artifacts get a long-lived Cache-Control.
    const [raw] = await new Storage({ apiEndpoint: server().endpoint, projectId: server().projectId }).bucket(bucket).file('r/big.bin').getMetadata();
    assert.equal(raw.cacheControl, 'public, max-age=31536000, immutable');
  });

  it('leaves nothing when a resumable upload fails or is aborted part-way', async () => {
    async function* failing() {
      yield* generated(2 * MiB);
      throw new Error('source broke');
    }
    await assert.rejects(provider.upload('r/failed.bin', failing(), { contentType: 'application/octet-stream', metadata: {} }), (e: unknown) => e instanceof StorageError && /source broke/.test(e.message));
    assert.equal(await provider.exists('r/failed.bin'), false);
    const controller = new AbortController();
    async function* slow() {
      yield* generated(2 * MiB);
      controller.abort();
      yield Buffer.alloc(10);
    }
    await assert.rejects(provider.upload('r/aborted.bin', slow(), { contentType: 'application/octet-stream', metadata: {}, signal: controller.signal }), /aborted/);
    assert.equal(await provider.exists('r/aborted.bin'), false);
  });

  it('resumes a listing after a key that does not exist', async () => {
    await Promise.all(['p/a', 'p/b', 'p/d'].map((k) => provider.upload(k, chunksOf(Buffer.from(k), 2), { contentType: 'text/plain', metadata: {} })));
    const page = await provider.list('p/', { cursor: encodeCursor('p/c'), limit: 10 });
    assert.deepEqual(page.items.map((i) => i.key), ['p/d']);
    const first = await provider.list('p/', { limit: 2 });
    assert.deepEqual(first.items.map((i) => i.key), ['p/a', 'p/b']);
    assert.equal(first.nextCursor, encodeCursor('p/b'));
  });

  it('reports an unreachable endpoint as unavailable, quickly', async () => {
    const down = new GcsProvider(providerConfig(bucket, { api_endpoint: 'http://127.0.0.1:9', max_attempts: 1 }));
    const started = Date.now();
    await assert.rejects(down.health(), ProviderUnavailableError);
    await assert.rejects(down.openDownload('r/big.bin'), ProviderUnavailableError);
    assert.ok(Date.now() - started < 5000);
  });
});
