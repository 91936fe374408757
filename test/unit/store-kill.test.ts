import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createStorageManager } from '../../src/index.ts';
import type { ArtifactReference } from '../../src/index.ts';
import { readAll } from '../contract/provider-contract.ts';
import { storedFiles, tempDir } from '../helpers.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const REPLACED_KEY = 't/replaced/obj_20260101000000_00000000/original.bin';

/** Runs the worker until `delayMs` after its start-up, then SIGKILLs it; returns what it acknowledged. */
async function killedRun(dataDir: string, run: number, delayMs: number): Promise<{ storageKey: string; sha256: string; ok: boolean }[]> {
  const worker = new URL('./store-kill-worker.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, [worker, JSON.stringify({ dataDir, run })], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const first = !out.includes('started');
    out += chunk;
    if (first && out.includes('started')) setTimeout(() => child.kill('SIGKILL'), delayMs);
  });
  const signal = await new Promise<string | null>((resolve) => child.on('exit', (_code, s) => resolve(s)));
  assert.equal(signal, 'SIGKILL', `run ${run} was killed while storing (output: ${out.slice(-500)})`);
  // The last line may be cut short by the kill: only whole lines were acknowledged.
  return out.split('\n').slice(0, -1).map((line) => JSON.parse(line) as { storageKey?: string; sha256: string; ok: boolean }).filter((l): l is { storageKey: string; sha256: string; ok: boolean } => l.storageKey !== undefined);
}

describe('SIGKILL at random moments of stores on the local provider joined to the SQLite catalog', () => {
  it('loses no acknowledged store, leaves no row without its file, no file without its row, and never an old row over new bytes', async () => {
    const dataDir = await tempDir('store-kill');
    const acknowledged: { storageKey: string; sha256: string; ok: boolean }[] = [];
    const runs = 8;
    for (let run = 0; run < runs; run++) {
      // Each start also removes what the previous kill left.
      const acked = await killedRun(dataDir, run, 150 + Math.floor(Math.random() * 700));
      acknowledged.push(...acked);
    }
    assert.ok(acknowledged.length > runs * 5, `${acknowledged.length} stores acknowledged`);
    assert.ok(acknowledged.every((a) => a.ok), 'every reference carried the content\'s SHA-256');
    // The index lives in the catalog's database, not in a file of its own.
    const location = JSON.parse(await readFile(join(dataDir, 'files', '~index.location'), 'utf8')) as { database: string };
    assert.equal(location.database, join(dataDir, 'catalog.sqlite'));

    const storage = await createStorageManager({ config: { data_dir: dataDir, signing_secret: 's'.repeat(32), providers: { local: { type: 'local', config: { base_path: join(dataDir, 'files') } } } }, env: {} });
    try {
      for (const { storageKey, sha256: expected } of acknowledged) {
        assert.equal((await storage.getArtifact(storageKey)).sha256, expected, storageKey);
        assert.equal(sha256(await storage.download(storageKey)), expected, storageKey);
      }
      const recorded: ArtifactReference[] = [];
      for (let cursor: string | undefined, first = true; first || cursor; first = false) {
        const page = await storage.listArtifacts({ limit: 1000, ...(cursor ? { cursor } : {}) });
        recorded.push(...page.items);
        cursor = page.nextCursor;
      }
      // At most one store per loop per run was under way at a kill, recorded or not.
      assert.ok(recorded.length >= acknowledged.length && recorded.length <= acknowledged.length + 2 * runs, `${recorded.length} recorded, ${acknowledged.length} acknowledged`);
      for (const ref of recorded) assert.equal(sha256(await storage.download(ref.storageKey)), ref.sha256, `${ref.storageKey}: its row has its file, whole`);
      const local = storage.provider('local');
      const files = await storedFiles(join(dataDir, 'files'));
      assert.deepEqual(files.filter((f) => f.includes('~')), [], 'no temporary file is left');
      const recordedKeys = new Set(recorded.map((r) => r.storageKey));
      assert.deepEqual(files.filter((f) => !recordedKeys.has(f) && f !== REPLACED_KEY), [], 'no file without a row');
      for (const ref of recorded) assert.ok(await local.exists(ref.storageKey), `${ref.storageKey} is in the provider's index`);
      // The replaced object: gone, or its row's metadata describes the bytes at its key.
      if (await local.exists(REPLACED_KEY)) {
        const { metadata } = await local.getMetadata(REPLACED_KEY);
        assert.equal(sha256(await readAll(await local.openDownload(REPLACED_KEY))), metadata.sha256, 'the row and the bytes of the replaced object agree');
      } else {
        assert.ok(!files.includes(REPLACED_KEY), 'an invisible replaced object has no file');
      }
    } finally {
      await storage.close();
    }
  });
});
