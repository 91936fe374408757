import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createStorageManager } from '../../src/manager/create.ts';
import type { StorageManager } from '../../src/manager/storage-manager.ts';
import { ConfigError } from '../../src/errors.ts';
import { filesUnder, tempDir } from '../helpers.ts';

/*
 * A base joined to the SQLite catalog keeps its index as rows of the catalog's database, and
 * `~index.location` names that file by its absolute path. These tests move or copy the catalog
 * (data_dir) on a real disk, as an operator restoring onto a new machine or volume does.
 */

function openStorage(dataDir: string, basePath: string): Promise<StorageManager> {
  return createStorageManager({ config: { data_dir: dataDir, signing_secret: 's'.repeat(32), providers: { local: { type: 'local', config: { base_path: basePath } } } }, env: {} });
}

async function locationOf(basePath: string): Promise<{ database: string; root: string }> {
  return JSON.parse(await readFile(join(basePath, '~index.location'), 'utf8')) as { database: string; root: string };
}

/** The keys a catalog file holds index rows for, for the base's root id (read after the manager closed). */
function indexedKeys(catalogPath: string, root: string): string[] {
  const db = new DatabaseSync(catalogPath, { readOnly: true });
  try {
    return (db.prepare('SELECT key FROM local_objects WHERE root = ? ORDER BY key').all(root) as { key: string }[]).map((row) => row.key);
  } finally {
    db.close();
  }
}

/** `{dir}/old` as a data directory with its base in `files/` holding two artifacts (storeTwo), closed. */
async function seededDataDir(dir: string): Promise<{ oldDir: string; stored: { key: string; bytes: Buffer }[]; root: string }> {
  const oldDir = join(dir, 'old');
  const first = await openStorage(oldDir, join(oldDir, 'files'));
  const stored = await storeTwo(first);
  await first.close();
  return { oldDir, stored, root: (await locationOf(join(oldDir, 'files'))).root };
}

/** One small artifact and one past the provider's small-object path (256 KiB), as stored. */
async function storeTwo(storage: StorageManager): Promise<{ key: string; bytes: Buffer }[]> {
  const stored = [];
  for (const bytes of [randomBytes(1000), randomBytes(300 * 1024)]) {
    const ref = await storage.storeArtifact({ artifactId: `a${bytes.length}`, artifactType: 'model', contentType: 'application/octet-stream', content: bytes });
    stored.push({ key: ref.storageKey, bytes });
  }
  return stored;
}

