import { sql } from './kysely-runtime.ts';
import { CatalogRecords } from './records.ts';
import { insertAudit } from './catalog.ts';
import type { ExpressionBuilder } from 'kysely';
import type { CatalogTables, MigrationItemRow, MigrationItemState, MigrationRunRow, MigrationStatus } from './tables.ts';

export type { MigrationItemState, MigrationRunRow, MigrationStatus } from './tables.ts';

/** Which artifacts a migration moves (all of the source provider's when empty). */
export interface MigrationFilters {
  tenantId?: string;
  boardId?: string;
  artifactType?: string;
  /** ISO time: only artifacts created before it. */
  createdBefore?: string;
  /** Only artifacts larger than this many bytes. */
  largerThan?: number;
}

/**
 * A migration's state in the catalog: one run row and one item row per artifact. Every step a
 * migration takes is recorded before or together with its effect, so a process killed at any
 * moment leaves a state that `resume` can finish (see operations/migrate.ts).
 */
export class MigrationRecords extends CatalogRecords {
  async create(row: Omit<MigrationRunRow, 'updated_at'>): Promise<void> {
    await this.run('recording a migration', () => this.db.insertInto('migration_runs').values({ ...row, updated_at: row.created_at }).execute());
  }

  async get(id: string): Promise<MigrationRunRow | undefined> {
    return this.run('reading a migration', () => this.db.selectFrom('migration_runs').selectAll().where('id', '=', id).executeTakeFirst());
  }

