import { CatalogRecords } from './records.ts';
import type { Kysely, Transaction } from 'kysely';
import type { CatalogTables } from './tables.ts';

/** An object whose record is gone and which is still to be removed from its provider. */
export interface PendingDeletion {
  storageKey: string;
  provider: string;
  since: string;
}

/**
 * Objects to delete, written in the same transaction that removes their records (an outbox): a
 * process that dies between the two, or a provider that fails the delete, leaves a row here for the
 * next sweep to finish, never an object that nothing points at.
 */
export class DeletionRecords extends CatalogRecords {
  /** Queue objects for deletion inside the caller's transaction (the one removing their records). */
  static async queue(tx: Transaction<CatalogTables> | Kysely<CatalogTables>, objects: { storageKey: string; provider: string }[], now = new Date()): Promise<void> {
    if (objects.length === 0) return;
    await tx.insertInto('pending_deletions')
      .values(objects.map((o) => ({ storage_key: o.storageKey, provider: o.provider, since: now.toISOString() })))
      .onConflict((oc) => oc.columns(['storage_key', 'provider']).doNothing())
      .execute();
  }

  /**
   * Queue objects on their own, outside any record's removal: what a failed store or copy made and
   * could not delete (see StorageManager.discardObject).
   */
  async add(objects: { storageKey: string; provider: string }[], now = new Date()): Promise<void> {
    await this.run('queueing an object for deletion', () => DeletionRecords.queue(this.db, objects, now));
  }

  /**
   * Take back the deletions queued for these keys on `provider`: an operation is about to put
   * objects of its own there (a migration's copies), and discards them itself should it fail.
   */
  async takeBack(storageKeys: string[], provider: string): Promise<void> {
    if (storageKeys.length === 0) return;
    await this.run('taking back pending deletions', () => this.db.deleteFrom('pending_deletions').where('provider', '=', provider).where('storage_key', 'in', storageKeys).execute());
  }

  /** Up to `limit` objects queued at or before `before`, in key order after `after`. */
  async due(before: Date, limit: number, after?: { storageKey: string; provider: string }): Promise<PendingDeletion[]> {
    let select = this.db.selectFrom('pending_deletions').select(['storage_key', 'provider', 'since']).where('since', '<=', before.toISOString());
    if (after) {
      select = select.where((eb) => eb.or([
        eb('storage_key', '>', after.storageKey),
        eb.and([eb('storage_key', '=', after.storageKey), eb('provider', '>', after.provider)]),
      ]));
    }
    const rows = await this.run('reading pending deletions', () => select.orderBy('storage_key').orderBy('provider').limit(limit).execute());
    return rows.map((r) => ({ storageKey: r.storage_key, provider: r.provider, since: r.since }));
  }

  /**
   * Whether a record points at this object again (the same key stored anew on the same provider,
   * live, in the trash or as a mirror copy): then the object is no longer the one to delete.
   */
  async recordedAgain(storageKey: string, provider: string): Promise<boolean> {
    const [live, trashed, copy] = await this.run('checking a pending deletion', () => Promise.all([
      this.db.selectFrom('artifacts').select('storage_key').where('storage_key', '=', storageKey).where('provider', '=', provider).executeTakeFirst(),
      this.db.selectFrom('trash').select('storage_key').where('storage_key', '=', storageKey).where('provider', '=', provider).executeTakeFirst(),
      this.db.selectFrom('copies').select('storage_key').where('storage_key', '=', storageKey).where('provider', '=', provider).executeTakeFirst(),
    ]));
    return Boolean(live ?? trashed ?? copy);
  }

  /** The object is gone (or recorded again): nothing left to do for it. */
  async done(storageKey: string, provider: string): Promise<void> {
    await this.run('clearing a pending deletion', () => this.db.deleteFrom('pending_deletions').where('storage_key', '=', storageKey).where('provider', '=', provider).execute());
  }

}
