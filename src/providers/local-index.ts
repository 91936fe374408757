import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { sqlite } from '../sqlite/node-sqlite.ts';
import type { ListedObject } from './provider.ts';
import { BackgroundCheckpointer } from '../sqlite/background-checkpoint.ts';
import { createPrivateFile } from '../sqlite/private-file.ts';

export interface IndexedObject {
  key: string;
  size: number;
  contentType: string;
  lastModified: string;
  metadata: Record<string, string>;
}

/** What a key has in the index: a visible object, one being replaced, or nothing. */
export type IndexState = 'ready' | 'pending' | undefined;

/** The index as a table of a database someone else opened: the rows of one base directory (`root`, a hex id kept in the base). */
export interface IndexInDatabase {
  connection: DatabaseSync;
  root: string;
  /** The index closes the connection with itself (one opened for it alone). */
  owned?: boolean;
}

type Statement = 'insert' | 'insertReady' | 'upsert' | 'ready' | 'get' | 'state' | 'remove' | 'list' | 'pending';

/**
 * The local provider's object index: which objects are visible, with their metadata. An object is
 * visible exactly when its row is `ready`. A row is `pending` while an object is being replaced
 * (and renamed into place), so a crash leaves a pending row that names the files to remove at the
 * next start; a new key gets its row, ready, once its file is in place (LocalJournal covers what a
 * crash before that leaves).
 *
 * The index is its own SQLite file (WAL) in the base directory, or the table `local_objects` of
 * another database (the SQLite catalog's), where the row that makes an object visible is written
 * in the same transaction as the catalog's record of it: one commit per store. Each statement is a
 * short synchronous WAL append, far cheaper than writing a metadata file through the threadpool.
 */
export class LocalIndex {
  /** The connection the rows are written on (someone else's, for an index in their database). */
  readonly connection: DatabaseSync;
  private readonly statements: Record<Statement, StatementSync>;
  private readonly checkpointer: BackgroundCheckpointer | undefined;
  private readonly ownsConnection: boolean;

  /**
   * `source`: the path of the index's own file, or a database to keep it in. `durable` (own file):
   * every commit is flushed to the disk (synchronous=FULL), not only at checkpoints.
   */
  constructor(source: string | IndexInDatabase, options: { durable?: boolean } = {}) {
    if (typeof source !== 'string') {
      if (!/^[0-9a-f]{16,64}$/.test(source.root)) throw new Error(`local index: invalid root id "${source.root}"`);
      source.connection.exec(`
        CREATE TABLE IF NOT EXISTS local_objects (
          root TEXT NOT NULL,
          key TEXT NOT NULL,
          size INTEGER NOT NULL,
          content_type TEXT NOT NULL,
          last_modified TEXT NOT NULL,
          metadata TEXT NOT NULL,
          ready INTEGER NOT NULL,
          PRIMARY KEY (root, key)
        ) WITHOUT ROWID;
      `);
      this.connection = source.connection;
      this.ownsConnection = source.owned === true;
      this.checkpointer = undefined;
      this.statements = prepare(source.connection, 'local_objects', source.root);
      return;
    }
    createPrivateFile(source);
    const db = new sqlite.DatabaseSync(source);
    // The busy timeout first: switching to WAL waits for a lock when another process opens the file at once.
    db.exec(`
      PRAGMA busy_timeout = 5000;
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = ${options.durable ? 'FULL' : 'NORMAL'};
      CREATE TABLE IF NOT EXISTS objects (
        key TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        last_modified TEXT NOT NULL,
        metadata TEXT NOT NULL,
        ready INTEGER NOT NULL
      ) WITHOUT ROWID;
    `);
    this.connection = db;
    this.ownsConnection = true;
    this.statements = prepare(db, 'objects', undefined);
    // A store commits once or twice (a few pages each): about SQLite's 1000-page threshold per checkpoint.
    this.checkpointer = new BackgroundCheckpointer(source, db, { commitsPerCheckpoint: 400 });
  }

  /** Whether the key has a row, and which. */
  state(key: string): IndexState {
    const row = this.statements.state.get(key) as { ready: number } | undefined;
    return row === undefined ? undefined : row.ready ? 'ready' : 'pending';
  }

  /**
   * Stage a key that has no row yet: true when this call made its (pending, invisible) row; false
   * when the key already has one, ready or pending, which is left as it is.
   */
  stageNew(object: IndexedObject): boolean {
    const inserted = Number(this.statements.insert.run(object.key, object.size, object.contentType, object.lastModified, JSON.stringify(object.metadata)).changes) > 0;
    this.checkpointer?.committed();
    return inserted;
  }

