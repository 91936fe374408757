import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { sqlite } from '../sqlite/node-sqlite.ts';
import type { SqliteDatabase, SqliteDialect, SqliteStatement } from 'kysely';

/**
 * Kysely's SQLite dialect speaks the better-sqlite3 interface; node:sqlite is the same idea with
 * spread parameters. This adapter lets the catalog use the SQLite built into Node (no native addon).
 * `opened` receives the one connection once Kysely opens it (on its first query), for statements
 * the catalog prepares itself; it must use it only while it holds Kysely's connection. `Dialect` is
 * Kysely's class, passed in because the catalog loads Kysely on first use.
 */
export function nodeSqliteDialect(Dialect: typeof SqliteDialect, path: string, opened?: (db: DatabaseSync) => void): SqliteDialect {
  return new Dialect({
    database: async () => {
      const db = new sqlite.DatabaseSync(path);
      // The busy timeout first: switching to WAL waits for a lock when another process opens the file at once.
      db.exec('PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;');
      opened?.(db);
      return adapt(db);
    },
  });
}

/** Kysely asks for a statement per query; the catalog's queries are few, so prepared ones are kept. */
const STATEMENT_CACHE = 256;

function adapt(db: DatabaseSync): SqliteDatabase {
  const prepared = new Map<string, StatementSync>();
  return {
    close: () => db.close(),
    prepare(sql: string): SqliteStatement {
      let statement = prepared.get(sql);
      if (!statement) {
        statement = db.prepare(sql);
        if (prepared.size >= STATEMENT_CACHE) prepared.delete(prepared.keys().next().value!);
        prepared.set(sql, statement);
      }
      const bind = (parameters: ReadonlyArray<unknown>) => parameters.map(toSqlite) as never[];
      const cached = statement;
      return {
        reader: cached.columns().length > 0,
        all: (parameters) => cached.all(...bind(parameters)),
        run: (parameters) => cached.run(...bind(parameters)),
        iterate: (parameters) => cached.iterate(...bind(parameters)),
      };
    },
  };
}

/** node:sqlite binds numbers, bigints, strings, bytes and null; booleans become 0/1. */
export function toSqlite(value: unknown): unknown {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value === undefined) return null;
  return value;
}
