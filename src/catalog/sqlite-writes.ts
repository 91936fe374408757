import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import type { CompiledQuery, Kysely } from 'kysely';
import { toSqlite } from './node-sqlite-dialect.ts';
import type { ArtifactRow, AuditInsert, CatalogTables, CopyRow, LineageRow, VariantJobRow } from './tables.ts';

/**
 * The catalog's per-store write on SQLite without Kysely's per-call work: the statements are built
 * by Kysely once (the SQL still comes from the one typed query layer), prepared once on the
 * connection Kysely itself uses, and run in one synchronous transaction. The caller must hold
 * Kysely's connection while calling `record`, so no Kysely transaction is open around it.
 */
export class SqliteWrites {
  private readonly sqlite: DatabaseSync;
  private readonly insertArtifact: Precompiled;
  private readonly insertAudit: Precompiled;
  private readonly insertCopy: Precompiled;
  private readonly retirePendingUpload: Precompiled;
  private readonly insertVariantJob: Precompiled;
  private readonly insertLineage: Precompiled;

  constructor(sqlite: DatabaseSync, db: Kysely<CatalogTables>) {
    this.sqlite = sqlite;
    this.insertArtifact = new Precompiled(sqlite, ARTIFACT_COLUMNS, (v) => db.insertInto('artifacts').values(v as unknown as ArtifactRow).compile());
    this.insertAudit = new Precompiled(sqlite, AUDIT_COLUMNS, (v) => db.insertInto('audit_log').values(v as unknown as AuditInsert).compile());
    this.insertCopy = new Precompiled(sqlite, COPY_COLUMNS, (v) => db.insertInto('copies').values(v as unknown as CopyRow).compile());
    this.retirePendingUpload = new Precompiled(sqlite, ['storage_key'], (v) => db.deleteFrom('pending_uploads').where('storage_key', '=', v.storage_key as string).compile());
    this.insertVariantJob = new Precompiled(sqlite, VARIANT_JOB_COLUMNS, (v) => db.insertInto('variant_jobs').values(v as unknown as VariantJobRow).compile());
    this.insertLineage = new Precompiled(sqlite, LINEAGE_COLUMNS, (v) => db.insertInto('lineage').values(v as unknown as LineageRow).compile());
  }

  /** The artifact row, its mirror copies, its variant jobs, its lineage links, its audit entry and (for a completed upload) the retired pending row: all or nothing. */
  record(entry: RecordEntry): void {
    this.sqlite.exec('BEGIN IMMEDIATE');
    try {
      this.insert(entry);
      this.sqlite.exec('COMMIT');
    } catch (error) {
      if (this.sqlite.isTransaction) this.sqlite.exec('ROLLBACK');
      throw error;
    }
  }

  /**
   * Several stores' records in one transaction (group commit): each all or nothing in a savepoint
   * of its own, so one that fails (a key recorded already) leaves the others to commit. Returns
   * each entry's error, or undefined for one recorded; throws when the commit itself fails.
   */
  recordAll(entries: RecordEntry[]): unknown[] {
    const outcomes: unknown[] = [];
    this.sqlite.exec('BEGIN IMMEDIATE');
    try {
      for (const entry of entries) {
        this.sqlite.exec('SAVEPOINT store');
        try {
          this.insert(entry);
          this.sqlite.exec('RELEASE store');
          outcomes.push(undefined);
        } catch (error) {
          // Some failures (a full disk, I/O) roll the whole transaction back: then none is recorded.
          if (!this.sqlite.isTransaction) throw error;
          this.sqlite.exec('ROLLBACK TO store');
          this.sqlite.exec('RELEASE store');
          outcomes.push(error);
        }
      }
      this.sqlite.exec('COMMIT');
    } catch (error) {
      if (this.sqlite.isTransaction) this.sqlite.exec('ROLLBACK');
      throw error;
    }
    return outcomes;
  }

  private insert({ artifact, audit, copies, retirePendingUpload, variantJobs, links }: RecordEntry): void {
    this.insertArtifact.run(artifact);
    for (const copy of copies) this.insertCopy.run(copy);
    for (const job of variantJobs) this.insertVariantJob.run(job);
    for (const link of links) this.insertLineage.run(link);
    if (retirePendingUpload) this.retirePendingUpload.run({ storage_key: artifact.storage_key });
    this.insertAudit.run(audit);
  }
}

/** What one store records, in one transaction (see SqliteWrites.record). */
export interface RecordEntry {
  artifact: ArtifactRow;
  audit: AuditInsert;
  copies: CopyRow[];
  retirePendingUpload: boolean;
  variantJobs: VariantJobRow[];
  links: LineageRow[];
}

/** Every column of a row type: the compiler refuses a list that misses one or names one too many. */
function columnsOf<Row>(columns: Record<keyof Row & string, true>): string[] {
  return Object.keys(columns);
}

const ARTIFACT_COLUMNS = columnsOf<ArtifactRow>({
  storage_key: true, provider: true, tenant_id: true, board_id: true, artifact_type: true, artifact_id: true, variant: true, content_type: true,
  size: true, sha256: true, visibility: true, metadata: true, created_at: true, job_id: true, generation_id: true, expires_at: true,
  media: true, placeholder: true, original_key: true,
});
const VARIANT_JOB_COLUMNS = columnsOf<VariantJobRow>({ storage_key: true, name: true, status: true, attempts: true, next_attempt_at: true, last_error: true });
const LINEAGE_COLUMNS = columnsOf<LineageRow>({
  tenant_id: true, output_key: true, input_key: true, input_artifact_id: true, input_type: true, output_artifact_id: true, output_type: true, created_at: true,
});
const AUDIT_COLUMNS = columnsOf<AuditInsert>({ id: true, at: true, tenant_id: true, actor: true, action: true, storage_key: true, board_id: true, details: true });
const COPY_COLUMNS = columnsOf<CopyRow>({ storage_key: true, provider: true, status: true, attempts: true, next_attempt_at: true, last_error: true });

const MARKER = '\u0000column:';

/**
 * One statement compiled by Kysely with a marker in place of each value, so the compiled
 * parameters say which column each placeholder binds; prepared once, run with a row's values.
 */
class Precompiled {
  private readonly statement: StatementSync;
  private readonly bindings: string[];

  constructor(sqlite: DatabaseSync, columns: readonly string[], compile: (values: Record<string, unknown>) => CompiledQuery) {
    const compiled = compile(Object.fromEntries(columns.map((c) => [c, MARKER + c])));
    this.bindings = compiled.parameters.map((p) => {
      if (typeof p !== 'string' || !p.startsWith(MARKER)) throw new Error(`catalog: cannot precompile ${compiled.sql}: a parameter is not a column value`);
      return p.slice(MARKER.length);
    });
    this.statement = sqlite.prepare(compiled.sql);
  }

  run(values: object): void {
    const row = values as Record<string, unknown>;
    this.statement.run(...this.bindings.map((column) => toSqlite(row[column]) as SQLInputValue));
  }
}
