import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Catalog } from '../../src/catalog/catalog.ts';
import { kysely } from '../../src/catalog/kysely-runtime.ts';
import { migratorSchema, schemaOf } from '../../src/catalog/sqlite-schema.ts';
import { SQLITE_MIGRATIONS, SQLITE_SCHEMA } from '../../src/catalog/sqlite-schema-snapshot.ts';
import { insertSql, RETIRE_PENDING_UPLOAD_SQL, SQLITE_WRITES } from '../../src/catalog/sqlite-writes.ts';
import { tempDir } from '../helpers.ts';

/** The migrations a SQLite catalog records as run, in name order. */
function ranMigrations(path: string): string[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare('SELECT name FROM kysely_migration ORDER BY name').all().map((r) => String(r.name));
  } finally {
    db.close();
  }
}

function schemaAt(path: string): string[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return schemaOf(db);
  } finally {
    db.close();
  }
}

describe('SQLite catalog without Kysely', () => {
  it('the schema snapshot is what the migrations build (run `node scripts/catalog-schema.ts` after adding one)', async () => {
    const built = await migratorSchema();
    assert.deepEqual([...SQLITE_MIGRATIONS], built.migrations);
    assert.deepEqual([...SQLITE_SCHEMA], built.schema);
  });

  it('a new catalog gets the migrator\'s schema and bookkeeping; an older one is migrated as before', async () => {
    const dataDir = await tempDir('catalog-snapshot');
    const path = join(dataDir, 'catalog.sqlite');
    const built = await migratorSchema();
    await (await Catalog.open({ dataDir })).close();
    assert.deepEqual(schemaAt(path), built.schema);
    assert.deepEqual(ranMigrations(path), [...built.migrations].sort());
    const lock = new DatabaseSync(path, { readOnly: true });
    assert.deepEqual(lock.prepare('SELECT id, is_locked FROM kysely_migration_lock').all().map((r) => ({ ...r })), [{ id: 'migration_lock', is_locked: 0 }]);
    lock.close();

    // A database from before the last migration: the migrator runs it, and the schema ends the same.
    const last = built.migrations.at(-1)!;
    const older = new DatabaseSync(path);
    older.exec('DROP INDEX artifacts_original; CREATE INDEX "artifacts_original" on "artifacts" ("original_key")');
    older.prepare('DELETE FROM kysely_migration WHERE name = ?').run(last);
    older.close();
    assert.equal(last, '0019_partial_original_index', 'this test undoes the last migration by hand: update it with the new one');
    await (await Catalog.open({ dataDir })).close();
    assert.deepEqual(schemaAt(path), built.schema);
    assert.deepEqual(ranMigrations(path), [...built.migrations].sort());
  });

  it('the precompiled store statements are the ones Kysely compiles', () => {
    const db = new (kysely().Kysely)<Record<string, Record<string, unknown>>>({ dialect: new (kysely().SqliteDialect)({ database: async () => { throw new Error('not used'); } }) });
    for (const [table, columns] of Object.entries(SQLITE_WRITES)) {
      const compiled = db.insertInto(table).values(Object.fromEntries(columns.map((c) => [c, c]))).compile();
      assert.equal(insertSql(table, columns), compiled.sql);
      assert.deepEqual(compiled.parameters, columns);
    }
    assert.equal(RETIRE_PENDING_UPLOAD_SQL, db.deleteFrom('pending_uploads').where('storage_key', '=', 'k').compile().sql);
  });

  it('a program that opens storage and stores never loads Kysely; a later query loads it on the same connection', async () => {
    const dataDir = await tempDir('catalog-no-kysely');
    const src = (p: string) => JSON.stringify(new URL(`../../src/${p}`, import.meta.url).href);
    const code = `
      const { createDevelopmentStorage } = await import(${src('index.ts')});
      const { kyselyLoaded } = await import(${src('catalog/kysely-runtime.ts')});
      const storage = await createDevelopmentStorage({ dataDir: ${JSON.stringify(dataDir)} });
      const first = await storage.storeArtifact({ artifactId: 'a', artifactType: 'text', contentType: 'text/plain', content: 'one' });
      const afterStore = kyselyLoaded();
      const page = await storage.listArtifacts({});
      const second = await storage.storeArtifact({ artifactId: 'b', artifactType: 'text', contentType: 'text/plain', content: 'two' });
      const both = await storage.listArtifacts({});
      await storage.close();
      await storage.close().catch(() => undefined);
      console.log(JSON.stringify({ afterStore, afterList: kyselyLoaded(), listed: page.items.map((i) => i.storageKey), first: first.storageKey, both: both.items.map((i) => i.storageKey).sort(), second: second.storageKey }));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: fileURLToPath(new URL('../..', import.meta.url)) });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(status, 0, err);
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { afterStore: boolean; afterList: boolean; listed: string[]; first: string; both: string[]; second: string };
    assert.equal(result.afterStore, false, 'opening the storage and storing loaded Kysely');
    assert.equal(result.afterList, true);
    assert.deepEqual(result.listed, [result.first]);
    assert.deepEqual(result.both, [result.first, result.second].sort());
  });

  it('two processes opening one new catalog at once both end with the one schema', async () => {
    const dataDir = await tempDir('catalog-race');
    const catalogUrl = JSON.stringify(new URL('../../src/catalog/catalog.ts', import.meta.url).href);
    const code = `const { Catalog } = await import(${catalogUrl}); const c = await Catalog.open({ dataDir: ${JSON.stringify(dataDir)} }); await c.close(); console.log('ok');`;
    const runs = [0, 1, 2].map(() => new Promise<{ status: number | null; err: string }>((resolve) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', code]);
      let err = '';
      child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      child.on('close', (status) => resolve({ status, err }));
    }));
    for (const { status, err } of await Promise.all(runs)) assert.equal(status, 0, err);
    const built = await migratorSchema();
    assert.deepEqual(schemaAt(join(dataDir, 'catalog.sqlite')), built.schema);
    assert.deepEqual(ranMigrations(join(dataDir, 'catalog.sqlite')), [...built.migrations].sort());
  });
});