  /** Every migration, newest first. */
  async list(): Promise<MigrationRunRow[]> {
    return this.run('listing migrations', () => this.db.selectFrom('migration_runs').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').execute());
  }

  /**
   * Take the run for `owner`, only if it still has the state read by the caller (so of two
   * processes resuming at once, one gets it).
   */
  async claim(id: string, owner: string, seen: { status: MigrationStatus; owner: string | null; heartbeat_at: string | null }, now: Date): Promise<boolean> {
    let update = this.db.updateTable('migration_runs').set({ status: 'running', owner, heartbeat_at: now.toISOString(), updated_at: now.toISOString() })
      .where('id', '=', id).where('status', '=', seen.status);
    update = seen.owner === null ? update.where('owner', 'is', null) : update.where('owner', '=', seen.owner);
    update = seen.heartbeat_at === null ? update.where('heartbeat_at', 'is', null) : update.where('heartbeat_at', '=', seen.heartbeat_at);
    const result = await this.run('claiming a migration', () => update.executeTakeFirst());
    return Number(result.numUpdatedRows) > 0;
  }

  async heartbeat(id: string, owner: string, now: Date): Promise<void> {
    await this.run('marking a migration alive', () => this.db.updateTable('migration_runs').set({ heartbeat_at: now.toISOString() }).where('id', '=', id).where('owner', '=', owner).execute());
  }

  async setStatus(id: string, status: MigrationStatus, now: Date, options: { releaseOwner?: boolean } = {}): Promise<void> {
    await this.run('updating a migration', () => this.db.updateTable('migration_runs')
      .set({ status, updated_at: now.toISOString(), ...(options.releaseOwner ? { owner: null, heartbeat_at: null } : {}) }).where('id', '=', id).execute());
  }

  async markPlanned(id: string): Promise<void> {
    await this.run('updating a migration', () => this.db.updateTable('migration_runs').set({ planned: 1 }).where('id', '=', id).execute());
  }

  /** The source provider's artifacts that match, in key order after `afterKey`. */
  async candidates(from: string, filters: MigrationFilters, afterKey: string, limit: number): Promise<{ storageKey: string; size: number }[]> {
    let select = this.db.selectFrom('artifacts').select(['storage_key', 'size']).where('provider', '=', from).where('storage_key', '>', afterKey);
    if (filters.tenantId !== undefined) select = select.where('tenant_id', '=', filters.tenantId);
    if (filters.boardId !== undefined) select = select.where('board_id', '=', filters.boardId);
    if (filters.artifactType !== undefined) select = select.where('artifact_type', '=', filters.artifactType);
    if (filters.createdBefore !== undefined) select = select.where('created_at', '<', filters.createdBefore);
    if (filters.largerThan !== undefined) select = select.where('size', '>', filters.largerThan);
    const rows = await this.run('choosing artifacts to migrate', () => select.orderBy('storage_key').limit(limit).execute());
    return rows.map((r) => ({ storageKey: r.storage_key, size: Number(r.size) }));
  }

  /** Add items (a key already in the run is left as it is: planning may run twice). */
  async addItems(id: string, items: { storageKey: string; size: number }[]): Promise<void> {
    if (items.length === 0) return;
    await this.run('planning a migration', () => this.db.insertInto('migration_items')
      .values(items.map((i) => ({ run_id: id, storage_key: i.storageKey, size: i.size, state: 'pending' as const, reason: null })))
      .onConflict((c) => c.columns(['run_id', 'storage_key']).doNothing()).execute());
  }

  /** Items in one of `states`, in key order after `afterKey`. */
  async items(id: string, states: MigrationItemState[], afterKey: string, limit: number): Promise<Pick<MigrationItemRow, 'storage_key' | 'size' | 'state'>[]> {
    const rows = await this.run('reading migration items', () => this.db.selectFrom('migration_items').select(['storage_key', 'size', 'state'])
      .where('run_id', '=', id).where('state', 'in', states).where('storage_key', '>', afterKey).orderBy('storage_key').limit(limit).execute());
    return rows.map((r) => ({ ...r, size: Number(r.size) }));
  }

  async setItems(id: string, keys: string[], state: MigrationItemState, reason: string | null = null): Promise<void> {
    if (keys.length === 0) return;
    await this.run('updating migration items', () => this.db.updateTable('migration_items').set({ state, reason: reason?.slice(0, 1000) ?? null })
      .where('run_id', '=', id).where('storage_key', 'in', keys).execute());
  }

  /**
   * Point the artifact's row (live or in the trash) at `to`, only if it still points at `from`
   * and still has the checksum that was verified, and mark the item: one transaction. False when
   * the artifact is gone or changed meanwhile (the caller removes its copy).
   */
  async switchItem(id: string, storageKey: string, from: string, to: string, sha256: string, state: MigrationItemState, actor: string): Promise<boolean> {
    return this.run('switching an artifact', () => this.db.transaction().execute(async (tx) => {
      const live = await tx.updateTable('artifacts').set({ provider: to }).where('storage_key', '=', storageKey).where('provider', '=', from).where('sha256', '=', sha256).returning(['tenant_id']).executeTakeFirst();
      const row = live ?? await tx.updateTable('trash').set({ provider: to }).where('storage_key', '=', storageKey).where('provider', '=', from).where('sha256', '=', sha256).returning(['tenant_id']).executeTakeFirst();
      if (!row) return false;
      await tx.updateTable('migration_items').set({ state, reason: null }).where('run_id', '=', id).where('storage_key', '=', storageKey).execute();
      await insertAudit(tx, [{ action: 'moved', tenantId: row.tenant_id, storageKey, actor, details: { provider: to, from, migration: id } }]);
      return true;
    }));
  }

  /**
   * `switchItem` for several artifacts in one transaction (a migration's group commit): each row
   * that still points at `from` with the checksum that was verified is pointed at `to`, its item
   * marked and its move audited. Returns, per item in order, whether it was switched (false: gone
   * or changed meanwhile; the caller removes its copy). A handful of statements per batch, not
   * per artifact.
   */
  async switchItems(id: string, items: { storageKey: string; sha256: string }[], from: string, to: string, state: MigrationItemState, actor: string): Promise<boolean[]> {
    if (items.length === 0) return [];
    return this.run('switching artifacts', () => this.db.transaction().execute(async (tx) => {
      // The key list picks the rows by primary key; the pairs keep each to the checksum that was verified.
      const verified = (list: typeof items) => (eb: ExpressionBuilder<CatalogTables, 'artifacts' | 'trash'>) => eb.and([
        eb('storage_key', 'in', list.map((i) => i.storageKey)),
        eb('provider', '=', from),
        eb.or(list.map((i) => eb.and([eb('storage_key', '=', i.storageKey), eb('sha256', '=', i.sha256)]))),
      ]);
      const live = await tx.updateTable('artifacts').set({ provider: to }).where(verified(items)).returning(['storage_key', 'tenant_id']).execute();
      const switched = new Map(live.map((r) => [r.storage_key, r.tenant_id]));
      const rest = items.filter((i) => !switched.has(i.storageKey));
      if (rest.length > 0) {
        for (const r of await tx.updateTable('trash').set({ provider: to }).where(verified(rest)).returning(['storage_key', 'tenant_id']).execute()) switched.set(r.storage_key, r.tenant_id);
      }
      if (switched.size > 0) {
        await tx.updateTable('migration_items').set({ state, reason: null }).where('run_id', '=', id).where('storage_key', 'in', [...switched.keys()]).execute();
        await insertAudit(tx, [...switched].map(([storageKey, tenantId]) => ({ action: 'moved' as const, tenantId, storageKey, actor, details: { provider: to, from, migration: id } })));
      }
      return items.map((i) => switched.has(i.storageKey));
    }));
  }

  /** Where the artifact's row (live or in the trash) points now; undefined when it has none. */
  async providerOf(storageKey: string): Promise<{ provider: string; sha256: string; size: number; contentType: string; trashed: boolean } | undefined> {
    return this.run('reading the catalog', async () => {
      const live = await this.db.selectFrom('artifacts').select(['provider', 'sha256', 'size', 'content_type']).where('storage_key', '=', storageKey).executeTakeFirst();
      const row = live ?? await this.db.selectFrom('trash').select(['provider', 'sha256', 'size', 'content_type']).where('storage_key', '=', storageKey).executeTakeFirst();
      return row ? { provider: row.provider, sha256: row.sha256, size: Number(row.size), contentType: row.content_type, trashed: !live } : undefined;
    });
  }

  /** Per state: items and bytes. */
  async counts(id: string): Promise<Record<MigrationItemState, { count: number; bytes: number }>> {
    const rows = await this.run('counting migration items', () => this.db.selectFrom('migration_items')
      .select(['state', sql<string | number>`count(*)`.as('count'), sql<string | number | null>`sum(size)`.as('bytes')])
      .where('run_id', '=', id).groupBy('state').execute());
    const counts = Object.fromEntries((['pending', 'copying', 'switched', 'skipped', 'failed', 'finalized', 'rolled_back'] as const).map((s) => [s, { count: 0, bytes: 0 }])) as Record<MigrationItemState, { count: number; bytes: number }>;
    for (const r of rows) counts[r.state] = { count: Number(r.count), bytes: Number(r.bytes ?? 0) };
    return counts;
  }

  /** Items that failed or were skipped, with their reasons. */
  async failures(id: string, states: MigrationItemState[] = ['failed']): Promise<{ storageKey: string; reason: string }[]> {
    const rows = await this.run('reading migration failures', () => this.db.selectFrom('migration_items').select(['storage_key', 'reason'])
      .where('run_id', '=', id).where('state', 'in', states).orderBy('storage_key').execute());
    return rows.map((r) => ({ storageKey: r.storage_key, reason: r.reason ?? 'unknown' }));
  }

  /**
   * True when the object is held by an unfinished migration: a source copy kept for rollback
   * until finalize, or a destination copy being written. Orphan cleanup leaves such objects alone.
   */
  async holdsObject(provider: string, storageKey: string): Promise<boolean> {
    const row = await this.run('reading migrations', () => this.db.selectFrom('migration_items')
      .innerJoin('migration_runs', 'migration_runs.id', 'migration_items.run_id')
      .select('migration_items.storage_key')
      .where('migration_items.storage_key', '=', storageKey)
      .where('migration_runs.status', 'not in', ['finalized', 'rolled_back'])
      .where((eb) => eb.or([
        eb.and([eb('migration_runs.from_provider', '=', provider), eb('migration_items.state', '=', 'switched')]),
        eb.and([eb('migration_runs.to_provider', '=', provider), eb('migration_items.state', '=', 'copying')]),
      ]))
      .executeTakeFirst());
    return row !== undefined;
  }
}
