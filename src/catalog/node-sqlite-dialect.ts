import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { sqlite } from '../sqlite/node-sqlite.ts';
import type { SqliteDatabase, SqliteDialect, SqliteStatement } from 'kysely';

/** A catalog connection to the SQLite file at `path` (or `:memory:`), set up as the catalog needs it. */
export function openSqlite(path: string): DatabaseSync {
  const db = new sqlite.DatabaseSync(path);
  try {
    // The busy timeout first: switching to WAL waits for a lock when another process opens the file at once.
    db.exec('PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;');
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/**
 * Kysely's SQLite dialect speaks the better-sqlite3 interface; node:sqlite is the same idea with
 * spread parameters. This adapter lets the catalog use the SQLite built into Node (no native addon).
 * The catalog opens its one connection itself (openSqlite) and uses it directly until something
 * needs Kysely; Kysely then runs on that same connection, and closes it when destroyed. `Dialect`
 * is Kysely's class, passed in because Kysely loads on first use.
 */
export function nodeSqliteDialect(Dialect: typeof SqliteDialect, connection: DatabaseSync): SqliteDialect {
  return new Dialect({ database: async () => adapt(connection) });
}

/** Kysely asks for a statement per query; the catalog's queries are few, so prepared ones are kept. */
const STATEMENT_CACHE = 256;

/** A prepared statement and whether it returns rows (node:sqlite's `columns()` builds a fresh array each call: asked once). */
interface Prepared { statement: StatementSync; reader: boolean }

function adapt(db: DatabaseSync): SqliteDatabase {
  const prepared = new Map<string, Prepared>();
  return {
    close: () => db.close(),
    prepare(sql: string): SqliteStatement {
      let entry = prepared.get(sql);
      if (!entry) {
        const statement = db.prepare(sql);
        entry = { statement, reader: statement.columns().length > 0 };
        if (prepared.size >= STATEMENT_CACHE) prepared.delete(prepared.keys().next().value!);
        prepared.set(sql, entry);
      }
      const { statement, reader } = entry;
      return {
        reader,
        all: (parameters) => statement.all(...bind(parameters)),
        run: (parameters) => statement.run(...bind(parameters)),
        iterate: (parameters) => statement.iterate(...bind(parameters)),
      };
    },
  };
}

function bind(parameters: ReadonlyArray<unknown>): never[] {
  return parameters.map(toSqlite) as never[];
}

/** node:sqlite binds numbers, bigints, strings, bytes and null; booleans become 0/1. */
export function toSqlite(value: unknown): unknown {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value === undefined) return null;
  return value;
}
