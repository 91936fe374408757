import type { DatabaseSync } from 'node:sqlite';
import { SQLITE_MIGRATIONS, SQLITE_SCHEMA } from './sqlite-schema-snapshot.ts';
import { kysely } from './kysely-runtime.ts';
import { catalogMigrations } from './migrations.ts';
import { nodeSqliteDialect, openSqlite } from './node-sqlite-dialect.ts';

/**
 * A SQLite catalog's schema without Kysely. Kysely's migrator (with the query builder it runs
 * migrations through) is about 260 modules and 7 MB; a program that opens a catalog and stores
 * needs none of it when the schema is already current, or when the database is new: then the
 * schema the migrations would build is created from a snapshot of it (sqlite-schema-snapshot.ts,
 * written by scripts/catalog-schema.ts from the migrations themselves; a test fails when the
 * two differ), with the migrator's own bookkeeping rows, in one transaction. Any other database
 * (migrations pending, or one this code does not know) goes through the migrator as before.
 */

/** The schema statements of a SQLite database, in the order its objects were made (SQLite's own indexes aside). */
export function schemaOf(db: DatabaseSync): string[] {
  const rows = db.prepare(`SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid`).all();
  return rows.map((row) => String(row.sql));
}

/**
 * Bring the catalog's schema up to date without Kysely when it can be: true when it is (it was
 * already, or the database was new and now holds the snapshot), false when the migrator must run.
 * `migrations`: the names of every migration, which a current database has all run, and no other.
 */
export function migrateWithoutKysely(db: DatabaseSync, migrations: readonly string[]): boolean {
  // The snapshot is of these very migrations; a mismatch (a migration added without running the script) takes the migrator's path.
  const snapshotCurrent = sameNames(SQLITE_MIGRATIONS, migrations);
  if (isCurrent(db, migrations)) return true;
  if (!snapshotCurrent) return false;
  // IMMEDIATE: a second process opening the same new file at once waits here, then finds it current.
  db.exec('BEGIN IMMEDIATE');
  try {
    if (hasObjects(db)) {
      db.exec('ROLLBACK');
      return isCurrent(db, migrations);
    }
    for (const statement of SQLITE_SCHEMA) db.exec(statement);
    // What Kysely's migrator records: its lock row, and each migration with when it ran.
    db.prepare(`INSERT INTO "kysely_migration_lock" ("id", "is_locked") VALUES ('migration_lock', 0)`).run();
    const ran = db.prepare('INSERT INTO "kysely_migration" ("name", "timestamp") VALUES (?, ?)');
    const at = new Date().toISOString();
    for (const name of [...migrations].sort()) ran.run(name, at);
    db.exec('COMMIT');
    return true;
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

function hasObjects(db: DatabaseSync): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' LIMIT 1`).get() !== undefined;
}

/** Every migration has run, and no other (one this code does not know is the migrator's to report). */
function isCurrent(db: DatabaseSync, migrations: readonly string[]): boolean {
  const table = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kysely_migration'`).get();
  if (!table) return false;
  const lock = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kysely_migration_lock'`).get();
  if (!lock) return false;
  const ran = db.prepare('SELECT name FROM "kysely_migration"').all().map((row) => String(row.name));
  return sameNames(ran, migrations);
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((name) => set.has(name));
}

/**
 * The schema Kysely's migrator builds in a new in-memory database, with the migrations it ran:
 * what the snapshot must hold (scripts/catalog-schema.ts writes it from this; a test compares).
 */
export async function migratorSchema(): Promise<{ migrations: string[]; schema: string[] }> {
  const { Kysely, Migrator, SqliteDialect } = kysely();
  const connection = openSqlite(':memory:');
  const db = new Kysely<unknown>({ dialect: nodeSqliteDialect(SqliteDialect, connection) });
  try {
    const { error, results } = await new Migrator({ db, provider: catalogMigrations, allowUnorderedMigrations: true }).migrateToLatest();
    if (error) throw error;
    return { migrations: (results ?? []).map((r) => r.migrationName), schema: schemaOf(connection) };
  } finally {
    await db.destroy();
  }
}
