import { createHash, randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { DatabaseSync } from 'node:sqlite';
import { isAbsolute, join, resolve } from 'node:path';
import type { CompiledQuery, Kysely, Transaction } from 'kysely';
import { ConfigError, InsufficientStorageError, isDiskFull, ProviderUnavailableError, StorageError } from '../errors.ts';
import { assertOptionalPackages } from '../config/optional-packages.ts';
import { assertSafeId, assertSafePrefix, parseArtifactKey } from '../keys.ts';
import { decodeCursor, encodeCursor, invalidCursor, listLimit } from '../providers/list-cursor.ts';
import type { ArtifactReference, Visibility } from '../manager/artifact-reference.ts';
import type { MediaFacts } from '../media/media-facts.ts';
import { catalogMigrations } from './migrations.ts';
import { nodeSqliteDialect, openSqlite } from './node-sqlite-dialect.ts';
import { kysely as loadKysely, sql } from './kysely-runtime.ts';
import { migrateWithoutKysely } from './sqlite-schema.ts';
import { SqliteWrites } from './sqlite-writes.ts';
import type { RecordEntry } from './sqlite-writes.ts';
import { BackgroundCheckpointer } from '../sqlite/background-checkpoint.ts';
import { createPrivateFile } from '../sqlite/private-file.ts';
import type { SharedDatabase } from '../sqlite/shared-database.ts';
import { TrashRecords } from './trash-records.ts';
import { WebhookRecords } from '../webhooks/webhook-records.ts';
import { LeaseRecords } from './lease-records.ts';
import { MigrationRecords } from './migration-records.ts';
import { LineageRecords } from './lineage-records.ts';
import { CorruptCopyRecords } from './corrupt-copy-records.ts';
import { DeletionRecords } from './deletion-records.ts';
import { AuditRecords } from './audit-records.ts';
import { BoardRecords } from './board-records.ts';
import type { ArtifactRow, AuditAction, AuditInsert, CatalogTables, LineageRow, PendingUploadRow, UploadState } from './tables.ts';

export type { AuditAction, PendingUploadRow, UploadState } from './tables.ts';

/** An artifact as the catalog records it: the reference less its URL, plus lifecycle fields. */
export type CatalogArtifact = Omit<ArtifactReference, 'storageUrl' | 'variants'> & { jobId?: string; generationId?: string; expiresAt?: string };

export interface RecordOptions {
  /** On SQLite, share one commit with the records that arrive in this turn of the event loop (group commit; see Catalog.joinBatch). */
  together?: boolean;
  /**
   * A write on the catalog's SQLite connection to run in the record's transaction (the local
   * provider's row that makes the object visible; see UploadOptions.commitWith). Only where
   * `sharedDatabase` is defined.
   */
  alsoRun?: () => void;
}

type PendingBatch = { entry: RecordEntry; resolve: (error: unknown) => void; reject: (error: unknown) => void }[];

export interface ListArtifactsQuery {
  /** Defaults to `default`. */
  tenantId?: string;
  boardId?: string;
  artifactType?: string;
  /** Only artifacts with this artifact id. */
  artifactId?: string;
  /** A key prefix below the tenant (`image/board1/`). */
  prefix?: string;
  limit?: number;
  cursor?: string;
}

export interface CatalogPage {
  items: CatalogArtifact[];
  nextCursor?: string;
}

export interface UsageFigures {
  total: { count: number; bytes: number };
  byArtifactType: { artifactType: string; count: number; bytes: number }[];
  byProvider: { provider: string; count: number; bytes: number }[];
}

export interface AuditEvent {
  action: AuditAction;
  tenantId: string;
  storageKey: string;
  actor?: string;
  details?: Record<string, unknown>;
}

/**
 * The record of every stored artifact and the audit trail of what was done to them: SQLite
 * (node:sqlite, one WAL file in the data directory) by default, PostgreSQL when `database_url`
 * is a postgres:// URL. One Kysely query layer and one set of migrations serve both.
 */
export class Catalog {
  readonly dialect: 'sqlite' | 'postgres';
  /** Makes the query layer: on SQLite, only when a query needs it (see kysely-runtime.ts). */
  private readonly makeDb: () => Kysely<CatalogTables>;
  private madeDb: Kysely<CatalogTables> | undefined;
  /** SQLite: the one connection, which Kysely too runs on once made. */
  private readonly sqlite: DatabaseSync | undefined;
  /** SQLite: the per-store write, precompiled (see SqliteWrites). */
  private sqliteWrites: SqliteWrites | undefined;
  /** SQLite: records waiting for this turn's group commit (see joinBatch). */
  private batch: PendingBatch | undefined;
  /** SQLite in a file: WAL checkpoints run on a worker thread, not inside a store's commit. */
  private checkpointer: BackgroundCheckpointer | undefined;
  private readonly closeListeners: (() => void)[] = [];
  /** SQLite in a file: the database others may keep tables in (see sharedDatabase). */
  private shared: SharedDatabase | undefined;
  /** Deleted artifacts kept for `trash_retention` (see TrashRecords). */
  readonly trash: TrashRecords;
  /** Provider migrations: their runs and per-artifact state. */
  readonly migrations: MigrationRecords;

  /** The webhook outbox: events written with each change, and their deliveries. */
  readonly webhooks: WebhookRecords;
  /** Boards: the artifacts that name one, summed up and paged through. */
  readonly boards: BoardRecords;

  /** Lineage: which artifacts each artifact was made from. */
  readonly lineage: LineageRecords;
  /** The audit trail, read a page at a time (writes go with each change). */
  readonly auditLog: AuditRecords;

  /** Leases (PostgreSQL): which node runs the background work (see LeaderLease). */
  readonly leases: LeaseRecords;
  /** Copies known to be corrupt and not yet repaired (see ReadIntegrity). */
  readonly corruptCopies: CorruptCopyRecords;
  /** Objects whose records are gone, still to be deleted from their providers (see DeletionRecords). */
  readonly deletions: DeletionRecords;
  /** The look-ups every read makes (`artifactByKey`) and every request for a made variant (`?variant=`), compiled once: building the query cost more than running it. */
  private compiled: { artifactByKey: CompiledQuery<ArtifactRow>; artifactsByPrefix: CompiledQuery<ArtifactRow> } | undefined;

  private constructor(makeDb: () => Kysely<CatalogTables>, dialect: 'sqlite' | 'postgres', sqlite?: DatabaseSync) {
    this.makeDb = makeDb;
    this.dialect = dialect;
    this.sqlite = sqlite;
    const run = <T>(what: string, operation: () => Promise<T>) => this.run(what, operation);
    const db = () => this.db;
    this.trash = new TrashRecords(db, run);
    this.migrations = new MigrationRecords(db, run);
    this.webhooks = new WebhookRecords(db, run);
    this.lineage = new LineageRecords(db, run);
    this.auditLog = new AuditRecords(db, run);
    this.boards = new BoardRecords(db, run);
    this.leases = new LeaseRecords(db, run);
    this.corruptCopies = new CorruptCopyRecords(db, run, () => (this.madeDb ? undefined : this.sqlite));
    this.deletions = new DeletionRecords(db, run);
  }

  /** The query layer itself, for operations that read whole tables (backups). */
  get kysely(): Kysely<CatalogTables> {
    return this.db;
  }

  private get db(): Kysely<CatalogTables> {
    return this.madeDb ??= this.makeDb();
  }

  private get artifactByKey(): CompiledQuery<ArtifactRow> {
    return this.queries().artifactByKey;
  }

  private get artifactsByPrefix(): CompiledQuery<ArtifactRow> {
    return this.queries().artifactsByPrefix;
  }

  private queries(): NonNullable<Catalog['compiled']> {
    return this.compiled ??= {
      artifactByKey: this.db.selectFrom('artifacts').selectAll().where('storage_key', '=', '').compile(),
      artifactsByPrefix: this.db.selectFrom('artifacts').selectAll().where('storage_key', '>=', '').where('storage_key', '<', '~').orderBy('storage_key').limit(1).compile(),
    };
  }

  /** Connect and bring the schema up to date. */
  static async open(options: { databaseUrl?: string; dataDir: string }): Promise<Catalog> {
    const { makeDb, dialect, path } = await connect(options.databaseUrl, options.dataDir);
    let catalog: Catalog | undefined;
    try {
      // SQLite: the connection opens here, and Kysely only when a query needs it; a current (or new) schema needs none.
      const connection = path === undefined ? undefined : openSqlite(path);
      catalog = new Catalog(connection ? () => makeDb(connection) : makeDb, dialect, connection);
      const migrations = Object.keys(await catalogMigrations.getMigrations());
      if (!connection || !migrateWithoutKysely(connection, migrations)) {
        // Migration names were handed out to parallel work (0003, 0006, ...): a database may have run a later one first.
        const { error } = await new (loadKysely().Migrator)({ db: catalog.db, provider: catalogMigrations, allowUnorderedMigrations: true }).migrateToLatest();
        if (error) throw error;
      }
      if (connection) {
        catalog.sqliteWrites = new SqliteWrites(connection);
        // A store's record commits about ten pages: about SQLite's 1000-page threshold per checkpoint.
        if (path !== ':memory:') {
          const owner = catalog;
          owner.checkpointer = new BackgroundCheckpointer(path!, connection, { commitsPerCheckpoint: 100 });
          owner.shared = {
            path: path!, connection,
            exclusively: async (write) => {
              const result = await owner.onSqlite(write);
              owner.checkpointer?.committed();
              return result;
            },
          };
        }
      }
    } catch (error) {
      await catalog?.closeConnection();
      throw new ConfigError(`database_url: the catalog could not be prepared (${(error as Error).message})`, { cause: error });
    }
    return catalog;
  }

  /**
   * The catalog's SQLite file, for a provider to keep its index in, so that the row making an
   * object visible commits with the object's record (RecordOptions.alsoRun). Undefined on
   * PostgreSQL and in memory.
   */
  get sharedDatabase(): SharedDatabase | undefined {
    return this.shared;
  }

  /** Record a stored artifact and its audit entry together, with its lineage links (see LineageRecords.rows). */
  async record(artifact: CatalogArtifact, actor?: string, action: AuditAction = 'stored', mirrors: string[] = [], variantJobs: string[] = [], links: LineageRow[] = [], options: RecordOptions = {}): Promise<void> {
    const row = toRow(artifact);
    // Mirror copies and preset variants are queued with the record itself: a crash after this cannot lose them.
    const now = new Date().toISOString();
    const copies = mirrors.map((provider) => ({ storage_key: artifact.storageKey, provider, status: 'pending' as const, attempts: 0, next_attempt_at: now, last_error: null }));
    const jobs = variantJobs.map((name) => ({ storage_key: artifact.storageKey, name, status: 'pending' as const, attempts: 0, next_attempt_at: now, last_error: null }));
    // Only a completed direct upload has a pending row to retire.
    const retirePendingUpload = action === 'upload_completed';
    const [audit] = auditRows([{ action, tenantId: artifact.tenantId, storageKey: artifact.storageKey, ...(actor ? { actor } : {}), details: { provider: artifact.storageProvider, size: artifact.size, sha256: artifact.sha256, ...(links.length ? { inputs: links.map((l) => l.input_key) } : {}) } }]);
    const sqliteWrites = this.sqliteWrites;
    if (sqliteWrites) {
      const entry: RecordEntry = { artifact: row, audit: audit!, copies, retirePendingUpload, variantJobs: jobs, links, ...(options.alsoRun ? { alsoRun: options.alsoRun } : {}) };
      if (options.together || this.batch) {
        const error = await this.joinBatch(entry);
        if (error !== undefined) await this.run('recording an artifact', () => Promise.reject(error));
        return;
      }
      await this.run('recording an artifact', () => this.onSqlite(() => sqliteWrites.record(entry)));
      this.checkpointer?.committed();
      return;
    }
    if (options.alsoRun) throw new StorageError('catalog: alsoRun needs the SQLite catalog\'s own connection');
    await this.run('recording an artifact', () => this.db.transaction().execute(async (tx) => {
      await tx.insertInto('artifacts').values(row).execute();
      if (copies.length) await tx.insertInto('copies').values(copies).execute();
      if (jobs.length) await tx.insertInto('variant_jobs').values(jobs).execute();
      if (links.length) await tx.insertInto('lineage').values(links).execute();
      if (retirePendingUpload) await tx.deleteFrom('pending_uploads').where('storage_key', '=', artifact.storageKey).execute();
      await tx.insertInto('audit_log').values(audit!).execute();
    }));
  }

  /**
   * Group commit on SQLite: records wait for the end of this turn of the event loop, and all that
   * arrive meanwhile go in one transaction (SqliteWrites.recordAll: one refused is retried apart
   * from the others). Every store still returns only after its record is committed, but concurrent
   * stores share one commit and the index pages they all touch, where each wrote about 14 WAL pages alone.
   * Resolves with the entry's own error, if any; rejects when the transaction failed as a whole.
   */
  private joinBatch(entry: RecordEntry): Promise<unknown> {
    let batch = this.batch;
    if (!batch) {
      const scheduled: PendingBatch = batch = this.batch = [];
      setImmediate(() => {
        if (this.batch === scheduled) this.batch = undefined;
        void this.commitBatch(scheduled);
      });
    }
    return new Promise((resolve, reject) => batch.push({ entry, resolve, reject }));
  }

  private async commitBatch(batch: PendingBatch): Promise<void> {
    try {
      const sqliteWrites = this.sqliteWrites!;
      const outcomes = await this.run('recording artifacts', () => this.onSqlite(() => sqliteWrites.recordAll(batch.map((b) => b.entry))));
      this.checkpointer?.committed();
      batch.forEach((b, i) => b.resolve(outcomes[i]));
    } catch (error) {
      for (const b of batch) b.reject(error);
    }
  }

  async get(storageKey: string): Promise<CatalogArtifact | undefined> {
    const { rows } = await this.run('reading the catalog', () => this.db.executeQuery<ArtifactRow>({ ...this.artifactByKey, parameters: [storageKey] }));
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  /** The records of several keys in one query (a migration reads its work a page at a time); keys with none are absent. */
  async getMany(storageKeys: string[]): Promise<Map<string, CatalogArtifact>> {
    if (storageKeys.length === 0) return new Map();
    const rows = await this.run('reading the catalog', () => this.db.selectFrom('artifacts').selectAll().where('storage_key', 'in', storageKeys).execute());
    return new Map(rows.map((r) => [r.storage_key, fromRow(r)]));
  }

  /** Remove an artifact's record; true when there was one. */
  async remove(storageKey: string, tenantId: string, actor?: string, onlyOnProvider?: string): Promise<boolean> {
    return this.run('deleting from the catalog', () => this.db.transaction().execute(async (tx) => {
      // With onlyOnProvider: not if the row was switched to another provider meanwhile (a migration).
      let remove = tx.deleteFrom('artifacts').where('storage_key', '=', storageKey);
      if (onlyOnProvider !== undefined) remove = remove.where('provider', '=', onlyOnProvider);
      const removed = Number((await remove.executeTakeFirst()).numDeletedRows) > 0;
      if (removed) {
        await tx.deleteFrom('copies').where('storage_key', '=', storageKey).execute();
        await tx.deleteFrom('variant_jobs').where('storage_key', '=', storageKey).execute();
        await insertAudit(tx, [{ action: 'deleted', tenantId, storageKey, ...(actor ? { actor } : {}) }]);
      }
      return removed;
    }));
  }

  async setVisibility(storageKey: string, tenantId: string, visibility: Visibility, actor?: string): Promise<boolean> {
    return this.run('updating the catalog', () => this.db.transaction().execute(async (tx) => {
      const result = await tx.updateTable('artifacts').set({ visibility }).where('storage_key', '=', storageKey).executeTakeFirst();
      const changed = Number(result.numUpdatedRows) > 0;
      if (changed) await insertAudit(tx, [{ action: 'visibility_changed', tenantId, storageKey, ...(actor ? { actor } : {}), details: { visibility } }]);
      return changed;
    }));
  }

  /**
   * Replace an artifact's user metadata if it is still `expected` (a concurrent change makes this
   * return false, and the caller merges again), with its audit entry.
   */
  async setMetadata(storageKey: string, tenantId: string, expected: Record<string, unknown>, metadata: Record<string, unknown>, details: Record<string, unknown>, actor?: string): Promise<boolean> {
    return this.run('updating metadata', () => this.db.transaction().execute(async (tx) => {
      const result = await tx.updateTable('artifacts').set({ metadata: JSON.stringify(metadata) })
        .where('storage_key', '=', storageKey).where('metadata', '=', JSON.stringify(expected)).executeTakeFirst();
      const changed = Number(result.numUpdatedRows) > 0;
      if (changed) await insertAudit(tx, [{ action: 'metadata_changed', tenantId, storageKey, ...(actor ? { actor } : {}), details }]);
      return changed;
    }));
  }

  /** A tenant's artifacts in key order: a range scan on an index, the same cost on any page. */
  async list(query: ListArtifactsQuery): Promise<CatalogPage> {
    const tenant = assertSafeId('tenantId', query.tenantId ?? 'default');
    const limit = listLimit(query.limit);
    const after = decodeCursor(query.cursor);
    // A cursor names a key of this tenant's listing; any other is not one this listing issued.
    if (after && !after.startsWith(`${tenant}/`)) throw invalidCursor();
    // Variants are shown with their original, never as artifacts of their own.
    let select = this.db.selectFrom('artifacts').selectAll().where('tenant_id', '=', tenant).where('original_key', 'is', null);
    if (query.boardId !== undefined) select = select.where('board_id', '=', assertSafeId('boardId', query.boardId));
    if (query.artifactType !== undefined) select = select.where('artifact_type', '=', assertSafeId('artifactType', query.artifactType));
    if (query.artifactId !== undefined) select = select.where('artifact_id', '=', assertSafeId('artifactId', query.artifactId));
    if (query.prefix) {
      const prefix = `${tenant}/${assertSafePrefix(query.prefix)}`;
      // Keys use only [A-Za-z0-9._/-], all below "~": [prefix, prefix~) is exactly the prefix range.
      select = select.where('storage_key', '>=', prefix).where('storage_key', '<', `${prefix}~`);
    }
    if (after) select = select.where('storage_key', '>', after);
    const rows = await this.run('listing the catalog', () => select.orderBy('storage_key').limit(limit + 1).execute());
    const more = rows.length > limit;
    const items = rows.slice(0, limit).map(fromRow);
    return { items, ...(more ? { nextCursor: encodeCursor(items.at(-1)!.storageKey) } : {}) };
  }

  async usage(tenantId: string): Promise<UsageFigures> {
    const tenant = assertSafeId('tenantId', tenantId);
    // Variants' bytes count, the variants themselves do not.
    const count = sql<string | number>`sum(case when original_key is null then 1 else 0 end)`;
    const bytes = sql<string | number | null>`sum(size)`;
    const [byType, byProvider] = await this.run('reading usage', () => Promise.all([
      this.db.selectFrom('artifacts').select(['artifact_type', count.as('count'), bytes.as('bytes')]).where('tenant_id', '=', tenant).groupBy('artifact_type').orderBy('artifact_type').execute(),
      this.db.selectFrom('artifacts').select(['provider', count.as('count'), bytes.as('bytes')]).where('tenant_id', '=', tenant).groupBy('provider').orderBy('provider').execute(),
    ]));
    const byArtifactType = byType.map((r) => ({ artifactType: r.artifact_type, count: Number(r.count), bytes: Number(r.bytes ?? 0) }));
    return {
      total: byArtifactType.reduce((t, r) => ({ count: t.count + r.count, bytes: t.bytes + r.bytes }), { count: 0, bytes: 0 }),
      byArtifactType,
      byProvider: byProvider.map((r) => ({ provider: r.provider, count: Number(r.count), bytes: Number(r.bytes ?? 0) })),
    };
  }

  /**
   * The tenants that have artifacts, in id order after `after`, with their artifact counts (variants
   * not counted, their bytes are) and bytes: one page of at most `limit`.
   */
  async tenants(options: { after?: string; limit: number }): Promise<{ tenantId: string; artifacts: number; bytes: number }[]> {
    let select = this.db.selectFrom('artifacts')
      .select(['tenant_id', sql<string | number>`sum(case when original_key is null then 1 else 0 end)`.as('artifacts'), sql<string | number | null>`sum(size)`.as('bytes')]);
    if (options.after !== undefined) select = select.where('tenant_id', '>', assertSafeId('tenantId', options.after));
    const rows = await this.run('reading tenants', () => select.groupBy('tenant_id').orderBy('tenant_id').limit(options.limit).execute());
    return rows.map((r) => ({ tenantId: r.tenant_id, artifacts: Number(r.artifacts), bytes: Number(r.bytes ?? 0) }));
  }

  /** Up to `limit` artifacts whose keys start with `prefix`, in key order (a range scan on the key). */
  async withKeyPrefix(prefix: string, limit: number): Promise<CatalogArtifact[]> {
    // Keys use only [A-Za-z0-9._/-], all below "~": [prefix, prefix~) is exactly the prefix range.
    const { rows } = await this.run('reading the catalog', () => this.db.executeQuery<ArtifactRow>({ ...this.artifactsByPrefix, parameters: [prefix, `${prefix}~`, limit] }));
    return rows.map(fromRow);
  }

  /** The variants of these originals, in key order. */
  async variantsOf(originalKeys: string[]): Promise<CatalogArtifact[]> {
    if (originalKeys.length === 0) return [];
    const rows = await this.run('reading variants', () => this.db.selectFrom('artifacts').selectAll().where('original_key', 'in', originalKeys).orderBy('storage_key').execute());
    return rows.map(fromRow);
  }

  /**
   * Take up to `limit` due variant jobs for `leaseMs`, as claimCopies does: of two processes only
   * one takes a job, and a crashed worker's jobs come due again when the lease ends.
   */
  async claimVariantJobs(now: Date, limit: number, leaseMs: number): Promise<{ storageKey: string; name: string; attempts: number }[]> {
    const due = now.toISOString();
    const lease = new Date(now.getTime() + leaseMs).toISOString();
    return this.run('claiming variant jobs', () => this.db.transaction().execute(async (tx) => {
      const candidates = await tx.selectFrom('variant_jobs').select(['storage_key', 'name', 'attempts', 'next_attempt_at']).where('status', '=', 'pending').where('next_attempt_at', '<=', due).orderBy('next_attempt_at').limit(limit).execute();
      const claimed: { storageKey: string; name: string; attempts: number }[] = [];
      for (const c of candidates) {
        const result = await tx.updateTable('variant_jobs').set({ next_attempt_at: lease }).where('storage_key', '=', c.storage_key).where('name', '=', c.name).where('next_attempt_at', '=', c.next_attempt_at).where('status', '=', 'pending').executeTakeFirst();
        if (Number(result.numUpdatedRows) > 0) claimed.push({ storageKey: c.storage_key, name: c.name, attempts: Number(c.attempts) });
      }
      return claimed;
    }));
  }

  /** A job is over: made (`done`) or not possible here (`skipped`, with the reason). */
  async finishVariantJob(storageKey: string, name: string, status: 'done' | 'skipped', reason?: string): Promise<void> {
    await this.run('finishing a variant job', () => this.db.updateTable('variant_jobs').set({ status, last_error: reason?.slice(0, 1000) ?? null }).where('storage_key', '=', storageKey).where('name', '=', name).execute());
  }

  async retryVariantJobLater(storageKey: string, name: string, attempts: number, next: Date, error: string): Promise<void> {
    await this.run('rescheduling a variant job', () => this.db.updateTable('variant_jobs').set({ attempts, next_attempt_at: next.toISOString(), last_error: error.slice(0, 1000) }).where('storage_key', '=', storageKey).where('name', '=', name).execute());
  }

  /** The variant jobs of an original, by name. */
  async variantJobsOf(storageKey: string): Promise<{ name: string; status: string; attempts: number; lastError?: string }[]> {
    const rows = await this.run('reading variant jobs', () => this.db.selectFrom('variant_jobs').selectAll().where('storage_key', '=', storageKey).orderBy('name').execute());
    return rows.map((r) => ({ name: r.name, status: r.status, attempts: Number(r.attempts), ...(r.last_error ? { lastError: r.last_error } : {}) }));
  }

  /** A tenant's live artifacts (variants count only their bytes) and their bytes, in one indexed query (for quotas). */
  async tenantTotals(tenantId: string): Promise<{ artifacts: number; bytes: number }> {
    const row = await this.run('reading usage', () => this.db.selectFrom('artifacts')
      .select([sql<string | number>`sum(case when original_key is null then 1 else 0 end)`.as('count'), sql<string | number | null>`sum(size)`.as('bytes')])
      .where('tenant_id', '=', assertSafeId('tenantId', tenantId)).executeTakeFirst());
    return { artifacts: Number(row?.count ?? 0), bytes: Number(row?.bytes ?? 0) };
  }

  /** Every copy of an artifact besides its primary (pending or done). */
  async copiesOf(storageKey: string): Promise<{ provider: string; status: 'pending' | 'done' }[]> {
    const rows = await this.run('reading copies', () => this.db.selectFrom('copies').select(['provider', 'status']).where('storage_key', '=', storageKey).orderBy('provider').execute());
    return rows.map((r) => ({ provider: r.provider, status: r.status }));
  }

  /**
   * Take up to `limit` due mirror copies for `leaseMs`: their next attempt moves past the lease, so
   * another process does not take them meanwhile. A crashed worker's copies come due again.
   */
  async claimCopies(now: Date, limit: number, leaseMs: number): Promise<{ storageKey: string; provider: string; attempts: number }[]> {
    const due = now.toISOString();
    const lease = new Date(now.getTime() + leaseMs).toISOString();
    return this.run('claiming mirror copies', () => this.db.transaction().execute(async (tx) => {
      const candidates = await tx.selectFrom('copies').select(['storage_key', 'provider', 'attempts', 'next_attempt_at']).where('status', '=', 'pending').where('next_attempt_at', '<=', due).orderBy('next_attempt_at').limit(limit).execute();
      const claimed: { storageKey: string; provider: string; attempts: number }[] = [];
      for (const c of candidates) {
        // Conditional on the value read: of two processes, only one moves it.
        const result = await tx.updateTable('copies').set({ next_attempt_at: lease }).where('storage_key', '=', c.storage_key).where('provider', '=', c.provider).where('next_attempt_at', '=', c.next_attempt_at).where('status', '=', 'pending').executeTakeFirst();
        if (Number(result.numUpdatedRows) > 0) claimed.push({ storageKey: c.storage_key, provider: c.provider, attempts: Number(c.attempts) });
      }
      return claimed;
    }));
  }

  /** Queue copies of a stored artifact to these providers, due now; a copy already queued or done is left as it is. */
  async queueCopies(storageKey: string, providers: string[]): Promise<void> {
    if (providers.length === 0) return;
    const now = new Date().toISOString();
    const rows = providers.map((provider) => ({ storage_key: storageKey, provider, status: 'pending' as const, attempts: 0, next_attempt_at: now, last_error: null }));
    await this.run('queueing mirror copies', () => this.db.insertInto('copies').values(rows).onConflict((oc) => oc.columns(['storage_key', 'provider']).doNothing()).execute());
  }

  async finishCopy(storageKey: string, provider: string): Promise<void> {
    await this.run('finishing a copy', () => this.db.updateTable('copies').set({ status: 'done', last_error: null }).where('storage_key', '=', storageKey).where('provider', '=', provider).execute());
  }

  async retryCopyLater(storageKey: string, provider: string, attempts: number, next: Date, error: string): Promise<void> {
    await this.run('rescheduling a copy', () => this.db.updateTable('copies').set({ attempts, next_attempt_at: next.toISOString(), last_error: error.slice(0, 1000) }).where('storage_key', '=', storageKey).where('provider', '=', provider).execute());
  }

  /** Move an artifact's record to another provider (after its bytes were copied there). */
  async moveTo(storageKey: string, tenantId: string, provider: string, actor?: string): Promise<void> {
    await this.run('moving an artifact', () => this.db.transaction().execute(async (tx) => {
      await tx.updateTable('artifacts').set({ provider }).where('storage_key', '=', storageKey).execute();
      await insertAudit(tx, [{ action: 'moved', tenantId, storageKey, ...(actor ? { actor } : {}), details: { provider } }]);
    }));
  }

  /** Every artifact (of one tenant, one board) in key order after `afterKey` (rebalancing, scrubs). */
  async artifactsAfter(afterKey: string, limit: number, filters: { tenantId?: string; boardId?: string } = {}): Promise<CatalogArtifact[]> {
    let select = this.db.selectFrom('artifacts').selectAll().where('storage_key', '>', afterKey);
    if (filters.tenantId !== undefined) select = select.where('tenant_id', '=', assertSafeId('tenantId', filters.tenantId));
    if (filters.boardId !== undefined) select = select.where('board_id', '=', assertSafeId('boardId', filters.boardId));
    const rows = await this.run('reading artifacts', () => select.orderBy('storage_key').limit(limit).execute());
    return rows.map(fromRow);
  }

  /** Stored artifacts and bytes per provider and tenant. */
  async usageByProviderAndTenant(): Promise<{ provider: string; tenantId: string; count: number; bytes: number }[]> {
    const rows = await this.run('reading usage', () => this.db.selectFrom('artifacts')
      .select(['provider', 'tenant_id', sql<string | number>`count(*)`.as('count'), sql<string | number | null>`sum(size)`.as('bytes')])
      .groupBy(['provider', 'tenant_id']).orderBy('provider').orderBy('tenant_id').execute());
    return rows.map((r) => ({ provider: r.provider, tenantId: r.tenant_id, count: Number(r.count), bytes: Number(r.bytes ?? 0) }));
  }

  async audit(events: AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.run('writing the audit trail', () => insertAudit(this.db, events));
  }

  /** The audit trail of one artifact, oldest first. */
  async auditTrail(storageKey: string): Promise<(AuditEvent & { at: string })[]> {
    const rows = await this.run('reading the audit trail', () => this.db.selectFrom('audit_log').selectAll().where('storage_key', '=', storageKey).orderBy('at').orderBy('id').execute());
    return rows.map((r) => ({ at: r.at, action: r.action, tenantId: r.tenant_id, storageKey: r.storage_key, ...(r.actor ? { actor: r.actor } : {}), details: JSON.parse(r.details) as Record<string, unknown> }));
  }

  /** A job's artifacts of one type (its temporary files). */
  async findByJob(jobId: string, artifactType: string): Promise<CatalogArtifact[]> {
    const rows = await this.run('reading a job\'s artifacts', () => this.db.selectFrom('artifacts').selectAll().where('job_id', '=', jobId).where('artifact_type', '=', artifactType).orderBy('storage_key').execute());
    return rows.map(fromRow);
  }

  async addPendingUpload(input: Omit<PendingUploadRow, 'state' | 'exact_size' | 'received_size' | 'received_sha256' | 'metadata' | 'inputs'> & { exact_size?: number | null; metadata?: string | null; inputs?: string | null }): Promise<void> {
    const upload: PendingUploadRow = { ...input, state: 'presigned', exact_size: input.exact_size ?? null, received_size: null, received_sha256: null, metadata: input.metadata ?? null, inputs: input.inputs ?? null };
    await this.run('recording a pending upload', () => this.db.transaction().execute(async (tx) => {
      await tx.insertInto('pending_uploads').values(upload).execute();
      await insertAudit(tx, [{ action: 'upload_presigned', tenantId: upload.tenant_id, storageKey: upload.storage_key, ...(upload.actor ? { actor: upload.actor } : {}), details: { provider: upload.provider, maxSize: upload.max_size } }]);
    }));
  }

  async getPendingUpload(storageKey: string): Promise<PendingUploadRow | undefined> {
    const row = await this.run('reading pending uploads', () => this.db.selectFrom('pending_uploads').selectAll().where('storage_key', '=', storageKey).executeTakeFirst());
    return row ? pendingUpload(row) : undefined;
  }

  /**
   * Move a pending upload from one of `from` to `to` in one statement: of two callers racing for
   * the same upload exactly one gets the row back. `received` records what landed.
   */
  async moveUpload(storageKey: string, from: UploadState[], to: UploadState, received?: { size: number; sha256: string }): Promise<PendingUploadRow | undefined> {
    const row = await this.run('updating a pending upload', () => this.db.updateTable('pending_uploads')
      .set({ state: to, ...(received ? { received_size: received.size, received_sha256: received.sha256 } : {}) })
      .where('storage_key', '=', storageKey).where('state', 'in', from)
      .returningAll().executeTakeFirst());
    return row ? pendingUpload(row) : undefined;
  }

  async removePendingUpload(storageKey: string): Promise<void> {
    await this.run('removing a pending upload', () => this.db.deleteFrom('pending_uploads').where('storage_key', '=', storageKey).execute());
  }

  /**
   * Take up to `limit` artifacts whose expiry has passed: their rows (and their mirror copies') are
   * deleted and returned in one transaction, so two processes sweeping at once never take the same
   * one, and their objects are queued for deletion in it (see DeletionRecords).
   */
  async claimExpired(now: Date, limit: number, actor = 'cleanup'): Promise<CatalogArtifact[]> {
    const at = now.toISOString();
    return this.run('claiming expired artifacts', () => this.db.transaction().execute(async (tx) => {
      const rows = await tx.deleteFrom('artifacts')
        .where('storage_key', 'in', tx.selectFrom('artifacts').select('storage_key').where('expires_at', '<=', at).orderBy('expires_at').limit(limit))
        .returningAll().execute();
      await insertAudit(tx, rows.map((r) => ({ action: 'deleted' as const, tenantId: r.tenant_id, storageKey: r.storage_key, actor, details: { reason: 'expired', expiresAt: r.expires_at } })));
      const keys = rows.map((r) => r.storage_key);
      const copies = keys.length ? await tx.deleteFrom('copies').where('storage_key', 'in', keys).returning(['storage_key', 'provider']).execute() : [];
      await DeletionRecords.queue(tx, [...rows, ...copies].map((r) => ({ storageKey: r.storage_key, provider: r.provider })), now);
      return rows.map(fromRow);
    }));
  }

  /** The same for presigned uploads never completed before their URL expired. */
  async claimExpiredUploads(now: Date, limit: number): Promise<PendingUploadRow[]> {
    const at = now.toISOString();
    return this.run('claiming expired uploads', () => this.db.transaction().execute(async (tx) => {
      const rows = await tx.deleteFrom('pending_uploads')
        .where('storage_key', 'in', tx.selectFrom('pending_uploads').select('storage_key').where('expires_at', '<=', at).orderBy('expires_at').limit(limit))
        .returningAll().execute();
      await DeletionRecords.queue(tx, rows.map((r) => ({ storageKey: r.storage_key, provider: r.provider })), now);
      return rows.map(pendingUpload);
    }));
  }

  /** Artifacts created before `cutoff`, in key order after `afterKey`. */
  async createdBefore(cutoff: Date, filters: { tenantId?: string; artifactType?: string }, afterKey: string, limit: number): Promise<CatalogArtifact[]> {
    let select = this.db.selectFrom('artifacts').selectAll().where('created_at', '<', cutoff.toISOString()).where('storage_key', '>', afterKey);
    if (filters.tenantId !== undefined) select = select.where('tenant_id', '=', assertSafeId('tenantId', filters.tenantId));
    if (filters.artifactType !== undefined) select = select.where('artifact_type', '=', assertSafeId('artifactType', filters.artifactType));
    const rows = await this.run('reading old artifacts', () => select.orderBy('storage_key').limit(limit).execute());
    return rows.map(fromRow);
  }

  /** Keys recorded on one provider (live or in the trash), in key order after `afterKey`. */
  async keysOnProvider(provider: string, afterKey: string, limit: number): Promise<string[]> {
    const [live, trashed] = await this.run('reading keys', () => Promise.all([
      this.db.selectFrom('artifacts').select('storage_key').where('provider', '=', provider).where('storage_key', '>', afterKey).orderBy('storage_key').limit(limit).execute(),
      this.db.selectFrom('trash').select('storage_key').where('provider', '=', provider).where('storage_key', '>', afterKey).orderBy('storage_key').limit(limit).execute(),
    ]));
    return [...live, ...trashed].map((r) => r.storage_key).sort().slice(0, limit);
  }

  /**
   * Run `task` only if no other process is running one under the same name (a PostgreSQL advisory
   * lock held for its duration); undefined when another holds it. SQLite serves one host, where
   * claiming rows atomically is enough.
   */
  async exclusively<T>(name: string, task: () => Promise<T>): Promise<T | undefined> {
    if (this.dialect !== 'postgres') return task();
    const lockId = advisoryLockId(name);
    return this.db.connection().execute(async (connection) => {
      const { rows } = await sql<{ locked: boolean }>`SELECT pg_try_advisory_lock(${lockId}::bigint) AS locked`.execute(connection);
      if (!rows[0]?.locked) return undefined;
      try {
        return await task();
      } finally {
        await sql`SELECT pg_advisory_unlock(${lockId}::bigint)`.execute(connection);
      }
    });
  }

  /**
   * Claim this interval's run of a periodic job: true for exactly one caller (of every process
   * sharing the catalog) once `intervalMs` has passed since the last claimed start.
   */
  async claimScheduledRun(name: string, holder: string, now: Date, intervalMs: number): Promise<boolean> {
    const cutoff = new Date(now.getTime() - intervalMs).toISOString();
    return this.run('claiming a scheduled run', async () => {
      await this.db.insertInto('scheduled_runs').values({ name, started_at: new Date(0).toISOString(), holder: null }).onConflict((oc) => oc.column('name').doNothing()).execute();
      const result = await this.db.updateTable('scheduled_runs').set({ started_at: now.toISOString(), holder }).where('name', '=', name).where('started_at', '<=', cutoff).executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    });
  }

  async ping(): Promise<void> {
    await this.run('reaching the catalog', () => sql`SELECT 1`.execute(this.db));
  }

  /** SQLite in a file: the file's path while the catalog's connection is open; undefined otherwise (PostgreSQL, in memory, closed). */
  get sqliteFile(): string | undefined {
    return this.sqlite?.isOpen ? (this.sqlite.location() ?? undefined) : undefined;
  }

  /** Run `listener` once the catalog has closed its connections (whatever holds its files open lets go then). */
  afterClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  async close(): Promise<void> {
    try {
      // The background checkpoints' connection closes first, so the last one tidies the WAL away.
      await this.checkpointer?.close();
      await this.closeConnection();
    } finally {
      for (const listener of this.closeListeners.splice(0)) listener();
    }
  }

  private async closeConnection(): Promise<void> {
    try {
      await this.madeDb?.destroy();
    } finally {
      // Kysely closes the SQLite connection only if it ever used it.
      if (this.sqlite?.isOpen) this.sqlite.close();
    }
  }

  /**
   * Run a synchronous write on the SQLite connection. Once Kysely runs on it too, holding Kysely's
   * connection, so that no Kysely transaction is open on it meanwhile; before, nothing else can be.
   */
  private async onSqlite<T>(write: () => T): Promise<T> {
    if (!this.madeDb) return write();
    return this.madeDb.connection().execute(async () => write());
  }

  private async run<T>(what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof StorageError) throw error;
      if (isDiskFull(error)) {
        throw new InsufficientStorageError(`catalog: ${what} failed: the disk holding the catalog is full; free space (delete artifacts permanently, empty the trash) and retry`, { cause: error });
      }
      const code = (error as { code?: string }).code;
      // Connection trouble is retryable; anything else is a bug or a constraint, reported as is.
      if (code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'ECONNRESET' || code === '57P01' || code === 'SQLITE_BUSY' || code === 'ERR_SQLITE_ERROR' && /locked|busy/i.test((error as Error).message)) {
        throw new ProviderUnavailableError(`catalog: ${what} failed: ${(error as Error).message}`, { cause: error });
      }
      if (code === '23505' || /UNIQUE constraint/i.test((error as Error).message)) {
        throw new StorageError(`catalog: ${what}: the key is already recorded`, { code: 'CONFLICT', cause: error });
      }
      throw new StorageError(`catalog: ${what} failed: ${(error as Error).message}`, { cause: error });
    }
  }
}

