import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { LocalProvider } from '../../src/providers/local.ts';
import { createStorageManager } from '../../src/manager/create.ts';
import type { SharedDatabase } from '../../src/sqlite/shared-database.ts';
import { chunksOf, readAll } from '../contract/provider-contract.ts';
import { storedFiles, tempDir } from '../helpers.ts';

/** A database of the test's own, offered as a catalog offers its own. */
function sharedDatabase(path: string): SharedDatabase & { commits: () => number } {
  const connection = new DatabaseSync(path);
  connection.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
  let commits = 0;
  return { path, connection, exclusively: async (write) => { const result = write(); commits++; return result; }, commits: () => commits };
}

describe('local provider with its index in a shared database', () => {
  it('a deferred object is invisible until the caller\'s transaction commits its row, and gone when abandoned', async () => {
    const dir = await tempDir('local-joined');
    const shared = sharedDatabase(join(dir, 'shared.sqlite'));
    const base = join(dir, 'files');
    const provider = await LocalProvider.open({ base_path: base }, { name: 'local', dataDir: dir, database: shared });
    assert.equal(existsSync(join(base, '~index.sqlite')), false, 'no index file of its own');
    assert.deepEqual(JSON.parse(await readFile(join(base, '~index.location'), 'utf8')).database, shared.path);

    const kept = await provider.upload('t/a/kept.bin', chunksOf(Buffer.from('kept'), 2), { contentType: 'application/octet-stream', metadata: {}, commitWith: shared.connection });
    assert.ok(kept.deferred, 'the upload left the row to the caller');
    assert.equal(await provider.exists('t/a/kept.bin'), false, 'invisible before the commit');
    shared.connection.exec('BEGIN IMMEDIATE');
    kept.deferred.ready();
    shared.connection.exec('COMMIT');
    assert.equal(String(await readAll(await provider.openDownload('t/a/kept.bin'))), 'kept');

    // A transaction that rolls back leaves it invisible; abandoning removes its file.
    const dropped = await provider.upload('t/b/dropped.bin', chunksOf(Buffer.from('dropped'), 3), { contentType: 'application/octet-stream', metadata: {}, commitWith: shared.connection });
    shared.connection.exec('BEGIN IMMEDIATE');
    dropped.deferred!.ready();
    shared.connection.exec('ROLLBACK');
    assert.equal(await provider.exists('t/b/dropped.bin'), false);
    await dropped.deferred!.abandon();
    assert.deepEqual(await storedFiles(base), ['t/a/kept.bin']);
    assert.throws(() => dropped.deferred!.ready(), /abandoned/, 'an abandoned object cannot be made visible');

    // A group commit retried entry by entry: `ready` runs again after its first transaction rolled back.
    const retried = await provider.upload('t/d/retried.bin', chunksOf(Buffer.from('retried'), 2), { contentType: 'application/octet-stream', metadata: {}, commitWith: shared.connection });
    shared.connection.exec('BEGIN IMMEDIATE');
    retried.deferred!.ready();
    shared.connection.exec('ROLLBACK');
    shared.connection.exec('BEGIN IMMEDIATE');
    retried.deferred!.ready();
    assert.throws(() => retried.deferred!.ready(), /UNIQUE|constraint/i, 'twice in one transaction is refused');
    shared.connection.exec('COMMIT');
    assert.equal(String(await readAll(await provider.openDownload('t/d/retried.bin'))), 'retried');
    assert.deepEqual(await storedFiles(base), ['t/a/kept.bin', 't/d/retried.bin']);

    // Without commitWith (or with another connection) the object is visible on return, as alone.
    const other = new DatabaseSync(':memory:');
    const plain = await provider.upload('t/c/plain.bin', chunksOf(Buffer.from('plain'), 2), { contentType: 'text/plain', metadata: {}, commitWith: other });
    assert.equal(plain.deferred, undefined);
    assert.equal(await provider.exists('t/c/plain.bin'), true);
    // Replacing an object stages it pending (its own commit) and is never deferred.
    const replaced = await provider.upload('t/a/kept.bin', chunksOf(Buffer.from('replaced'), 2), { contentType: 'text/plain', metadata: {}, commitWith: shared.connection });
    assert.equal(replaced.deferred, undefined);
    assert.equal((await provider.getMetadata('t/a/kept.bin')).size, 8);
    await provider.close();
    assert.ok(shared.connection.isOpen, 'the shared connection is its owner\'s to close');
    shared.connection.close();
  });

  it('a base joined to a catalog opens alone through the catalog\'s file, and a crash\'s leftovers go at the next start', async () => {
    const dataDir = await tempDir('local-joined-alone');
    const base = join(dataDir, 'files');
    const storage = await createStorageManager({ config: { data_dir: dataDir, signing_secret: 's'.repeat(32), providers: { local: { type: 'local', config: { base_path: base } } } }, env: {} });
    const ref = await storage.storeArtifact({ artifactId: 'a', artifactType: 'model', contentType: 'application/octet-stream', content: Buffer.from('stored through the manager') });
    await storage.close();

    // What a kill between the rename and the commit leaves: a file at a noted key with no row, and a temp file.
    await writeFile(join(base, '~journal'), `${process.pid} t/x/gone_1/original.bin\n${process.pid} t/y/half_1/original.bin\n`);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(base, 't/x/gone_1'), { recursive: true });
    await writeFile(join(base, 't/x/gone_1/original.bin'), 'renamed, never committed');
    await mkdir(join(base, 't/y/half_1'), { recursive: true });
    await writeFile(join(base, 't/y/half_1/original.bin~tmp'), 'half');

    const alone = await LocalProvider.open({ base_path: base });
    assert.equal(String(await readAll(await alone.openDownload(ref.storageKey))), 'stored through the manager');
    assert.deepEqual(await storedFiles(base), [ref.storageKey]);
    assert.equal(existsSync(join(base, '~index.sqlite')), false, 'opened alone, it still uses the catalog\'s file');
    await alone.upload('t/z/alone.txt', chunksOf(Buffer.from('alone'), 2), { contentType: 'text/plain', metadata: {} });
    await alone.close();
    const again = await createStorageManager({ config: { data_dir: dataDir, signing_secret: 's'.repeat(32), providers: { local: { type: 'local', config: { base_path: base } } } }, env: {} });
    try {
      assert.equal(await again.provider('local').exists('t/z/alone.txt'), true);
      assert.equal(String(await again.download(ref.storageKey)), 'stored through the manager');
    } finally {
      await again.close();
    }
  });

  it('a base with an index file of its own keeps it, and one flushed on every store (fsync) keeps its own', async () => {
    const dataDir = await tempDir('local-own-index');
    const first = await LocalProvider.open({ base_path: join(dataDir, 'old') });
    await first.upload('t/old.txt', chunksOf(Buffer.from('old'), 1), { contentType: 'text/plain', metadata: {} });
    await first.close();
    const storage = await createStorageManager({ config: { data_dir: dataDir, signing_secret: 's'.repeat(32), default_provider: 'durable', providers: { old: { type: 'local', config: { base_path: join(dataDir, 'old') } }, durable: { type: 'local', config: { base_path: join(dataDir, 'durable'), fsync: true } } } }, env: {} });
    try {
      assert.equal(await storage.provider('old').exists('t/old.txt'), true);
      const ref = await storage.storeArtifact({ artifactId: 'd', artifactType: 'model', contentType: 'application/octet-stream', content: Buffer.from('durable') });
      assert.equal(String(await storage.download(ref.storageKey)), 'durable');
      for (const name of ['old', 'durable']) {
        assert.equal(existsSync(join(dataDir, name, '~index.sqlite')), true, `${name} keeps an index file`);
        assert.equal(existsSync(join(dataDir, name, '~index.location')), false, `${name} is not joined`);
      }
    } finally {
      await storage.close();
    }
  });
});
