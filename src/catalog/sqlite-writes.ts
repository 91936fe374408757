import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { toSqlite } from './node-sqlite-dialect.ts';
import type { ArtifactRow, AuditInsert, CopyRow, LineageRow, VariantJobRow } from './tables.ts';

/**
 * The catalog's per-store write on SQLite, on node:sqlite alone: the statements are prepared once,
 * from column lists the compiler checks against the row types (written as Kysely compiles them; a
 * test compares), and run in one synchronous transaction. No Kysely is needed to store, so a
 * program that only opens a catalog and stores never loads it. When Kysely is in use on the same
 * connection, the caller must hold its connection while calling `record`, so no Kysely transaction
 * is open around it.
 */
export class SqliteWrites {
  private readonly sqlite: DatabaseSync;
  private readonly insertArtifact: Prepared;
  private readonly insertAudit: Prepared;
  private readonly insertCopy: Prepared;
  private readonly retirePendingUpload: Prepared;
  private readonly insertVariantJob: Prepared;
  private readonly insertLineage: Prepared;

  constructor(sqlite: DatabaseSync) {
    this.sqlite = sqlite;
    this.insertArtifact = new Prepared(sqlite, insertSql('artifacts', ARTIFACT_COLUMNS), ARTIFACT_COLUMNS);
    this.insertAudit = new Prepared(sqlite, insertSql('audit_log', AUDIT_COLUMNS), AUDIT_COLUMNS);
    this.insertCopy = new Prepared(sqlite, insertSql('copies', COPY_COLUMNS), COPY_COLUMNS);
    this.retirePendingUpload = new Prepared(sqlite, RETIRE_PENDING_UPLOAD_SQL, ['storage_key']);
    this.insertVariantJob = new Prepared(sqlite, insertSql('variant_jobs', VARIANT_JOB_COLUMNS), VARIANT_JOB_COLUMNS);
    this.insertLineage = new Prepared(sqlite, insertSql('lineage', LINEAGE_COLUMNS), LINEAGE_COLUMNS);
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
   * Several stores' records in one transaction (group commit). Returns each entry's error, or
   * undefined for one recorded. The batch is tried whole first, with no savepoints: a savepoint
   * makes SQLite keep a statement journal, a temp file opened and written on every commit (one
   * store's pages spill past its 64 KiB in memory). Should any entry fail (a key recorded already),
   * the batch is rolled back and each entry recorded in a transaction of its own, so one failure
   * leaves the others to commit. An entry's `alsoRun` may so run twice, the first time rolled back.
   * Throws when the commit itself fails.
   */
  recordAll(entries: RecordEntry[]): unknown[] {
    this.sqlite.exec('BEGIN IMMEDIATE');
    let inserted = false;
    try {
      for (const entry of entries) this.insert(entry);
      inserted = true;
      this.sqlite.exec('COMMIT');
      return entries.map(() => undefined);
    } catch (error) {
      if (this.sqlite.isTransaction) this.sqlite.exec('ROLLBACK');
      // The commit itself failed (a full disk, I/O): every entry fails with it, as one would alone.
      if (inserted) throw error;
      if (entries.length === 1) return [error];
    }
    return entries.map((entry) => {
      try {
        this.record(entry);
        return undefined;
      } catch (error) {
        return error;
      }
    });
  }

  private insert({ artifact, audit, copies, retirePendingUpload, variantJobs, links, alsoRun }: RecordEntry): void {
    this.insertArtifact.run(artifact);
    alsoRun?.();
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
  /** Another write on this connection that commits (or rolls back) with the record: the local provider's row that makes the object visible. */
  alsoRun?: () => void;
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

/** An insert of every column of a row, as Kysely's SQLite dialect compiles `insertInto(table).values(row)`. */
export function insertSql(table: string, columns: readonly string[]): string {
  return `insert into "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) values (${columns.map(() => '?').join(', ')})`;
}

export const RETIRE_PENDING_UPLOAD_SQL = 'delete from "pending_uploads" where "storage_key" = ?';

/** The statements SqliteWrites runs, with the columns each binds (for the test that compares them with Kysely's). */
export const SQLITE_WRITES = {
  artifacts: ARTIFACT_COLUMNS, audit_log: AUDIT_COLUMNS, copies: COPY_COLUMNS, variant_jobs: VARIANT_JOB_COLUMNS, lineage: LINEAGE_COLUMNS,
} as const;

/** One statement prepared once, run with a row's values in the order of its columns. */
class Prepared {
  private readonly statement: StatementSync;
  private readonly bindings: readonly string[];

  constructor(sqlite: DatabaseSync, sql: string, bindings: readonly string[]) {
    this.bindings = bindings;
    this.statement = sqlite.prepare(sql);
  }

  run(values: object): void {
    const row = values as Record<string, unknown>;
    this.statement.run(...this.bindings.map((column) => toSqlite(row[column]) as SQLInputValue));
  }
}
