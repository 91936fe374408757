import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, symlink, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalProvider } from '../../src/providers/local.ts';
import { NotFoundError, SecurityError } from '../../src/errors.ts';
import { chunksOf, readAll } from '../contract/provider-contract.ts';
import { filesUnder, tempDir } from '../helpers.ts';

describe('local provider', () => {
  it('removes uploads a crash left in ~tmp when it opens', async () => {
    const base = await tempDir('local-crash');
    await mkdir(join(base, '~tmp'), { recursive: true });
    await writeFile(join(base, '~tmp', 'half-written'), 'partial');
    await LocalProvider.open({ base_path: base });
    assert.deepEqual(await filesUnder(base), []);
  });

  it('never shows a half-written object: the file appears only when complete', async () => {
    const base = await tempDir('local-atomic');
    const provider = await LocalProvider.open({ base_path: base });
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    async function* slow() { yield Buffer.alloc(1000, 1); await gate; yield Buffer.alloc(1000, 2); }
    const pending = provider.upload('t/a/obj.bin', slow(), { contentType: 'application/octet-stream', metadata: {} });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await provider.exists('t/a/obj.bin'), false);
    await assert.rejects(provider.getMetadata('t/a/obj.bin'), NotFoundError);
    assert.deepEqual((await filesUnder(base)).filter((f) => !f.startsWith('~tmp/')), []);
    release();
    await pending;
    assert.equal((await stat(join(base, 't/a/obj.bin'))).size, 2000);
  });

  it('keeps metadata durably beside the object', async () => {
    const base = await tempDir('local-meta');
    const first = await LocalProvider.open({ base_path: base });
    await first.upload('t/x.txt', chunksOf(Buffer.from('hello'), 2), { contentType: 'text/plain', metadata: { sha256: 'abc' } });
    const reopened = await LocalProvider.open({ base_path: base });
    const meta = await reopened.getMetadata('t/x.txt');
    assert.equal(meta.contentType, 'text/plain');
    assert.equal(meta.metadata.sha256, 'abc');
    assert.deepEqual(JSON.parse(await readFile(join(base, 't/x.txt~meta.json'), 'utf8')).size, 5);
  });

  it('refuses to follow symbolic links out of the base directory', async () => {
    const base = await tempDir('local-symlink');
    const outside = await tempDir('local-outside');
    await writeFile(join(outside, 'secret.txt'), 'top secret');
    const provider = await LocalProvider.open({ base_path: base });
    await symlink(outside, join(base, 'escape'));
    await symlink(join(outside, 'secret.txt'), join(base, 'link.txt'));
    await assert.rejects(provider.openDownload('escape/secret.txt'), SecurityError);
    await assert.rejects(provider.getMetadata('escape/secret.txt'), SecurityError);
    await assert.rejects(provider.openDownload('link.txt'), SecurityError);
    await assert.rejects(provider.upload('escape/new.txt', chunksOf(Buffer.from('x'), 1), { contentType: 'text/plain', metadata: {} }), SecurityError);
    await assert.rejects(provider.delete('escape/secret.txt'), SecurityError);
    assert.deepEqual(await filesUnder(outside), ['secret.txt']);
    assert.equal(await readFile(join(outside, 'secret.txt'), 'utf8'), 'top secret');
    assert.deepEqual((await provider.list('')).items, [], 'links are never listed');
  });

  it('refuses unsafe keys on every operation', async () => {
    const provider = await LocalProvider.open({ base_path: await tempDir('local-keys') });
    for (const key of ['../x', '/etc/passwd', 'a/../../x', 'a//b', 'x~meta.json', '~tmp/x', '']) {
      await assert.rejects(provider.openDownload(key), SecurityError, key);
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
    assert.deepEqual((await import('node:fs')).readdirSync(join(base, 't/img')), ['keep.png', 'keep.png~meta.json']);
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
