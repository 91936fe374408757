import { ValidationError } from '../errors.ts';
import { assertSafeId, parseArtifactKey } from '../keys.ts';
import type { StorageManager } from '../manager/storage-manager.ts';
import type { AuditEvent } from '../catalog/catalog.ts';

export interface PointInTimeOptions {
  /** The moment to go back to. */
  at: Date;
  tenantId?: string;
  boardId?: string;
  /** List what would change; change nothing. */
  dryRun?: boolean;
  /** For the audit trail (default `restore`). */
  actor?: string;
}

export interface PointInTimeReport {
  at: string;
  dryRun: boolean;
  /** Deleted after `at`, brought back from the trash. */
  restored: string[];
  /** Created (or brought back) after `at`, moved to the trash: nothing is destroyed. */
  trashed: string[];
  /** Existed at `at` but purged from the trash since: cannot come back (a backup may have them). */
  unrecoverable: string[];
  /** Existed at `at` (and now, or brought back) with another visibility since: set back, on the catalog and the backend. */
  visibility: { storageKey: string; from: Visibility; to: Visibility }[];
}

type Visibility = 'private' | 'public';

/** The audit actions that make an artifact exist or not. */
const APPEARS = new Set(['stored', 'upload_completed', 'restored']);
const DISAPPEARS = new Set(['deleted', 'purged']);
const VISIBILITY_CHANGED = 'visibility_changed';
const PAGE = 500;
/** The trash keeps what a point-in-time restore moves there at least this long, even with trash_retention 0. */
const MIN_KEEP_SECONDS = 7 * 86400;

/**
 * Put the catalog back to its state at `at` (for one tenant or board, or all), from the audit trail
 * and the trash: each artifact whose existence changed after `at` is replayed from its audit trail
 * to learn whether it existed then; one that did and is in the trash now comes back, one that did
 * not and exists now goes to the trash. One that existed then and does now (or came back) gets the
 * visibility it had then, on its backend too (object ACLs, public buckets). Temporary files are
 * left alone.
 */
export async function pointInTimeRestore(storage: StorageManager, options: PointInTimeOptions): Promise<PointInTimeReport> {
  const at = options.at;
  if (!(at instanceof Date) || Number.isNaN(at.getTime())) throw new ValidationError('--at must be a time, like 2026-12-01T10:00:00Z');
  if (at.getTime() > Date.now()) throw new ValidationError(`--at ${at.toISOString()} is in the future`);
  const tenantId = options.tenantId === undefined ? undefined : assertSafeId('tenantId', options.tenantId);
  const boardId = options.boardId === undefined ? undefined : assertSafeId('boardId', options.boardId);
  const report: PointInTimeReport = { at: at.toISOString(), dryRun: Boolean(options.dryRun), restored: [], trashed: [], unrecoverable: [], visibility: [] };
  const actor = options.actor ?? 'restore';
  const db = storage.catalog.kysely;
  for (let after = ''; ;) {
    let query = db.selectFrom('audit_log').select('storage_key').distinct()
      .where('at', '>', at.toISOString()).where('action', 'in', [...APPEARS, ...DISAPPEARS, VISIBILITY_CHANGED] as never[]).where('storage_key', '>', after);
    if (tenantId !== undefined) query = query.where('tenant_id', '=', tenantId);
    const keys = (await query.orderBy('storage_key').limit(PAGE).execute()).map((r) => r.storage_key);
    for (const key of keys) {
      const parsed = parseArtifactKey(key);
      if (!parsed || (boardId !== undefined && parsed.boardId !== boardId)) continue;
      const trail = await storage.catalog.auditTrail(key);
      const existedThen = trail
        .filter((e) => e.at <= report.at)
        .reduce((exists, e) => (APPEARS.has(e.action) ? true : DISAPPEARS.has(e.action) ? false : exists), false);
      const live = await storage.catalog.get(key);
      let present = existedThen ? live : undefined;
      if (existedThen && !live) {
        present = await storage.catalog.trash.get(key);
        if (present) {
          report.restored.push(key);
          if (!report.dryRun) await storage.catalog.trash.restore(key, { actor, reason: `point-in-time restore to ${report.at}` });
        } else {
          report.unrecoverable.push(key);
        }
      }
      const then = present ? visibilityAt(trail, report.at) : undefined;
      if (present && then && present.visibility !== then) {
        report.visibility.push({ storageKey: key, from: present.visibility, to: then });
        // Through the manager: the objects (every copy) change before the row, as for any visibility change.
        if (!report.dryRun) await storage.setVisibility(key, then, { actor });
      }
      if (!existedThen && live) {
        report.trashed.push(key);
        const keepFor = Math.max(storage.config.trashRetentionSeconds, MIN_KEEP_SECONDS);
        if (!report.dryRun) await storage.catalog.trash.put(key, { actor, purgeAfter: new Date(Date.now() + keepFor * 1000), reason: `point-in-time restore to ${report.at}` });
      }
    }
    if (keys.length < PAGE) return report;
    after = keys.at(-1)!;
  }
}

/**
 * An artifact's visibility at `at` from its audit trail, where it changed at all: the last change
 * up to `at`, else the opposite of the first one after it (an entry is written only when the
 * value changes, and there are two values). Undefined when it never changed.
 */
function visibilityAt(trail: (AuditEvent & { at: string })[], at: string): Visibility | undefined {
  const changes = trail.filter((e) => e.action === VISIBILITY_CHANGED && (e.details?.visibility === 'public' || e.details?.visibility === 'private'));
  const before = changes.filter((e) => e.at <= at).at(-1);
  if (before) return before.details!.visibility as Visibility;
  const first = changes.find((e) => e.at > at);
  if (!first) return undefined;
  return first.details!.visibility === 'public' ? 'private' : 'public';
}