describe('local base whose catalog moved (~index.location)', () => {
  it('data_dir renamed: the base adopts the catalog it is opened with, reads back byte-identical, and its location names the new file', async () => {
    const dir = await tempDir('location-moved');
    const { oldDir, stored, root } = await seededDataDir(dir);

    const newDir = join(dir, 'new');
    await rename(oldDir, newDir);
    const moved = await openStorage(newDir, join(newDir, 'files'));
    try {
      for (const { key, bytes } of stored) assert.deepEqual(Buffer.from(await moved.download(key)), bytes, key);
      assert.deepEqual((await moved.listArtifacts({})).items.map((ref) => ref.storageKey).sort(), stored.map((s) => s.key).sort());
      const third = await moved.storeArtifact({ artifactId: 'after', artifactType: 'model', contentType: 'application/octet-stream', content: Buffer.from('after the move') });
      assert.equal(String(await moved.download(third.storageKey)), 'after the move');
    } finally {
      await moved.close();
    }
    assert.deepEqual(await locationOf(join(newDir, 'files')), { database: join(newDir, 'catalog.sqlite'), root }, 'the location names the catalog in use, same root');
    assert.deepEqual((await filesUnder(join(newDir, 'files'))).filter((f) => f.startsWith('~index.location')), ['~index.location'], 'no temp file of the rewrite is left');
    assert.equal(indexedKeys(join(newDir, 'catalog.sqlite'), root).length, 3);
  });

  it('data_dir copied, the old copy left behind: the catalog the service is configured with wins, and the stale copy is left untouched', async () => {
    const dir = await tempDir('location-copied');
    const { oldDir, stored, root } = await seededDataDir(dir);

    const newDir = join(dir, 'new');
    await cp(oldDir, newDir, { recursive: true });
    const copy = await openStorage(newDir, join(newDir, 'files'));
    let added: string;
    try {
      for (const { key, bytes } of stored) assert.deepEqual(Buffer.from(await copy.download(key)), bytes, key);
      added = (await copy.storeArtifact({ artifactId: 'new', artifactType: 'model', contentType: 'application/octet-stream', content: Buffer.from('only in the copy') })).storageKey;
      assert.equal(await copy.deleteArtifact(stored[0]!.key), true);
    } finally {
      await copy.close();
    }
    assert.equal((await locationOf(join(newDir, 'files'))).database, join(newDir, 'catalog.sqlite'));
    // The index rows went to the catalog in use, beside its artifact records; the old copy is as it was.
    const inNew = indexedKeys(join(newDir, 'catalog.sqlite'), root);
    assert.ok(inNew.includes(added), 'the new object is indexed in the catalog in use');
    assert.deepEqual(indexedKeys(join(oldDir, 'catalog.sqlite'), root), stored.map((s) => s.key).sort(), 'the stale copy keeps its own rows only');
    assert.equal((await locationOf(join(oldDir, 'files'))).database, join(oldDir, 'catalog.sqlite'));

    // Both stores open and serve what their own catalog records.
    const again = await openStorage(newDir, join(newDir, 'files'));
    try {
      assert.equal(String(await again.download(added)), 'only in the copy');
      assert.deepEqual(Buffer.from(await again.download(stored[1]!.key)), stored[1]!.bytes);
    } finally {
      await again.close();
    }
    const old = await openStorage(oldDir, join(oldDir, 'files'));
    try {
      assert.equal(await old.exists(added), false);
      assert.deepEqual(Buffer.from(await old.download(stored[0]!.key)), stored[0]!.bytes);
    } finally {
      await old.close();
    }
  });

  it('a catalog that holds none of the base\'s index, with the named one missing: a clear error naming both files, and nothing is changed', async () => {
    const dir = await tempDir('location-missing');
    const base = join(dir, 'files');
    const first = await openStorage(join(dir, 'data'), base);
    const stored = await storeTwo(first);
    await first.close();
    await rename(join(dir, 'data'), join(dir, 'data-moved'));
    const location = await readFile(join(base, '~index.location'), 'utf8');

    const wrong = join(dir, 'other');
    await assert.rejects(openStorage(wrong, base), (error: Error) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, /storage\.providers\.local\.config\.base_path/);
      assert.ok(error.message.includes(join(dir, 'data', 'catalog.sqlite')), error.message);
      assert.ok(error.message.includes(join(wrong, 'catalog.sqlite')), error.message);
      assert.match(error.message, /point data_dir .* at the catalog that holds/);
      return true;
    });
    assert.equal(await readFile(join(base, '~index.location'), 'utf8'), location, 'the location is left as it was');

    // Pointed at the catalog that holds it, the base (kept outside data_dir) opens.
    const right = await openStorage(join(dir, 'data-moved'), base);
    try {
      for (const { key, bytes } of stored) assert.deepEqual(Buffer.from(await right.download(key)), bytes, key);
    } finally {
      await right.close();
    }
    assert.equal((await locationOf(base)).database, join(dir, 'data-moved', 'catalog.sqlite'));
  });

  it('a joined base that holds no objects yet follows its catalog when the named file is gone', async () => {
    const dir = await tempDir('location-empty');
    const first = await openStorage(join(dir, 'old'), join(dir, 'old', 'files'));
    await first.close();
    await rename(join(dir, 'old'), join(dir, 'new'));
    const moved = await openStorage(join(dir, 'new'), join(dir, 'new', 'files'));
    try {
      const ref = await moved.storeArtifact({ artifactId: 'first', artifactType: 'model', contentType: 'application/octet-stream', content: Buffer.from('first') });
      assert.equal(String(await moved.download(ref.storageKey)), 'first');
    } finally {
      await moved.close();
    }
    assert.equal((await locationOf(join(dir, 'new', 'files'))).database, join(dir, 'new', 'catalog.sqlite'));
  });
});
