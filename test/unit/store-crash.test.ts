import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createStorageManager } from '../../src/index.ts';
import type { ArtifactReference } from '../../src/index.ts';
import { filesUnder, storedFiles, tempDir } from '../helpers.ts';

describe('a process killed in the middle of a stream of stores', () => {
  it('loses no acknowledged store, and what it leaves is whole or gone after a restart', async () => {
    const dataDir = await tempDir('store-crash');
    // Enough stores for several background checkpoints of the catalog (every 100) and the index (every 400 commits).
    const count = 450;
    const worker = new URL('./store-crash-worker.ts', import.meta.url).pathname;
    const run = await promisify(execFile)(process.execPath, [worker, JSON.stringify({ dataDir, count })], { maxBuffer: 16 * 1024 * 1024 }).catch((error: { stdout: string; signal: string }) => error);
    assert.equal((run as { signal?: string }).signal, 'SIGKILL', 'the worker was killed in the middle of a store');
    const acknowledged = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as { storageKey: string; sha256: string; ok: boolean });
    assert.equal(acknowledged.length, count);
    assert.ok(acknowledged.every((a) => a.ok), 'every reference carried the content\'s SHA-256');

    const storage = await createStorageManager({ config: { data_dir: dataDir, signing_secret: 's'.repeat(32), providers: { local: { type: 'local', config: { base_path: join(dataDir, 'files') } } } }, env: {} });
    try {
      for (const { storageKey, sha256 } of acknowledged) {
        assert.equal((await storage.getArtifact(storageKey)).sha256, sha256, storageKey);
        assert.equal(createHash('sha256').update(await storage.download(storageKey)).digest('hex'), sha256, storageKey);
      }
      const recorded: ArtifactReference[] = [];
      for (let cursor: string | undefined, first = true; first || cursor; first = false) {
        const page = await storage.listArtifacts({ limit: 1000, ...(cursor ? { cursor } : {}) });
        recorded.push(...page.items);
        cursor = page.nextCursor;
      }
      // The store under way at the kill is either recorded and whole, or not recorded at all.
      assert.ok(recorded.length === count || recorded.length === count + 1, `${recorded.length} recorded`);
      for (const ref of recorded) assert.equal(createHash('sha256').update(await storage.download(ref.storageKey)).digest('hex'), ref.sha256);
      const files = await storedFiles(join(dataDir, 'files'));
      assert.ok(files.every((f) => !f.includes('~')), 'no temporary file is left');
      const unrecorded = files.filter((f) => !recorded.some((r) => r.storageKey === f));
      assert.ok(unrecorded.length <= 1, `objects without a record: ${unrecorded.join(', ')}`);
      assert.ok(!(await filesUnder(dataDir)).some((f) => f.endsWith('.spool')));
    } finally {
      await storage.close();
    }
  });
});
