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

/**
 * The local provider's object index: one SQLite file (WAL) in the base directory. An object is
 * visible exactly when its row is `ready`; its row is `pending` while the object is being written
 * and renamed into place, so a crash leaves a pending row that names the files to remove at the
 * next start. Each statement is a short synchronous WAL append, far cheaper
 * than writing a metadata file through the threadpool.
 */
export class LocalIndex {
  private readonly db: DatabaseSync;
  private readonly statements: Record<'insert' | 'upsert' | 'ready' | 'get' | 'remove' | 'list' | 'pending', StatementSync>;
  private readonly checkpointer: BackgroundCheckpointer;

  /** `durable`: every commit is flushed to the disk (synchronous=FULL), not only at checkpoints. */
  constructor(path: string, options: { durable?: boolean } = {}) {
    createPrivateFile(path);
    this.db = new sqlite.DatabaseSync(path);
    // The busy timeout first: switching to WAL waits for a lock when another process opens the file at once.
    this.db.exec(`
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
    this.statements = {
      insert: this.db.prepare('INSERT INTO objects (key, size, content_type, last_modified, metadata, ready) VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (key) DO NOTHING'),
      upsert: this.db.prepare('INSERT OR REPLACE INTO objects (key, size, content_type, last_modified, metadata, ready) VALUES (?, ?, ?, ?, ?, 0)'),
      ready: this.db.prepare('UPDATE objects SET size = ?, content_type = ?, last_modified = ?, metadata = ?, ready = 1 WHERE key = ?'),
      get: this.db.prepare('SELECT key, size, content_type, last_modified, metadata FROM objects WHERE key = ? AND ready = 1'),
      remove: this.db.prepare('DELETE FROM objects WHERE key = ?'),
      // Keys use only [A-Za-z0-9._/-], all below "~", so [prefix, prefix + "~") is exactly the prefix range.
      list: this.db.prepare('SELECT key, size, last_modified FROM objects WHERE key >= ? AND key < ? AND key > ? AND ready = 1 ORDER BY key LIMIT ?'),
      pending: this.db.prepare('SELECT key FROM objects WHERE ready = 0'),
    };
    // A store commits twice (a few pages each): about SQLite's 1000-page threshold per checkpoint.
    this.checkpointer = new BackgroundCheckpointer(path, this.db, { commitsPerCheckpoint: 400 });
  }

  /**
   * Stage a key that has no row yet: true when this call made its (pending, invisible) row; false
   * when the key already has one, ready or pending, which is left as it is.
   */
  stageNew(object: IndexedObject): boolean {
    const inserted = Number(this.statements.insert.run(object.key, object.size, object.contentType, object.lastModified, JSON.stringify(object.metadata)).changes) > 0;
    this.checkpointer.committed();
    return inserted;
  }

  /** Record an object about to be renamed into place; invisible until `markReady`. */
  stage(object: IndexedObject): void {
    this.statements.upsert.run(object.key, object.size, object.contentType, object.lastModified, JSON.stringify(object.metadata));
    this.checkpointer.committed();
  }

  /** Make a staged object visible, with its final metadata. */
  markReady(object: IndexedObject): void {
    this.statements.ready.run(object.size, object.contentType, object.lastModified, JSON.stringify(object.metadata), object.key);
    this.checkpointer.committed();
  }

  get(key: string): IndexedObject | undefined {
    const row = this.statements.get.get(key) as { key: string; size: number; content_type: string; last_modified: string; metadata: string } | undefined;
    if (!row) return undefined;
    return { key: row.key, size: row.size, contentType: row.content_type, lastModified: row.last_modified, metadata: JSON.parse(row.metadata) as Record<string, string> };
  }

  /** True when a row (ready or pending) was removed. */
  remove(key: string): boolean {
    const removed = Number(this.statements.remove.run(key).changes) > 0;
    this.checkpointer.committed();
    return removed;
  }

  list(prefix: string, after: string, limit: number): ListedObject[] {
    const rows = this.statements.list.all(prefix, prefix + '~', after, limit) as { key: string; size: number; last_modified: string }[];
    return rows.map((r) => ({ key: r.key, size: r.size, lastModified: r.last_modified }));
  }

  /** Keys whose store was interrupted: their files, if any, must go. */
  pendingKeys(): string[] {
    return (this.statements.pending.all() as { key: string }[]).map((r) => r.key);
  }

  check(): void {
    this.db.prepare('SELECT 1').get();
  }

  /** The background checkpoints' connection closes first, so this one, the last, tidies the WAL away. */
  async close(): Promise<void> {
    await this.checkpointer.close();
    if (this.db.isOpen) this.db.close();
  }
}
