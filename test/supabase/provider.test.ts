/** What the Supabase provider does beyond the contract; against a real Supabase Storage server only. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { NotFoundError } from '../../src/errors.ts';
import { SupabaseProvider } from '../../src/providers/supabase.ts';
import { chunksOf, generated, readAll } from '../contract/provider-contract.ts';
import { providerConfig, removeTestBuckets, supabaseSkipReason, testBuckets } from './supabase-test-server.ts';

const MiB = 1024 * 1024;
if (supabaseSkipReason) console.warn(`\n*** SKIPPED supabase provider tests: ${supabaseSkipReason} ***\n`);

describe('supabase provider', { skip: supabaseSkipReason ?? false }, () => {
  let provider: SupabaseProvider;
  let created: string[] = [];
  before(async () => {
    const buckets = await testBuckets('provider');
    created = buckets.created;
    provider = new SupabaseProvider(providerConfig(buckets.bucket, { public_bucket: buckets.publicBucket, tus_threshold: '1MB' }), { name: 'supabase-test' });
  });
  after(async () => {
    if (created.length > 0) await removeTestBuckets(created);
  });

  it('sends content over the threshold through TUS, with its content type and metadata', async () => {
    const hash = createHash('sha256');
    await provider.upload('t/tus.bin', generated(13 * MiB, hash), { contentType: 'application/x-test', metadata: { note: 'tus' } });
    const meta = await provider.getMetadata('t/tus.bin');
    assert.equal(meta.size, 13 * MiB);
    assert.equal(meta.contentType, 'application/x-test');
    assert.equal(meta.metadata.note, 'tus');
    assert.equal(createHash('sha256').update(await readAll(await provider.openDownload('t/tus.bin'))).digest('hex'), hash.digest('hex'));
  });

  it('moves an artifact between the buckets when its visibility changes', async () => {
    await provider.upload('t/vis.txt', chunksOf(Buffer.from('visible'), 3), { contentType: 'text/plain', metadata: { visibility: 'private' } });
    const made = await provider.setVisibility('t/vis.txt', 'public');
    assert.equal(made.url, provider.getPublicUrl('t/vis.txt'));
    const response = await fetch(made.url!);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'visible');
    assert.deepEqual(await provider.setVisibility('t/vis.txt', 'private'), {});
    assert.notEqual((await fetch(made.url!)).status, 200);
    assert.equal((await readAll(await provider.openDownload('t/vis.txt'))).toString(), 'visible');
  });

  it('signs many downloads in one request, in order, across both buckets', async () => {
    await provider.upload('t/one.txt', chunksOf(Buffer.from('one'), 3), { contentType: 'text/plain', metadata: {} });
    await provider.upload('t/two.txt', chunksOf(Buffer.from('two'), 3), { contentType: 'text/plain', metadata: { visibility: 'public' } });
    const urls = await provider.getPresignedDownloadUrls(['t/two.txt', 't/one.txt'], { expiresIn: 120 });
    assert.deepEqual(await Promise.all(urls.map(async (url) => (await fetch(url)).text())), ['two', 'one']);
    await assert.rejects(provider.getPresignedDownloadUrls(['t/one.txt', 't/missing.txt'], { expiresIn: 120 }), NotFoundError);
  });

  it('lists case-sensitively and by a plain prefix, "_" included', async () => {
    for (const key of ['c/abc/x', 'c/ABC/y', 'c/a_1/z', 'c/aX1/w']) await provider.upload(key, chunksOf(Buffer.from(key), 2), { contentType: 'text/plain', metadata: {} });
    assert.deepEqual((await provider.list('c/abc/')).items.map((i) => i.key), ['c/abc/x']);
    assert.deepEqual((await provider.list('c/a_1')).items.map((i) => i.key), ['c/a_1/z']);
    assert.deepEqual((await provider.list('c/')).items.map((i) => i.key), ['c/ABC/y', 'c/aX1/w', 'c/a_1/z', 'c/abc/x']);
  });

  it('gives a signed upload URL whose expiry comes from the server, and takes a PUT on it', async () => {
    const signed = await provider.getPresignedUploadUrl('t/direct.txt', { contentType: 'text/plain', expiresIn: 600 });
    assert.ok(Date.parse(signed.expiresAt) > Date.now(), signed.expiresAt);
    const response = await fetch(signed.url, { method: signed.method, ...(signed.headers ? { headers: signed.headers } : {}), body: 'direct' });
    assert.equal(response.status, 200, await response.text());
    assert.equal((await readAll(await provider.openDownload('t/direct.txt'))).toString(), 'direct');
  });

  it('names a signed download with a non-ASCII file name as given', async () => {
    const url = await provider.getPresignedDownloadUrl('t/one.txt', { expiresIn: 120, filename: 'résumé & notes.txt' });
    const response = await fetch(url);
    assert.equal(response.status, 200);
    const disposition = response.headers.get('content-disposition') ?? '';
    assert.ok(disposition.includes(encodeURIComponent('résumé & notes.txt')) || disposition.includes('résumé & notes.txt'), disposition);
  });

  it('refuses an altered signed URL', async () => {
    const url = await provider.getPresignedDownloadUrl('t/one.txt', { expiresIn: 120 });
    const response = await fetch(url.replace('one.txt', 'two.txt'));
    assert.ok(response.status === 400 || response.status === 403, `answered ${response.status}`);
  });
});
