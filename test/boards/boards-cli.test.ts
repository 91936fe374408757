import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { media } from '../fixtures/media.ts';
import { runCli, tempDir } from '../helpers.ts';
import { readZip } from './zip-reader.ts';

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

const cli = (cwd: string, ...args: string[]) => runCli(cwd, args);

describe('boards-storage boards CLI', () => {
  it('lists, downloads as zip, copies and deletes boards', async () => {
    const cwd = await tempDir('boards-cli');
    const png = media.png(4000);
    await writeFile(join(cwd, 'fox.png'), png);
    await writeFile(join(cwd, 'notes.txt'), 'a fox, a board');
    for (const [file, type] of [['fox.png', 'image'], ['notes.txt', 'text']]) {
      const put = await cli(cwd, 'put', file!, '--type', type!, '--board', 'b1', '--tenant', 'alice');
      assert.equal(put.code, 0, put.stderr);
    }

    const ls = await cli(cwd, '--json', 'boards', 'ls', '--tenant', 'alice');
    assert.equal(ls.code, 0, ls.stderr);
    const listed = JSON.parse(ls.stdout) as { items: { boardId: string; artifacts: number; bytes: number; cover?: { storageKey: string } }[] };
    assert.deepEqual(listed.items.map((b) => [b.boardId, b.artifacts, b.bytes]), [['b1', 2, 4000 + 14]]);
    assert.match(listed.items[0]!.cover!.storageKey, /^alice\/image\/b1\/fox_/);
    assert.match((await cli(cwd, 'boards', 'ls', '--tenant', 'alice')).stdout, /^BOARD\s+ARTIFACTS\s+SIZE/);

    const get = await cli(cwd, '--json', 'boards', 'get', 'b1', '-o', 'b1.zip', '--tenant', 'alice');
    assert.equal(get.code, 0, get.stderr);
    assert.equal(JSON.parse(get.stdout).count, 2);
    const { names, files } = await readZip(join(cwd, 'b1.zip'));
    assert.deepEqual(names, ['manifest.json', 'image/fox.png', 'text/notes.txt']);
    assert.equal(files.get('image/fox.png')!.sha256, sha256(png));
    assert.equal(files.get('text/notes.txt')!.sha256, sha256('a fox, a board'));
    assert.deepEqual((await readdir(cwd)).filter((f) => f.endsWith('.part')), [], 'no partial file left');
    const textOnly = await cli(cwd, 'boards', 'get', 'b1', '-o', 'text.zip', '--tenant', 'alice', '--type', 'text');
    assert.equal(textOnly.code, 0, textOnly.stderr);
    assert.deepEqual((await readZip(join(cwd, 'text.zip'))).names, ['manifest.json', 'text/notes.txt']);

    const cp = await cli(cwd, '--json', 'boards', 'cp', 'b1', '--to', 'b2', '--tenant', 'alice');
    assert.equal(cp.code, 0, cp.stderr);
    assert.deepEqual(JSON.parse(cp.stdout), { boardId: 'b1', toBoardId: 'b2', copied: 2, variants: 0, bytes: 4014, serverSide: 2 });
    const again = await cli(cwd, 'boards', 'cp', 'b1', '--to', 'b2', '--tenant', 'alice');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^boards-storage: CONFLICT: board b2 already has artifacts/);

    const rm = await cli(cwd, '--json', 'boards', 'rm', 'b2', '--tenant', 'alice');
    assert.equal(rm.code, 0, rm.stderr);
    assert.deepEqual(JSON.parse(rm.stdout), { boardId: 'b2', deleted: 2, trashed: true });
    assert.deepEqual((JSON.parse((await cli(cwd, '--json', 'boards', 'ls', '--tenant', 'alice')).stdout) as typeof listed).items.map((b) => b.boardId), ['b1']);

    const missing = await cli(cwd, 'boards', 'get', 'nope', '-o', 'nope.zip', '--tenant', 'alice');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^boards-storage: NOT_FOUND: board nope not found/);
    assert.equal((await cli(cwd, 'boards', 'rm', 'b1', '--tenant', 'bob')).code, 1, 'another tenant has no such board');
  });
});
