import { sql } from './kysely-runtime.ts';
import { CatalogRecords } from './records.ts';
import { StorageError } from '../errors.ts';
import { assertSafeId } from '../keys.ts';
import { decodeCursor, encodeCursor, listLimit } from '../providers/list-cursor.ts';
import { fromRow, insertAudit } from './catalog.ts';
import { DeletionRecords } from './deletion-records.ts';
import type { CatalogArtifact } from './catalog.ts';
import type { TrashRow } from './tables.ts';

/** A deleted artifact in the trash: its record as it was, who deleted it, when the purge may take it. */
export type TrashedArtifact = CatalogArtifact & { deletedAt: string; deletedBy?: string; purgeAfter: string };

export interface TrashQuery {
  tenantId: string;
  boardId?: string;
  limit?: number;
  cursor?: string;
}

/**
 * The trash: a deleted artifact's row moves from `artifacts` to `trash` in one transaction, so
 * every query on `artifacts` (reads, listings, usage) leaves it out without knowing about the
 * trash. Its object stays on its provider until the purge.
 */
export class TrashRecords extends CatalogRecords {
  /** Move an artifact's row to the trash; false when there is no such artifact. */
  async put(storageKey: string, options: { actor?: string; purgeAfter: Date; now?: Date; reason?: string }): Promise<boolean> {
    const deletedAt = (options.now ?? new Date()).toISOString();
    return this.run('moving an artifact to the trash', () => this.db.transaction().execute(async (tx) => {
      const row = await tx.selectFrom('artifacts').selectAll().where('storage_key', '=', storageKey).executeTakeFirst();
      if (!row) return false;
      await tx.deleteFrom('trash').where('storage_key', '=', storageKey).execute();
      await tx.insertInto('trash').values({ ...row, deleted_at: deletedAt, deleted_by: options.actor ?? null, purge_after: options.purgeAfter.toISOString() }).execute();
      await tx.deleteFrom('artifacts').where('storage_key', '=', storageKey).execute();
      await insertAudit(tx, [{ action: 'deleted', tenantId: row.tenant_id, storageKey, ...(options.actor ? { actor: options.actor } : {}), details: { trash: true, provider: row.provider, purgeAfter: options.purgeAfter.toISOString(), ...(options.reason ? { reason: options.reason } : {}) } }]);
      return true;
    }));
  }

  /** Bring an artifact back from the trash; undefined when it is not there. */
  async restore(storageKey: string, options: { actor?: string; reason?: string } = {}): Promise<CatalogArtifact | undefined> {
    return this.run('restoring an artifact from the trash', () => this.db.transaction().execute(async (tx) => {
      const trashed = await tx.selectFrom('trash').selectAll().where('storage_key', '=', storageKey).executeTakeFirst();
      if (!trashed) return undefined;
      const { deleted_at: _at, deleted_by: _by, purge_after: _purge, ...row } = trashed;
      const taken = await tx.selectFrom('artifacts').select('storage_key').where('storage_key', '=', storageKey).executeTakeFirst();
      if (taken) throw new StorageError(`${storageKey} exists again; the deleted copy cannot take its place`, { code: 'CONFLICT' });
      await tx.insertInto('artifacts').values(row).execute();
      await tx.deleteFrom('trash').where('storage_key', '=', storageKey).execute();
      await insertAudit(tx, [{ action: 'restored', tenantId: row.tenant_id, storageKey, ...(options.actor ? { actor: options.actor } : {}), details: { provider: row.provider, ...(options.reason ? { reason: options.reason } : {}) } }]);
      return fromRow(row);
    }));
  }

  async get(storageKey: string): Promise<TrashedArtifact | undefined> {
    const row = await this.run('reading the trash', () => this.db.selectFrom('trash').selectAll().where('storage_key', '=', storageKey).executeTakeFirst());
    return row ? fromTrashRow(row) : undefined;
  }

  /** A tenant's deleted artifacts in key order, a page at a time. */
  async list(query: TrashQuery): Promise<{ items: TrashedArtifact[]; nextCursor?: string }> {
    const limit = listLimit(query.limit);
    const after = decodeCursor(query.cursor);
    let select = this.db.selectFrom('trash').selectAll().where('tenant_id', '=', assertSafeId('tenantId', query.tenantId));
    if (query.boardId !== undefined) select = select.where('board_id', '=', assertSafeId('boardId', query.boardId));
    if (after) select = select.where('storage_key', '>', after);
    const rows = await this.run('listing the trash', () => select.orderBy('storage_key').limit(limit + 1).execute());
    const items = rows.slice(0, limit).map(fromTrashRow);
    return { items, ...(rows.length > limit ? { nextCursor: encodeCursor(items.at(-1)!.storageKey) } : {}) };
  }

  /**
   * Take up to `limit` rows whose retention has passed, with the providers of their mirror copies:
   * the rows go in one transaction, so two purges never take the same one, and their objects are
   * queued for deletion in it (see DeletionRecords).
   */
  async claimPurgeable(now: Date, limit: number, actor = 'cleanup'): Promise<{ artifact: TrashedArtifact; copies: string[] }[]> {
    const at = now.toISOString();
    return this.run('claiming the trash to purge', () => this.db.transaction().execute(async (tx) => {
      const rows = await tx.deleteFrom('trash')
        .where('storage_key', 'in', tx.selectFrom('trash').select('storage_key').where('purge_after', '<=', at).orderBy('purge_after').limit(limit))
        .returningAll().execute();
      if (rows.length === 0) return [];
      const keys = rows.map((r) => r.storage_key);
      const copies = await tx.deleteFrom('copies').where('storage_key', 'in', keys).returning(['storage_key', 'provider']).execute();
      await insertAudit(tx, rows.map((r) => ({ action: 'purged' as const, tenantId: r.tenant_id, storageKey: r.storage_key, actor, details: { provider: r.provider, deletedAt: r.deleted_at } })));
      await DeletionRecords.queue(tx, [...rows, ...copies].map((r) => ({ storageKey: r.storage_key, provider: r.provider })), now);
      return rows.map((r) => ({ artifact: fromTrashRow(r), copies: copies.filter((c) => c.storage_key === r.storage_key).map((c) => c.provider) }));
    }));
  }

  /** Count and bytes in a tenant's trash. */
  async usage(tenantId: string): Promise<{ count: number; bytes: number }> {
    const row = await this.run('reading trash usage', () => this.db.selectFrom('trash')
      .select([sql<string | number>`count(*)`.as('count'), sql<string | number | null>`sum(size)`.as('bytes')])
      .where('tenant_id', '=', assertSafeId('tenantId', tenantId)).executeTakeFirst());
    return { count: Number(row?.count ?? 0), bytes: Number(row?.bytes ?? 0) };
  }
}

export function fromTrashRow(row: TrashRow): TrashedArtifact {
  const { deleted_at, deleted_by, purge_after, ...artifact } = row;
  return { ...fromRow(artifact), deletedAt: deleted_at, ...(deleted_by === null ? {} : { deletedBy: deleted_by }), purgeAfter: purge_after };
}
