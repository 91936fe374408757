import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createStorageManager } from '../../src/manager/create.ts';
import { NotFoundError } from '../../src/errors.ts';
import { ArtifactRows } from '../../src/server/artifact-rows.ts';
import { tempDir } from '../helpers.ts';

/**
 * The raw GET path's kept catalog references: kept while the SQLite catalog's WAL-index header is
 * unchanged, and gone after any commit, whichever connection made it.
 */

const dataDir = await tempDir('artifact-rows');
const config = { data_dir: dataDir, providers: { local: { type: 'local', config: { base_path: join(dataDir, 'files') } } } };
const storage = await createStorageManager({ config: config as never, env: {} });
// A second connection to the same catalog file, as another worker or the CLI has.
const other = await createStorageManager({ config: config as never, env: {} });
after(async () => {
  await other.close();
  await storage.close();
});

const put = async (artifactId: string) => (await storage.storeArtifact({ artifactId, artifactType: 'model', contentType: 'application/octet-stream', content: new Uint8Array(100).fill(1), tenantId: 'alice' })).storageKey;

describe('kept artifact references', () => {
  it('keeps a reference while nothing commits, and reads again after any commit', async () => {
    const rows = new ArtifactRows(storage);
    assert.ok(rows.keeps, 'a SQLite catalog in a file, in WAL mode');
    const key = await put('kept');
    const first = await rows.lookup(key);
    const second = rows.lookup(key);
    assert.ok(!(second instanceof Promise), 'the second look-up is answered from what was kept');
    assert.equal(second, first);
    // A commit on another connection, of another artifact: everything kept goes.
    await other.setVisibility(await put('unrelated'), 'public');
    assert.ok(rows.lookup(key) instanceof Promise);
  });

  it('sees a visibility change and a delete made on another connection at the next look-up', async () => {
    const rows = new ArtifactRows(storage);
    const key = await put('changed');
    await rows.lookup(key);
    assert.equal((await rows.lookup(key)).visibility, 'private');
    await other.setVisibility(key, 'public');
    assert.equal((await rows.lookup(key)).visibility, 'public');
    assert.ok(!(rows.lookup(key) instanceof Promise));
    await other.deleteArtifact(key);
    await assert.rejects(async () => rows.lookup(key), NotFoundError);
  });

  it('sees this connection\'s own commits too', async () => {
    const rows = new ArtifactRows(storage);
    const key = await put('own');
    await rows.lookup(key);
    await rows.lookup(key);
    await storage.deleteArtifact(key, undefined, { permanent: true });
    await assert.rejects(async () => rows.lookup(key), NotFoundError);
  });

  it('keeps nothing for an in-memory catalog, and nothing once the catalog is closed', async () => {
    const memory = await createStorageManager({ config: { data_dir: await tempDir('artifact-rows-memory'), database_url: 'sqlite::memory:', default_provider: 'memory', providers: { memory: { type: 'memory' } } } as never, env: {} });
    const rows = new ArtifactRows(memory);
    assert.equal(rows.keeps, false);
    const key = (await memory.storeArtifact({ artifactId: 'm', artifactType: 'model', contentType: 'application/octet-stream', content: new Uint8Array(10), tenantId: 'alice' })).storageKey;
    for (let i = 0; i < 2; i++) {
      const found = rows.lookup(key);
      assert.ok(found instanceof Promise, 'looked up every time');
      assert.equal((await found).storageKey, key);
    }
    await memory.close();

    const closing = await createStorageManager({ config: { ...config, data_dir: dataDir } as never, env: {} });
    const closingRows = new ArtifactRows(closing);
    const key2 = await put('closing');
    await closingRows.lookup(key2);
    assert.ok(!(closingRows.lookup(key2) instanceof Promise));
    await closing.close();
    await assert.rejects(async () => closingRows.lookup(key2));
  });
});
