import type { Generated } from 'kysely';

/** The catalog's tables as Kysely sees them. Times are ISO-8601 strings, sizes whole numbers. */
export interface WebhookEventRow {
  id: string;
  at: string;
  action: string;
  tenant_id: string;
  storage_key: string;
  details: string;
  fanned_out: number;
}

export interface WebhookDeliveryRow {
  /** The delivery id receivers deduplicate on; the same for every attempt. */
  id: string;
  event_id: string;
  event_type: string;
  url: string;
  tenant_id: string;
  storage_key: string;
  /** The JSON body, as signed. */
  body: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  /** Pending: when the next attempt may start (also a claim's lease). */
  next_attempt_at: string;
  created_at: string;
  last_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
}

export interface CatalogTables {
  webhook_state: { id: number; enabled: number };
  webhook_events: WebhookEventRow;
  webhook_deliveries: WebhookDeliveryRow;
  artifacts: ArtifactRow;
  pending_uploads: PendingUploadRow;
  audit_log: AuditRow;
  copies: CopyRow;
  scheduled_runs: ScheduledRunRow;
  leases: LeaseRow;
  trash: TrashRow;
  migration_runs: MigrationRunRow;
  migration_items: MigrationItemRow;
  variant_jobs: VariantJobRow;
  lineage: LineageRow;
  corrupt_copies: CorruptCopyRow;
  pending_deletions: PendingDeletionRow;
}

/** An object whose record went and which is still to be deleted from `provider` (see DeletionRecords). */
export interface PendingDeletionRow {
  storage_key: string;
  provider: string;
  since: string;
}

/** A copy found corrupt and not yet repaired; `details` is the finding as JSON. */
export interface CorruptCopyRow {
  storage_key: string;
  provider: string;
  found_at: string;
  details: string;
}

/**
 * One link of lineage: `output_key` was made from `input_key` (same tenant). Each side's id and
 * type are kept with the link, so a link still names an artifact that has since been deleted.
 */
export interface LineageRow {
  tenant_id: string;
  output_key: string;
  input_key: string;
  input_artifact_id: string;
  input_type: string;
  output_artifact_id: string;
  output_type: string;
  created_at: string;
}

/** A deleted artifact: its row as it was, and when the purge may remove it. */
export interface TrashRow extends ArtifactRow {
  deleted_at: string;
  deleted_by: string | null;
  purge_after: string;
}

export type MigrationStatus = 'running' | 'completed' | 'partial' | 'interrupted' | 'rolled_back' | 'finalized';

export interface MigrationRunRow {
  id: string;
  from_provider: string;
  to_provider: string;
  /** The filters as JSON. */
  filters: string;
  concurrency: number;
  status: MigrationStatus;
  /** 1 once every matching artifact has an item row (planning is resumable too). */
  planned: number;
  /** `host:pid` of the process running it. */
  owner: string | null;
  heartbeat_at: string | null;
  created_at: string;
  updated_at: string;
}

/**
 * One artifact of a migration. `copying`: the destination may hold a copy (resume copies it again
 * over the same key, or deletes it); `switched`: verified and the row points at the destination.
 */
export type MigrationItemState = 'pending' | 'copying' | 'switched' | 'skipped' | 'failed' | 'finalized' | 'rolled_back';

export interface MigrationItemRow {
  run_id: string;
  storage_key: string;
  size: number;
  state: MigrationItemState;
  reason: string | null;
}

/** A preset variant to make in the background: a durable queue, like the mirror copies. */
export interface VariantJobRow {
  /** The original the variant is made from. */
  storage_key: string;
  /** The preset's name (`thumb_256`). */
  name: string;
  status: 'pending' | 'done' | 'skipped';
  attempts: number;
  /** Pending: when the job may next run (also a claim's lease). */
  next_attempt_at: string;
  last_error: string | null;
}

/** When a periodic job (the scrub) last started, and on which node. */
/** Who holds a lease until when (milliseconds of the database's clock); `term` counts hand-overs. */
export interface LeaseRow {
  name: string;
  holder: string;
  term: number;
  acquired_at_ms: number;
  expires_at_ms: number;
}

export interface ScheduledRunRow {
  name: string;
  started_at: string;
  holder: string | null;
}

export interface CopyRow {
  storage_key: string;
  provider: string;
  status: 'pending' | 'done';
  attempts: number;
  /** Pending: when the copy may next be tried (also a claim's lease). */
  next_attempt_at: string;
  last_error: string | null;
}

export interface ArtifactRow {
  storage_key: string;
  provider: string;
  tenant_id: string;
  board_id: string | null;
  artifact_type: string;
  artifact_id: string;
  variant: string;
  content_type: string;
  size: number;
  sha256: string;
  visibility: string;
  /** User metadata as JSON. */
  metadata: string;
  created_at: string;
  job_id: string | null;
  generation_id: string | null;
  /** Temporary artifacts only: when cleanup may remove it. */
  expires_at: string | null;
  /** Media facts read from the bytes, as JSON. */
  media: string | null;
  /** An image's ThumbHash, base64. */
  placeholder: string | null;
  /** Variants only: the storage key of the original they were made from. */
  original_key: string | null;
}

export interface PendingUploadRow {
  storage_key: string;
  provider: string;
  tenant_id: string;
  board_id: string | null;
  artifact_type: string;
  artifact_id: string;
  variant: string;
  content_type: string;
  max_size: number;
  actor: string | null;
  created_at: string;
  expires_at: string;
  /** presigned -> receiving (a PUT through the service holds it) -> received; `completing` while completion reads back. */
  state: UploadState;
  /** The byte count the upload was signed for, when the caller gave one: exactly this many. */
  exact_size: number | null;
  /** What landed through the service: its size and the SHA-256 of the bytes as they arrived. */
  received_size: number | null;
  received_sha256: string | null;
  /** User metadata given at presign time, as JSON (null: none). */
  metadata: string | null;
  /** The inputs given at presign time, checked, as JSON of `{storageKey, artifactId, artifactType}` (null: none). */
  inputs: string | null;
}

export type UploadState = 'presigned' | 'receiving' | 'received' | 'completing';

export interface AuditRow {
  id: Generated<string>;
  at: string;
  tenant_id: string;
  actor: string | null;
  action: AuditAction;
  storage_key: string;
  /** The board of the key, when it has one (entries written since 0009_lineage). */
  board_id: string | null;
  /** JSON. */
  details: string;
}

/** An audit row as written: its id is made by the writer (a time-ordered UUID), not the database. */
export type AuditInsert = Omit<AuditRow, 'id'> & { id: string };

export type AuditAction = 'stored' | 'deleted' | 'visibility_changed' | 'url_signed' | 'upload_presigned' | 'upload_completed' | 'moved' | 'corruption_detected' | 'repaired' | 'restored' | 'purged' | 'media_corrected' | 'metadata_changed';