export async function insertAudit(db: Kysely<CatalogTables> | Transaction<CatalogTables>, events: AuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db.insertInto('audit_log').values(auditRows(events)).execute();
}

function auditRows(events: AuditEvent[]): AuditInsert[] {
  const at = new Date().toISOString();
  return events.map((e) => ({
    id: auditId(), at, tenant_id: e.tenantId, actor: e.actor ?? null, action: e.action, storage_key: e.storageKey,
    board_id: parseArtifactKey(e.storageKey)?.boardId ?? null, details: JSON.stringify(e.details ?? {}),
  }));
}

/**
 * What a database URL names: on SQLite, the file's path (its connection is the catalog's to open)
 * and how to make the query layer on that connection; on PostgreSQL, a pool behind the query layer.
 */
async function connect(databaseUrl: string | undefined, dataDir: string): Promise<{ makeDb: (sqlite?: DatabaseSync) => Kysely<CatalogTables>; dialect: 'sqlite' | 'postgres'; path?: string }> {
  if (databaseUrl === undefined || databaseUrl.startsWith('sqlite:') || databaseUrl.startsWith('file:')) {
    const given = databaseUrl?.replace(/^(sqlite|file):(\/\/)?/, '');
    let path: string;
    if (given === ':memory:') path = ':memory:';
    else {
      path = given ? (isAbsolute(given) ? given : resolve(given)) : join(resolve(dataDir), 'catalog.sqlite');
      try {
        await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
        createPrivateFile(path);
      } catch (error) {
        throw new ConfigError(`database_url: cannot create ${path} or its folder (${(error as NodeJS.ErrnoException).code})`, { cause: error });
      }
    }
    const makeDb = (sqlite?: DatabaseSync) => {
      const kysely = loadKysely();
      return new kysely.Kysely<CatalogTables>({ dialect: nodeSqliteDialect(kysely.SqliteDialect, sqlite!) });
    };
    return { makeDb, dialect: 'sqlite', path };
  }
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    assertOptionalPackages('postgres', 'database_url');
    const pg = (await import('pg')).default;
    const int8 = 20;
    const pool = new pg.Pool({
      connectionString: databaseUrl,
      connectionTimeoutMillis: 10_000,
      max: 10,
      // Sizes are bigint columns; they fit a JavaScript number (up to 8 PiB), so read them as numbers.
      types: { getTypeParser: ((oid: number, format?: string) => (oid === int8 ? Number : pg.types.getTypeParser(oid, format as never))) as never },
    });
    // An idle connection the server ends (a restart, a failover, an administrator) is an 'error'
    // event on the pool, which without a listener ends the process. The pool has already dropped
    // that connection and the next query opens another; a query under way fails on its own.
    pool.on('error', () => undefined);
    const kysely = loadKysely();
    const db = new kysely.Kysely<CatalogTables>({ dialect: new kysely.PostgresDialect({ pool }) });
    return { makeDb: () => db, dialect: 'postgres' };
  }
  throw new ConfigError('database_url: use a postgres:// URL, or sqlite:PATH (the default is a SQLite file in the data directory)');
}

