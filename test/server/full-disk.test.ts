import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storedFiles } from '../helpers.ts';
import { startTestServer } from './server-harness.ts';

/**
 * A full disk, for real: the data directory (catalog, local files, index) on an 8 MiB tmpfs
 * filled to the last byte. Uploads answer 507 and leave nothing; deletes succeed, so space can be
 * freed through the API; /readyz names no path and leaves no probe file.
 */

const mountPoint = await mkdtemp(join(tmpdir(), 'boards-full-disk-'));
let skip: string | false = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', mountPoint], { stdio: 'pipe' });
} catch (error) {
  skip = `SKIPPED LOUDLY: cannot mount a small tmpfs here (${(error as Error).message.split('\n')[0]}); the full-disk behaviour is NOT tested on this machine`;
  console.warn(skip);
}

describe('on a full disk', { skip }, async () => {
  const filesDir = join(mountPoint, 'files');
  const server = await startTestServer({ storage: { data_dir: mountPoint, max_file_size: 4 * 1024 * 1024, trash_retention: 0, providers: { local: { type: 'local', config: { base_path: filesDir } } } } });
  after(async () => {
    // The server closes first (its after hook was registered first), then the filesystem goes.
    execFileSync('umount', [mountPoint]);
    await rmdir(mountPoint);
  });
  const alice = await server.as('alice');

  const upload = (body: Uint8Array) => fetch(`${server.url}/v1/artifacts?artifactType=model`, { method: 'POST', headers: { ...alice, 'content-type': 'application/octet-stream' }, body });

  /** Write a file until the filesystem refuses another byte. */
  async function fill(): Promise<string> {
    const path = join(mountPoint, 'filler');
    const handle = await open(path, 'w');
    try {
      for (let block = randomBytes(64 * 1024); ;) {
        try {
          await handle.write(block);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
          if (block.length === 1) break;
          block = block.subarray(0, Math.ceil(block.length / 2));
        }
      }
    } finally {
      await handle.close();
    }
    return path;
  }

  it('uploads answer 507 and leave nothing, deletes succeed, /readyz names no path', async () => {
    const stored: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await upload(randomBytes(1024 * 1024));
      assert.equal(res.status, 201, await res.clone().text());
      stored.push((await res.json() as { storageKey: string }).storageKey);
    }
    const filler = await fill();
    const objectsBefore = await storedFiles(filesDir);
    assert.deepEqual(objectsBefore, [...stored].sort());

    for (const size of [1024 * 1024, 10_000]) {
      const refused = await upload(randomBytes(size));
      assert.equal(refused.status, 507, await refused.clone().text());
      const { error } = await refused.json() as { error: { code: string; message: string } };
      assert.equal(error.code, 'INSUFFICIENT_STORAGE');
      assert.match(error.message, /(disk is full|no space left)/);
      // Nothing behind: no temp file, no object, no record.
      assert.deepEqual(await storedFiles(filesDir), objectsBefore);
      assert.deepEqual((await server.storage.listArtifacts({ tenantId: 'alice' })).items.map((i) => i.storageKey).sort(), [...stored].sort());
    }

    for (let i = 0; i < 3; i++) {
      const ready = await fetch(`${server.url}/readyz`);
      const text = await ready.text();
      assert.ok(!text.includes(mountPoint), `/readyz leaks a path: ${text}`);
      const report = JSON.parse(text) as { ok: boolean; providers: Record<string, { ok: boolean; error?: string }> };
      if (!report.ok) assert.equal(report.providers.local?.error, 'INSUFFICIENT_STORAGE');
    }
    assert.deepEqual(await readdir(join(filesDir, '~tmp')), [], 'the health probe left files');

    // Deletes free the space, through the API.
    for (const key of stored) {
      const res = await fetch(`${server.url}/v1/artifacts/${key}`, { method: 'DELETE', headers: alice });
      assert.equal(res.status, 204, `DELETE on a full disk: ${res.status} ${await res.text()}`);
    }
    assert.deepEqual(await storedFiles(filesDir), []);
    assert.equal((await server.storage.listArtifacts({ tenantId: 'alice' })).items.length, 0);
    const again = await upload(randomBytes(1024 * 1024));
    assert.equal(again.status, 201, await again.clone().text());
    await rm(filler);
  });
});
