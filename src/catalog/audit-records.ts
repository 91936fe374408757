import { ValidationError } from '../errors.ts';
import { assertSafeId, assertSafeKey } from '../keys.ts';
import { decodeCursor, encodeCursor, invalidCursor, listLimit } from '../providers/list-cursor.ts';
import { CatalogRecords } from './records.ts';
import type { AuditAction } from './tables.ts';

export interface AuditQuery {
  tenantId: string;
  /** One artifact's events. */
  storageKey?: string;
  /** One board's events (entries written since the 0009_lineage migration). */
  boardId?: string;
  /** Events at or after this time. */
  since?: Date;
  /** Events before this time. */
  until?: Date;
  limit?: number;
  cursor?: string;
}

/** One entry of the audit trail as the API shows it. */
export interface AuditEntry {
  id: string;
  at: string;
  action: AuditAction;
  tenantId: string;
  storageKey: string;
  boardId?: string;
  actor?: string;
  details: Record<string, unknown>;
}

export interface AuditPage {
  items: AuditEntry[];
  nextCursor?: string;
}

/**
 * The audit trail, readable: a tenant's events, newest first, by artifact or board and time range,
 * a page at a time. Pages are keyset on (at, id) over indexes that start with the tenant.
 */
export class AuditRecords extends CatalogRecords {
  async list(query: AuditQuery): Promise<AuditPage> {
    const tenant = assertSafeId('tenantId', query.tenantId);
    const limit = listLimit(query.limit);
    let select = this.db.selectFrom('audit_log').selectAll().where('tenant_id', '=', tenant);
    if (query.storageKey !== undefined) select = select.where('storage_key', '=', assertSafeKey(query.storageKey, 'key'));
    if (query.boardId !== undefined) select = select.where('board_id', '=', assertSafeId('boardId', query.boardId));
    if (query.since !== undefined) select = select.where('at', '>=', isoTime(query.since, 'since'));
    if (query.until !== undefined) select = select.where('at', '<', isoTime(query.until, 'until'));
    const after = position(query.cursor);
    if (after) select = select.where((eb) => eb.or([eb('at', '<', after.at), eb.and([eb('at', '=', after.at), eb('id', '<', after.id)])]));
    const rows = await this.run('reading the audit trail', () => select.orderBy('at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute());
    const items = rows.slice(0, limit).map((r): AuditEntry => ({
      id: r.id, at: r.at, action: r.action, tenantId: r.tenant_id, storageKey: r.storage_key,
      ...(r.board_id ? { boardId: r.board_id } : {}), ...(r.actor ? { actor: r.actor } : {}),
      details: JSON.parse(r.details) as Record<string, unknown>,
    }));
    const last = items.at(-1);
    return { items, ...(rows.length > limit && last ? { nextCursor: encodeCursor(`${last.at} ${last.id}`) } : {}) };
  }
}

function isoTime(date: Date, field: string): string {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw new ValidationError(`${field} must be a valid time (ISO 8601, e.g. 2026-01-31T12:00:00Z)`, { details: { field } });
  return date.toISOString();
}

/** The (at, id) an audit cursor resumes after. */
function position(cursor: string | undefined): { at: string; id: string } | undefined {
  const decoded = decodeCursor(cursor);
  if (decoded === '') return undefined;
  const [at, id, ...rest] = decoded.split(' ');
  if (!at || !id || rest.length > 0 || Number.isNaN(Date.parse(at))) throw invalidCursor();
  return { at, id };
}