export function toRow(a: CatalogArtifact): ArtifactRow {
  return {
    storage_key: a.storageKey, provider: a.storageProvider, tenant_id: a.tenantId, board_id: a.boardId ?? null,
    artifact_type: a.artifactType, artifact_id: a.artifactId, variant: a.variant, content_type: a.contentType,
    size: a.size, sha256: a.sha256, visibility: a.visibility, metadata: JSON.stringify(a.metadata), created_at: a.createdAt,
    job_id: a.jobId ?? null, generation_id: a.generationId ?? null, expires_at: a.expiresAt ?? null,
    media: a.media ? JSON.stringify(a.media) : null, placeholder: a.placeholder ?? null, original_key: a.originalKey ?? null,
  };
}

export function fromRow(r: ArtifactRow): CatalogArtifact {
  return {
    artifactId: r.artifact_id, storageKey: r.storage_key, storageProvider: r.provider, contentType: r.content_type,
    size: Number(r.size), sha256: r.sha256, visibility: r.visibility === 'public' ? 'public' : 'private', createdAt: r.created_at,
    tenantId: r.tenant_id, ...(r.board_id === null ? {} : { boardId: r.board_id }), artifactType: r.artifact_type, variant: r.variant,
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
    ...(r.job_id === null ? {} : { jobId: r.job_id }), ...(r.generation_id === null ? {} : { generationId: r.generation_id }), ...(r.expires_at === null ? {} : { expiresAt: r.expires_at }),
    ...(r.media ? { media: JSON.parse(r.media) as MediaFacts } : {}), ...(r.placeholder ? { placeholder: r.placeholder } : {}), ...(r.original_key ? { originalKey: r.original_key } : {}),
  };
}

