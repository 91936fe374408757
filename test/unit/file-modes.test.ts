import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createStorageManager } from '../../src/manager/create.ts';
import { media } from '../fixtures/media.ts';
import { filesUnder, tempDir } from '../helpers.ts';

/** What the service writes is its own: files 0600, folders 0700 (catalog, index, objects, data_dir). */

describe('file modes on a real disk', () => {
  it('creates the catalog, the index, objects and their folders readable by the owner only', async () => {
    const dataDir = join(await tempDir('modes'), 'data');
    const storage = await createStorageManager({ config: { data_dir: dataDir, providers: { local: { type: 'local', config: { base_path: join(dataDir, 'files') } } } }, env: {} });
    let key: string;
    try {
      key = (await storage.storeArtifact({ artifactId: 'a', artifactType: 'image', contentType: 'image/png', content: media.png(3000), tenantId: 't', boardId: 'b' })).storageKey;
      const files = await filesUnder(dataDir);
      // The index is kept in the catalog's database; the base names it, and keeps this process's journal of new keys.
      assert.ok(files.includes('catalog.sqlite') && files.includes('files/~index.location') && files.includes(`files/~journal.${process.pid}`) && files.includes(`files/${key}`), files.join(', '));
      for (const file of files) {
        assert.equal((await stat(join(dataDir, file))).mode & 0o777, 0o600, `${file} is not 0600`);
      }
      const folders = [dataDir, join(dataDir, 'files'), join(dataDir, 'files', '~tmp'), join(dataDir, 'files', 't'), join(dataDir, 'files', key, '..')];
      for (const folder of folders) {
        assert.equal((await stat(folder)).mode & 0o777, 0o700, `${folder} is not 0700`);
      }
    } finally {
      await storage.close();
    }
  });
});
