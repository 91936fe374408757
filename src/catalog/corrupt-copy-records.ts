import type { CorruptCopyRow } from './tables.ts';
import { CatalogRecords } from './records.ts';

/** A copy found corrupt (by a verified read or a scrub) and not yet repaired. */
export interface CorruptCopy {
  storageKey: string;
  provider: string;
  foundAt: string;
}

/**
 * Copies known to be corrupt, kept in the catalog so that a restart still reads around them (from
 * a good copy) and resumes their repair. A row goes when the copy is repaired.
 */
export class CorruptCopyRecords extends CatalogRecords {
  /** Record a corrupt copy; one already recorded keeps its first finding. */
  async mark(storageKey: string, provider: string, details: Record<string, unknown>, now = new Date()): Promise<void> {
    await this.run('recording a corrupt copy', () => this.db.insertInto('corrupt_copies')
      .values({ storage_key: storageKey, provider, found_at: now.toISOString(), details: JSON.stringify(details) })
      .onConflict((oc) => oc.columns(['storage_key', 'provider']).doNothing())
      .execute());
  }

  /** The copy is good again (repaired), or its artifact is gone. */
  async clear(storageKey: string, provider: string): Promise<void> {
    await this.run('clearing a corrupt copy', () => this.db.deleteFrom('corrupt_copies').where('storage_key', '=', storageKey).where('provider', '=', provider).execute());
  }

  /** Every copy known to be corrupt (a handful: each is repaired as soon as a good copy allows). */
  async list(): Promise<CorruptCopy[]> {
    const rows = await this.run('reading corrupt copies', async () => {
      // Every manager reads these when it opens: on SQLite, without loading Kysely for it.
      const sqlite = this.direct();
      if (sqlite) return sqlite.prepare('select "storage_key", "provider", "found_at" from "corrupt_copies" order by "found_at"').all() as unknown as Pick<CorruptCopyRow, 'storage_key' | 'provider' | 'found_at'>[];
      return this.db.selectFrom('corrupt_copies').select(['storage_key', 'provider', 'found_at']).orderBy('found_at').execute();
    });
    return rows.map((row) => ({ storageKey: row.storage_key, provider: row.provider, foundAt: row.found_at }));
  }
}