let lastIdMs = 0;
let idSequence = 0;

/**
 * A UUIDv7 (RFC 9562): the millisecond, then a 12-bit sequence that counts up within it, then
 * random bits. Ids of one process sort in the order they were made, so an audit trail ordered by
 * time and id keeps events of the same millisecond in the order they happened.
 */
export function auditId(): string {
  const now = Date.now();
  if (now > lastIdMs) {
    lastIdMs = now;
    idSequence = 0;
  } else if (++idSequence > 0xfff) {
    lastIdMs++;
    idSequence = 0;
  }
  // The random bits come from randomUUID, which draws on a cached entropy pool (randomBytes asks
  // the system each time).
  const random = randomUUID();
  const time = lastIdMs.toString(16).padStart(12, '0');
  const variant = ((parseInt(random[19]!, 16) & 0x3) | 0x8).toString(16);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${idSequence.toString(16).padStart(3, '0')}-${variant}${random.slice(20)}`;
}

/** A stable 63-bit id for a lock name. */
function advisoryLockId(name: string): string {
  return BigInt.asIntN(64, BigInt('0x' + createHash('sha256').update(`boards-storage:${name}`).digest('hex').slice(0, 16))).toString();
}

/** PostgreSQL returns bigint columns as strings. */
function pendingUpload(row: PendingUploadRow): PendingUploadRow {
  const count = (v: number | string | null) => (v === null ? null : Number(v));
  return { ...row, max_size: Number(row.max_size), exact_size: count(row.exact_size), received_size: count(row.received_size) };
}
