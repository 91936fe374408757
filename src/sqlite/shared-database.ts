import type { DatabaseSync } from 'node:sqlite';

/**
 * A SQLite database (a file, WAL) that its owner lets others keep tables in, so that their rows
 * and the owner's can be written in one transaction: one commit where there would be several.
 * The SQLite catalog offers its own to the local provider this way (see LocalIndex.inDatabase).
 */
export interface SharedDatabase {
  /** The database file's absolute path. */
  readonly path: string;
  /** The owner's connection; others must not close it. */
  readonly connection: DatabaseSync;
  /**
   * Run a write that commits on its own (autocommit, or a transaction of its own) when no
   * transaction of the owner's is open on the connection (the owner may hold one across awaits),
   * so it never joins one; its commit counts toward the owner's WAL checkpoints.
   */
  exclusively<T>(write: () => T): Promise<T>;
}
