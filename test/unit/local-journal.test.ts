import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { LocalProvider } from '../../src/providers/local.ts';
import { chunksOf, readAll } from '../contract/provider-contract.ts';
import { storedFiles, tempDir } from '../helpers.ts';

const HELD_KEY = 't/held/obj_20260101000000_00000000/original.bin';

/** Another process storing into `base`, its store held half written until it is killed. */
async function holdingProcess(base: string): Promise<ChildProcess> {
  const worker = new URL('./local-journal-worker.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, [worker, JSON.stringify({ base, key: HELD_KEY })], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('held')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the holding process exited (${code}) before its store was under way: ${out}`)));
  });
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  assert.equal(child.exitCode, null, 'the holding process ran until it was killed');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

describe('local provider: the journal of new keys, with several processes on one base', () => {
  it('a process that empties its journal keeps another\'s lines, so what that one\'s crash leaves goes at the next start', async () => {
    const base = join(await tempDir('journal-processes'), 'files');
    const ours = await LocalProvider.open({ base_path: base });
    const child = await holdingProcess(base);
    try {
      // Enough stores, each settled, for this process to empty its journal (more than 1,000 lines).
      for (let i = 0; i < 1100; i++) await ours.upload(`t/ours/o${i}.txt`, chunksOf(Buffer.from(`object ${i}`), 1), { contentType: 'text/plain', metadata: {} });
      const journals = (await readdir(base)).filter((name) => name.startsWith('~journal'));
      assert.deepEqual(journals.sort(), [`~journal.${child.pid}`, `~journal.${process.pid}`].sort());
      // Opened while the other process runs: its half-written store is left alone.
      const meanwhile = await LocalProvider.open({ base_path: join(base, '.') });
      await meanwhile.close();
      assert.ok(existsSync(join(base, `${HELD_KEY}~tmp`)), 'a live process\'s temp file is not removed');
    } finally {
      await kill(child);
    }
    await ours.close();
    const next = await LocalProvider.open({ base_path: base });
    try {
      const left = await storedFiles(base);
      assert.equal(left.length, 1100);
      assert.deepEqual(left.filter((f) => !f.startsWith('t/ours/')), [], 'the killed store\'s files are removed');
      assert.equal(existsSync(join(base, `~journal.${child.pid}`)), false, 'the dead process\'s journal is removed once read');
      assert.equal(String(await readAll(await next.openDownload('t/ours/o1099.txt'))), 'object 1099');
    } finally {
      await next.close();
    }
    assert.equal(existsSync(join(base, `~journal.${process.pid}`)), false, 'closed with nothing in flight, a process leaves no journal');
  });

  it('a replacement staged by a process still running is left alone at another\'s start, and cleared once that process is gone', async () => {
    const base = join(await tempDir('journal-staged'), 'files');
    const key = 't/staged/obj_20260101000000_00000000/original.bin';
    const first = await LocalProvider.open({ base_path: base });
    await first.upload(key, chunksOf(Buffer.from('the object as stored'), 1), { contentType: 'text/plain', metadata: {} });
    await first.close();
    // What a process replacing the object leaves while it runs: the key noted in its journal, the
    // row staged pending (the new bytes are renamed into place next).
    const other = spawn(process.execPath, ['-e', 'setInterval(() => undefined, 60_000)'], { stdio: 'ignore' });
    try {
      await writeFile(join(base, `~journal.${other.pid}`), `${key}\n`);
      const index = new DatabaseSync(join(base, '~index.sqlite'));
      index.prepare('UPDATE objects SET ready = 0 WHERE key = ?').run(key);
      index.close();
      const meanwhile = await LocalProvider.open({ base_path: base });
      await meanwhile.close();
      assert.ok(existsSync(join(base, key)), 'the running process\'s object is not removed');
      const after = new DatabaseSync(join(base, '~index.sqlite'));
      const row = after.prepare('SELECT ready FROM objects WHERE key = ?').get(key);
      after.close();
      assert.deepEqual({ ...row }, { ready: 0 }, 'its staged row is left for it to finish');
    } finally {
      await kill(other);
    }
    // That process died mid-replacement: the next start removes the object and its staged row.
    const next = await LocalProvider.open({ base_path: base });
    try {
      assert.equal(existsSync(join(base, key)), false);
      assert.equal(await next.exists(key), false);
      assert.equal(existsSync(join(base, `~journal.${other.pid}`)), false);
    } finally {
      await next.close();
    }
  });
});
