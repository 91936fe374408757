import { sql } from './kysely-runtime.ts';
import type { Kysely, Migration, MigrationProvider } from 'kysely';

/** The PostgreSQL NOTIFY channel on which the catalog announces changed artifacts (their storage keys). */
export const ARTIFACT_CHANGES_CHANNEL = 'boards_storage_artifact_changes';

/**
 * One ordered set of migrations for SQLite and PostgreSQL alike: only portable column types.
 * Kysely's migrator takes a lock (a row lock on PostgreSQL), so several servers starting at once
 * against one database run each migration exactly once.
 */
const migrations: Record<string, Migration> = {
  '0001_catalog': {
    async up(db: Kysely<unknown>) {
      await db.schema.createTable('artifacts')
        .addColumn('storage_key', 'text', (c) => c.primaryKey())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('board_id', 'text')
        .addColumn('artifact_type', 'text', (c) => c.notNull())
        .addColumn('artifact_id', 'text', (c) => c.notNull())
        .addColumn('variant', 'text', (c) => c.notNull())
        .addColumn('content_type', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('visibility', 'text', (c) => c.notNull())
        .addColumn('metadata', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('job_id', 'text')
        .addColumn('generation_id', 'text')
        .addColumn('expires_at', 'text')
        .execute();
      // Keyset pagination: every listing is a range scan on one of these, whatever the table's size.
      await db.schema.createIndex('artifacts_tenant_key').on('artifacts').columns(['tenant_id', 'storage_key']).execute();
      await db.schema.createIndex('artifacts_tenant_board_key').on('artifacts').columns(['tenant_id', 'board_id', 'storage_key']).execute();
      await db.schema.createIndex('artifacts_tenant_type_key').on('artifacts').columns(['tenant_id', 'artifact_type', 'storage_key']).execute();
      await db.schema.createIndex('artifacts_expires').on('artifacts').columns(['expires_at']).execute();
      await db.schema.createIndex('artifacts_job').on('artifacts').columns(['job_id']).execute();

      await db.schema.createTable('pending_uploads')
        .addColumn('storage_key', 'text', (c) => c.primaryKey())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('board_id', 'text')
        .addColumn('artifact_type', 'text', (c) => c.notNull())
        .addColumn('artifact_id', 'text', (c) => c.notNull())
        .addColumn('variant', 'text', (c) => c.notNull())
        .addColumn('content_type', 'text', (c) => c.notNull())
        .addColumn('max_size', 'bigint', (c) => c.notNull())
        .addColumn('actor', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('pending_uploads_expires').on('pending_uploads').columns(['expires_at']).execute();

      await db.schema.createTable('audit_log')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('actor', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('storage_key', 'text', (c) => c.notNull())
        .addColumn('details', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_log_tenant_at').on('audit_log').columns(['tenant_id', 'at']).execute();
      await db.schema.createIndex('audit_log_key').on('audit_log').columns(['storage_key']).execute();
    },
  },
  '0002_copies': {
    // Mirror copies of artifacts: a durable queue (pending rows survive a crash) and the record of
    // where finished copies are, for reads while the primary is down and for deletes.
    async up(db: Kysely<unknown>) {
      await db.schema.createTable('copies')
        .addColumn('storage_key', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'text', (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addPrimaryKeyConstraint('copies_pk', ['storage_key', 'provider'])
        .execute();
      await db.schema.createIndex('copies_due').on('copies').columns(['status', 'next_attempt_at']).execute();
    },
  },
  '0003_scrub': {
    // Background jobs that run once per interval across every node sharing the catalog (the scrub):
    // when each last started, claimed with a conditional update.
    async up(db: Kysely<unknown>) {
      await db.schema.createTable('scheduled_runs')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('holder', 'text')
        .execute();
    },
  },
  '0005_uploads': {
    // A presigned upload's life: presigned -> receiving (one PUT holds it) -> received (what
    // landed: its size and SHA-256 as the bytes arrived) -> recorded by completion. `exact_size`
    // is the byte count the URL was signed for, when the caller gave one.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('pending_uploads').addColumn('state', 'text', (c) => c.notNull().defaultTo('presigned')).execute();
      await db.schema.alterTable('pending_uploads').addColumn('exact_size', 'bigint').execute();
      await db.schema.alterTable('pending_uploads').addColumn('received_size', 'bigint').execute();
      await db.schema.alterTable('pending_uploads').addColumn('received_sha256', 'text').execute();
    },
  },
  '0006_operations': {
    // Soft delete, and provider migrations whose state survives the process that runs them.
    async up(db: Kysely<unknown>) {
      // A deleted artifact's row moves here whole; its object stays where it was until the purge.
      await db.schema.createTable('trash')
        .addColumn('storage_key', 'text', (c) => c.primaryKey())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('board_id', 'text')
        .addColumn('artifact_type', 'text', (c) => c.notNull())
        .addColumn('artifact_id', 'text', (c) => c.notNull())
        .addColumn('variant', 'text', (c) => c.notNull())
        .addColumn('content_type', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('visibility', 'text', (c) => c.notNull())
        .addColumn('metadata', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('job_id', 'text')
        .addColumn('generation_id', 'text')
        .addColumn('expires_at', 'text')
        .addColumn('deleted_at', 'text', (c) => c.notNull())
        .addColumn('deleted_by', 'text')
        .addColumn('purge_after', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('trash_tenant_key').on('trash').columns(['tenant_id', 'storage_key']).execute();
      await db.schema.createIndex('trash_purge').on('trash').columns(['purge_after']).execute();
      await db.schema.createIndex('trash_provider_key').on('trash').columns(['provider', 'storage_key']).execute();

      await db.schema.createTable('migration_runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('from_provider', 'text', (c) => c.notNull())
        .addColumn('to_provider', 'text', (c) => c.notNull())
        .addColumn('filters', 'text', (c) => c.notNull())
        .addColumn('concurrency', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('planned', 'integer', (c) => c.notNull())
        .addColumn('owner', 'text')
        .addColumn('heartbeat_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createTable('migration_items')
        .addColumn('run_id', 'text', (c) => c.notNull())
        .addColumn('storage_key', 'text', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addPrimaryKeyConstraint('migration_items_pk', ['run_id', 'storage_key'])
        .execute();
      await db.schema.createIndex('migration_items_state').on('migration_items').columns(['run_id', 'state', 'storage_key']).execute();
      await db.schema.createIndex('migration_items_key').on('migration_items').columns(['storage_key']).execute();
    },
  },
  '0007_media': {
    // Media facts and placeholders on every artifact; variants linked to their original (listings
    // leave them out, deleting the original takes them along); the durable queue of preset variants.
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('artifacts').addColumn('media', 'text').execute();
      await db.schema.alterTable('artifacts').addColumn('placeholder', 'text').execute();
      await db.schema.alterTable('artifacts').addColumn('original_key', 'text').execute();
      // A row moves whole between artifacts and the trash: the trash has the same columns.
      await db.schema.alterTable('trash').addColumn('media', 'text').execute();
      await db.schema.alterTable('trash').addColumn('placeholder', 'text').execute();
      await db.schema.alterTable('trash').addColumn('original_key', 'text').execute();
      await db.schema.createIndex('artifacts_original').on('artifacts').columns(['original_key']).execute();
      await db.schema.createTable('variant_jobs')
        .addColumn('storage_key', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'text', (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addPrimaryKeyConstraint('variant_jobs_pk', ['storage_key', 'name'])
        .execute();
      await db.schema.createIndex('variant_jobs_due').on('variant_jobs').columns(['status', 'next_attempt_at']).execute();
    },
  },
  '0008_scale': {
    // Webhooks: a trigger turns the audit entries of stores, deletes and visibility changes into
    // events, inside the very transaction of the change (the precompiled SQLite write included), so
    // no change is acknowledged without its event. Delivery rows fan out from there; the trigger
    // fires only while webhooks are enabled (webhook_state), so a catalog without them pays nothing.
    async up(db: Kysely<unknown>) {
      await db.schema.createTable('webhook_state')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createTable('webhook_events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('storage_key', 'text', (c) => c.notNull())
        .addColumn('details', 'text', (c) => c.notNull())
        .addColumn('fanned_out', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex('webhook_events_pending').on('webhook_events').columns(['fanned_out', 'at']).execute();
      await db.schema.createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('storage_key', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('last_attempt_at', 'text')
        .addColumn('last_status', 'integer')
        .addColumn('last_error', 'text')
        .execute();
      await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['status', 'next_attempt_at']).execute();
      await db.schema.createIndex('webhook_deliveries_created').on('webhook_deliveries').columns(['created_at']).execute();
      const actions = "('stored', 'upload_completed', 'deleted', 'visibility_changed', 'variant_ready')";
      if (db.getExecutor().adapter.constructor.name === 'PostgresAdapter') {
        await sql.raw(`CREATE FUNCTION boards_webhook_event() RETURNS trigger AS $$
          BEGIN
            IF NEW.action IN ${actions} AND EXISTS (SELECT 1 FROM webhook_state WHERE enabled = 1) THEN
              INSERT INTO webhook_events (id, at, action, tenant_id, storage_key, details) VALUES (NEW.id, NEW.at, NEW.action, NEW.tenant_id, NEW.storage_key, NEW.details);
            END IF;
            RETURN NEW;
          END $$ LANGUAGE plpgsql`).execute(db);
        await sql.raw('CREATE TRIGGER webhook_events_from_audit AFTER INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION boards_webhook_event()').execute(db);
      } else {
        await sql.raw(`CREATE TRIGGER webhook_events_from_audit AFTER INSERT ON audit_log
          WHEN NEW.action IN ${actions} AND EXISTS (SELECT 1 FROM webhook_state WHERE enabled = 1)
          BEGIN
            INSERT INTO webhook_events (id, at, action, tenant_id, storage_key, details) VALUES (NEW.id, NEW.at, NEW.action, NEW.tenant_id, NEW.storage_key, NEW.details);
          END`).execute(db);
      }
    },
  },
  '0009_lineage': {
    // Lineage: which artifacts each artifact was made from. Links outlive either side (a deleted
    // input still shows, as deleted, on what was made from it), so they carry both sides' id and
    // type. Finding by artifact id gets its own index: a tenant may hold millions of artifacts.
    async up(db: Kysely<unknown>) {
      await db.schema.createTable('lineage')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('output_key', 'text', (c) => c.notNull())
        .addColumn('input_key', 'text', (c) => c.notNull())
        .addColumn('input_artifact_id', 'text', (c) => c.notNull())
        .addColumn('input_type', 'text', (c) => c.notNull())
        .addColumn('output_artifact_id', 'text', (c) => c.notNull())
        .addColumn('output_type', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('lineage_pk', ['output_key', 'input_key'])
        .execute();
      // A presigned upload carries the metadata and inputs given with it into its record.
      await db.schema.alterTable('pending_uploads').addColumn('metadata', 'text').execute();
      await db.schema.alterTable('pending_uploads').addColumn('inputs', 'text').execute();
      await db.schema.createIndex('lineage_input').on('lineage').columns(['tenant_id', 'input_key', 'output_key']).execute();
      await db.schema.createIndex('artifacts_tenant_artifact_id').on('artifacts').columns(['tenant_id', 'artifact_id', 'storage_key']).execute();
      // The audit trail, readable per artifact and per board (GET /v1/audit): the board is taken from
      // the key as each entry is written; entries written before this migration have none.
      await db.schema.alterTable('audit_log').addColumn('board_id', 'text').execute();
      await db.schema.createIndex('audit_log_tenant_key_at').on('audit_log').columns(['tenant_id', 'storage_key', 'at']).execute();
      await db.schema.createIndex('audit_log_tenant_board_at').on('audit_log').columns(['tenant_id', 'board_id', 'at']).execute();
    },
  },
  '0015_nodes': {
    // Several nodes on one catalog. `leases`: who runs the background work (see LeaseRecords), with
    // an expiry in the database's clock. On PostgreSQL a trigger announces every deleted artifact and
    // every visibility or provider change on ARTIFACT_CHANGES_CHANNEL when its transaction commits,
    // whichever process or tool made it, so that every node's caches drop what they hold of it.
    async up(db: Kysely<unknown>) {
      await db.schema.createTable('leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('term', 'bigint', (c) => c.notNull())
        .addColumn('acquired_at_ms', 'bigint', (c) => c.notNull())
        .addColumn('expires_at_ms', 'bigint', (c) => c.notNull())
        .execute();
      if (db.getExecutor().adapter.constructor.name === 'PostgresAdapter') {
        await sql.raw(`CREATE FUNCTION boards_artifact_changed() RETURNS trigger AS $$
          BEGIN
            PERFORM pg_notify('${ARTIFACT_CHANGES_CHANNEL}', OLD.storage_key);
            RETURN NULL;
          END $$ LANGUAGE plpgsql`).execute(db);
        await sql.raw('CREATE TRIGGER artifact_changes AFTER DELETE OR UPDATE OF visibility, provider ON artifacts FOR EACH ROW EXECUTE FUNCTION boards_artifact_changed()').execute(db);
      }
    },
  },
  '0016_corrupt_copies': {
    // Copies found corrupt and not yet repaired (see ReadIntegrity): kept across restarts, so that
    // reads still go to a good copy and the repair resumes.
    async up(db: Kysely<unknown>) {
      await db.schema.createTable('corrupt_copies')
        .addColumn('storage_key', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('found_at', 'text', (c) => c.notNull())
        .addColumn('details', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('corrupt_copies_pk', ['storage_key', 'provider'])
        .execute();
    },
  },
  '0017_partial_store_indexes': {
    // Every store writes one leaf page per index it touches (about 16 pages of WAL per store on
    // SQLite). Most artifacts have no job and no expiry: indexing only those that do takes two
    // pages off each store. The queries that use them (`job_id = ?`, `expires_at <= ?`) imply NOT
    // NULL, so both SQLite's and PostgreSQL's planners still pick them.
    async up(db: Kysely<unknown>) {
      await db.schema.dropIndex('artifacts_expires').execute();
      await db.schema.createIndex('artifacts_expires').on('artifacts').columns(['expires_at']).where(sql.ref('expires_at'), 'is not', null).execute();
      await db.schema.dropIndex('artifacts_job').execute();
      await db.schema.createIndex('artifacts_job').on('artifacts').columns(['job_id']).where(sql.ref('job_id'), 'is not', null).execute();
    },
  },
  '0018_pending_deletions': {
    // The sweep removed a record and then its object: a process killed between the two left the
    // object behind with nothing pointing at it. Now the object is queued here with the record's
    // removal, in one transaction, and its row goes once the provider has deleted it.
    async up(db: Kysely<unknown>) {
      await db.schema.createTable('pending_deletions')
        .addColumn('storage_key', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('since', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('pending_deletions_pk', ['storage_key', 'provider'])
        .execute();
    },
  },
  '0019_partial_original_index': {
    // As 0017: an original (nearly every store) has no original_key, yet wrote a NULL entry, one
    // more WAL page per store on SQLite. The queries that use it (`original_key = ?`, `IN (...)`)
    // imply NOT NULL, so both planners still pick it; `original_key IS NULL` filters never used it.
    async up(db: Kysely<unknown>) {
      await db.schema.dropIndex('artifacts_original').execute();
      await db.schema.createIndex('artifacts_original').on('artifacts').columns(['original_key']).where(sql.ref('original_key'), 'is not', null).execute();
    },
  },
};

export const catalogMigrations: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
