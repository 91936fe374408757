import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalProvider } from '../../src/providers/local.ts';
import { NotFoundError, SecurityError, StorageError } from '../../src/errors.ts';
import { chunksOf, readAll } from '../contract/provider-contract.ts';
import { filesUnder, storedFiles, tempDir } from '../helpers.ts';
import { LocalIndex } from '../../src/providers/local-index.ts';

describe('local provider', () => {
  it('removes what a crash left: uploads in ~tmp and stores that never completed', async () => {
    const base = await tempDir('local-crash');
    const first = await LocalProvider.open({ base_path: base });
    await first.upload('t/kept.txt', chunksOf(Buffer.from('kept'), 2), { contentType: 'text/plain', metadata: {} });
    await first.close();
    // A crash mid-upload, and a crash between the rename and the index marking it ready.
    await writeFile(join(base, '~tmp', 'half-written'), 'partial');
    await mkdir(join(base, 't/b/interrupted_1'), { recursive: true });
    await writeFile(join(base, 't/b/interrupted_1/original.png'), 'renamed but never marked ready');
    await mkdir(join(base, 't/c/halfway_1'), { recursive: true });
    await writeFile(join(base, 't/c/halfway_1/original.png~tmp'), 'half of the bytes');
    const index = new LocalIndex(join(base, '~index.sqlite'));
    index.stage({ key: 't/b/interrupted_1/original.png', size: 30, contentType: 'image/png', lastModified: new Date().toISOString(), metadata: {} });
    index.stage({ key: 't/c/halfway_1/original.png', size: 0, contentType: 'image/png', lastModified: new Date().toISOString(), metadata: {} });
    await index.close();
    const reopened = await LocalProvider.open({ base_path: base });
    assert.deepEqual(await storedFiles(base), ['t/kept.txt']);
    assert.equal(await reopened.exists('t/b/interrupted_1/original.png'), false);
    assert.equal(String(await readAll(await reopened.openDownload('t/kept.txt'))), 'kept');
  });

  it('never shows a half-written object: the file appears only when complete', async () => {
    const base = await tempDir('local-atomic');
    const provider = await LocalProvider.open({ base_path: base });
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    // Past the small-object size, so the bytes stream to the file as they come.
    async function* slow() { yield Buffer.alloc(300_000, 1); await gate; yield Buffer.alloc(1000, 2); }
    const pending = provider.upload('t/a/obj.bin', slow(), { contentType: 'application/octet-stream', metadata: {} });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await provider.exists('t/a/obj.bin'), false);
    await assert.rejects(provider.getMetadata('t/a/obj.bin'), NotFoundError);
    assert.deepEqual(await storedFiles(base), ['t/a/obj.bin~tmp'], 'an upload in progress is only its ~tmp file');
    release();
    await pending;
    assert.equal((await stat(join(base, 't/a/obj.bin'))).size, 301_000);
  });

  it('writes a small object whole once its last byte is in: nothing shows at its key before', async () => {
    const base = await tempDir('local-atomic-small');
    const provider = await LocalProvider.open({ base_path: base });
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    async function* slow() { yield Buffer.alloc(1000, 1); await gate; yield Buffer.alloc(1000, 2); }
    const pending = provider.upload('t/a/obj.bin', slow(), { contentType: 'application/octet-stream', metadata: {} });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await provider.exists('t/a/obj.bin'), false);
    assert.deepEqual(await storedFiles(base), ['t/a/obj.bin~tmp'], 'a small upload in progress is only its (empty) ~tmp file');
    assert.equal((await stat(join(base, 't/a/obj.bin~tmp'))).size, 0);
    release();
    await pending;
    const stored = await readFile(join(base, 't/a/obj.bin'));
    assert.deepEqual(stored, Buffer.concat([Buffer.alloc(1000, 1), Buffer.alloc(1000, 2)]));
    assert.equal((await provider.getMetadata('t/a/obj.bin')).size, 2000);
    await provider.close();
  });

  it('refuses a second upload of a key being stored, and lets the first one finish', async () => {
    const base = await tempDir('local-conflict');
    const provider = await LocalProvider.open({ base_path: base });
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    async function* slow() { yield Buffer.alloc(1000, 1); await gate; yield Buffer.alloc(1000, 2); }
    const first = provider.upload('t/a/obj.bin', slow(), { contentType: 'application/octet-stream', metadata: {} });
    await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(provider.upload('t/a/obj.bin', chunksOf(Buffer.from('other'), 2), { contentType: 'text/plain', metadata: {} }), (e: unknown) => e instanceof StorageError && e.code === 'CONFLICT');
    release();
    await first;
    // The refused upload left the first one's index entry alone: its object is there and visible.
    assert.equal((await provider.getMetadata('t/a/obj.bin')).size, 2000);
    assert.deepEqual(await storedFiles(base), ['t/a/obj.bin']);
    await provider.close();
    const reopened = await LocalProvider.open({ base_path: base });
    assert.equal((await reopened.getMetadata('t/a/obj.bin')).contentType, 'application/octet-stream');
  });

  it('keeps metadata durably in the index beside the objects', async () => {
    const base = await tempDir('local-meta');
    const first = await LocalProvider.open({ base_path: base });
    await first.upload('t/x.txt', chunksOf(Buffer.from('hello'), 2), { contentType: 'text/plain', metadata: { sha256: 'abc' } });
    await first.close();
    const reopened = await LocalProvider.open({ base_path: base });
    const meta = await reopened.getMetadata('t/x.txt');
    assert.equal(meta.contentType, 'text/plain');
    assert.equal(meta.size, 5);
    assert.equal(meta.metadata.sha256, 'abc');
    assert.ok((await filesUnder(base)).includes('~index.sqlite'));
  });

  it('refuses to follow symbolic links out of the base directory', async () => {
    const base = await tempDir('local-symlink');
    const outside = await tempDir('local-outside');
    await writeFile(join(outside, 'x.txt'), 'top secret');
    await writeFile(join(outside, 'y.txt'), 'also secret');
    const first = await LocalProvider.open({ base_path: base });
    await first.upload('t/a/x.txt', chunksOf(Buffer.from('mine'), 2), { contentType: 'text/plain', metadata: {} });
    await first.upload('t/b/y.txt', chunksOf(Buffer.from('mine too'), 2), { contentType: 'text/plain', metadata: {} });
    await first.close();
    // Someone swaps a stored object's folder, and another's file, for links to the outside.
    await rename(join(base, 't/a'), join(base, 't/a-moved'));
    await symlink(outside, join(base, 't/a'));
    await rm(join(base, 't/b/y.txt'));
    await symlink(join(outside, 'y.txt'), join(base, 't/b/y.txt'));
    await symlink(outside, join(base, 'escape'));
    const provider = await LocalProvider.open({ base_path: base });
    await assert.rejects(provider.openDownload('t/a/x.txt'), SecurityError);
    await assert.rejects(provider.openDownload('t/b/y.txt'), SecurityError);
    await assert.rejects(provider.openFile('t/a/x.txt'), SecurityError);
    await assert.rejects(provider.openFile('t/b/y.txt'), SecurityError);
    await assert.rejects(provider.delete('t/a/x.txt'), SecurityError);
    await assert.rejects(provider.upload('t/a/new.txt', chunksOf(Buffer.from('x'), 1), { contentType: 'text/plain', metadata: {} }), SecurityError);
    await assert.rejects(provider.upload('escape/new.txt', chunksOf(Buffer.from('x'), 1), { contentType: 'text/plain', metadata: {} }), SecurityError);
    // Paths that were never stored are not objects, whatever the disk holds there.
    await assert.rejects(provider.openDownload('escape/x.txt'), NotFoundError);
    await assert.rejects(provider.openFile('escape/x.txt'), NotFoundError);
    assert.equal(await provider.exists('escape/x.txt'), false);
    assert.equal(await provider.delete('escape/x.txt'), false);
    assert.deepEqual(await filesUnder(outside), ['x.txt', 'y.txt']);
    assert.equal(await readFile(join(outside, 'x.txt'), 'utf8'), 'top secret');
    assert.deepEqual((await provider.list('escape/')).items, []);
  });

  it('refuses unsafe keys on every operation', async () => {
    const provider = await LocalProvider.open({ base_path: await tempDir('local-keys') });
    for (const key of ['../x', '/etc/passwd', 'a/../../x', 'a//b', '~index.sqlite', '~tmp/x', '']) {
      await assert.rejects(provider.openDownload(key), SecurityError, key);
      await assert.rejects(provider.openFile(key), SecurityError, key);
      await assert.rejects(provider.upload(key, chunksOf(Buffer.from('x'), 1), { contentType: 'text/plain', metadata: {} }), SecurityError, key);
      await assert.rejects(provider.delete(key), SecurityError, key);
    }
  });

  it('removes empty folders when the last object in them is deleted', async () => {
    const base = await tempDir('local-tidy');
    const provider = await LocalProvider.open({ base_path: base });
    await provider.upload('t/img/b/a_1/original.png', chunksOf(Buffer.from('x'), 1), { contentType: 'image/png', metadata: {} });
    await provider.upload('t/img/keep.png', chunksOf(Buffer.from('y'), 1), { contentType: 'image/png', metadata: {} });
    await provider.delete('t/img/b/a_1/original.png');
    assert.deepEqual((await import('node:fs')).readdirSync(join(base, 't/img')), ['keep.png']);
    assert.equal(await readAll(await provider.openDownload('t/img/keep.png')).then(String), 'y');
  });

  it('survives concurrent stores and deletes in the same folder', async () => {
    const provider = await LocalProvider.open({ base_path: await tempDir('local-race') });
    await Promise.all(Array.from({ length: 50 }, async (_, i) => {
      await provider.upload(`t/f/${i}.txt`, chunksOf(Buffer.from(String(i)), 1), { contentType: 'text/plain', metadata: {} });
      if (i % 2) await provider.delete(`t/f/${i}.txt`);
    }));
    const left = (await provider.list('t/f/', { limit: 100 })).items.map((i) => i.key);
    assert.equal(left.length, 25);
  });
});