  /**
   * Make a new key's object visible (its file is in place). Throws when the key has a row already.
   * Inside a transaction of the index's connection it commits with that transaction.
   */
  insertReady(object: IndexedObject): void {
    this.statements.insertReady.run(object.key, object.size, object.contentType, object.lastModified, JSON.stringify(object.metadata));
    this.checkpointer?.committed();
  }

  /** Record an object about to be renamed into place; invisible until `markReady`. */
  stage(object: IndexedObject): void {
    this.statements.upsert.run(object.key, object.size, object.contentType, object.lastModified, JSON.stringify(object.metadata));
    this.checkpointer?.committed();
  }

  /** Make a staged object visible, with its final metadata. */
  markReady(object: IndexedObject): void {
    this.statements.ready.run(object.size, object.contentType, object.lastModified, JSON.stringify(object.metadata), object.key);
    this.checkpointer?.committed();
  }

  get(key: string): IndexedObject | undefined {
    const row = this.statements.get.get(key) as { key: string; size: number; content_type: string; last_modified: string; metadata: string } | undefined;
    if (!row) return undefined;
    return { key: row.key, size: row.size, contentType: row.content_type, lastModified: row.last_modified, metadata: JSON.parse(row.metadata) as Record<string, string> };
  }

  /** True when a row (ready or pending) was removed. */
  remove(key: string): boolean {
    const removed = Number(this.statements.remove.run(key).changes) > 0;
    this.checkpointer?.committed();
    return removed;
  }

  list(prefix: string, after: string, limit: number): ListedObject[] {
    const rows = this.statements.list.all(prefix, prefix + '~', after, limit) as { key: string; size: number; last_modified: string }[];
    return rows.map((r) => ({ key: r.key, size: r.size, lastModified: r.last_modified }));
  }

  /** Keys whose replacement was interrupted: their files, if any, must go. */
  pendingKeys(): string[] {
    return (this.statements.pending.all() as { key: string }[]).map((r) => r.key);
  }

  check(): void {
    this.connection.prepare('SELECT 1').get();
  }

  /**
   * Own file: the background checkpoints' connection closes first, so this one, the last, tidies
   * the WAL away. In someone else's database the connection stays open (unless `owned`): it is theirs to close.
   */
  async close(): Promise<void> {
    await this.checkpointer?.close();
    if (this.ownsConnection && this.connection.isOpen) this.connection.close();
  }
}

/** The index's statements on `table`; for an index in a shared table, each limited to the rows of `root`. */
function prepare(db: DatabaseSync, table: string, root: string | undefined): Record<Statement, StatementSync> {
  // The root is checked to be hex (see the constructor), so it can be written into the SQL.
  const scope = root === undefined ? '' : `root = '${root}' AND `;
  const rootColumn = root === undefined ? '' : 'root, ';
  const rootValue = root === undefined ? '' : `'${root}', `;
  const conflict = root === undefined ? '(key)' : '(root, key)';
  const columns = `${rootColumn}key, size, content_type, last_modified, metadata, ready`;
  return {
    insert: db.prepare(`INSERT INTO ${table} (${columns}) VALUES (${rootValue}?, ?, ?, ?, ?, 0) ON CONFLICT ${conflict} DO NOTHING`),
    insertReady: db.prepare(`INSERT INTO ${table} (${columns}) VALUES (${rootValue}?, ?, ?, ?, ?, 1)`),
    upsert: db.prepare(`INSERT OR REPLACE INTO ${table} (${columns}) VALUES (${rootValue}?, ?, ?, ?, ?, 0)`),
    ready: db.prepare(`UPDATE ${table} SET size = ?, content_type = ?, last_modified = ?, metadata = ?, ready = 1 WHERE ${scope}key = ?`),
    get: db.prepare(`SELECT key, size, content_type, last_modified, metadata FROM ${table} WHERE ${scope}key = ? AND ready = 1`),
    state: db.prepare(`SELECT ready FROM ${table} WHERE ${scope}key = ?`),
    remove: db.prepare(`DELETE FROM ${table} WHERE ${scope}key = ?`),
    // Keys use only [A-Za-z0-9._/-], all below "~", so [prefix, prefix + "~") is exactly the prefix range.
    list: db.prepare(`SELECT key, size, last_modified FROM ${table} WHERE ${scope}key >= ? AND key < ? AND key > ? AND ready = 1 ORDER BY key LIMIT ?`),
    pending: db.prepare(`SELECT key FROM ${table} WHERE ${scope}ready = 0`),
  };
}
