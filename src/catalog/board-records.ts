import { sql } from './kysely-runtime.ts';
import { CatalogRecords } from './records.ts';
import { assertSafeId } from '../keys.ts';
import { decodeCursor, encodeCursor, invalidCursor, listLimit } from '../providers/list-cursor.ts';
import { fromRow } from './catalog.ts';
import type { CatalogArtifact } from './catalog.ts';

/** One board as the catalog sums it up: its artifacts (variants apart), their bytes (variants in), its newest store. */
export interface BoardTotals {
  boardId: string;
  artifacts: number;
  bytes: number;
  lastActivity: string;
}

export interface BoardTotalsPage {
  items: BoardTotals[];
  nextCursor?: string;
}

/**
 * Boards are not a table of their own: a board is the artifacts that name it. Its figures are one
 * GROUP BY over the (tenant_id, board_id, ...) index, in board order, a page at a time.
 */
export class BoardRecords extends CatalogRecords {
  async list(query: { tenantId: string; limit?: number; cursor?: string }): Promise<BoardTotalsPage> {
    const tenant = assertSafeId('tenantId', query.tenantId);
    const limit = listLimit(query.limit);
    const after = decodeCursor(query.cursor);
    // A cursor names a board id; anything else is not one this listing issued.
    if (after && !/^[A-Za-z0-9._-]{1,128}$/.test(after)) throw invalidCursor();
    let select = this.db.selectFrom('artifacts')
      .select([
        'board_id',
        // Variants' bytes count, the variants themselves do not (as in the usage figures).
        sql<string | number>`sum(case when original_key is null then 1 else 0 end)`.as('artifacts'),
        sql<string | number | null>`sum(size)`.as('bytes'),
        sql<string>`max(created_at)`.as('last_activity'),
      ])
      .where('tenant_id', '=', tenant).where('board_id', 'is not', null);
    if (after) select = select.where('board_id', '>', after);
    const rows = await this.run('listing boards', () => select.groupBy('board_id').orderBy('board_id').limit(limit + 1).execute());
    const items = rows.slice(0, limit).map((r) => ({ boardId: r.board_id!, artifacts: Number(r.artifacts), bytes: Number(r.bytes ?? 0), lastActivity: r.last_activity }));
    return { items, ...(rows.length > limit ? { nextCursor: encodeCursor(items.at(-1)!.boardId) } : {}) };
  }

  /** The newest image (an original, not a variant) of each of these boards, by board id. */
  async covers(tenantId: string, boardIds: string[]): Promise<Map<string, CatalogArtifact>> {
    if (boardIds.length === 0) return new Map();
    const tenant = assertSafeId('tenantId', tenantId);
    const ranked = this.db.selectFrom('artifacts').selectAll()
      .select((eb) => eb.fn.agg<number>('row_number').over((over) => over.partitionBy('board_id').orderBy('created_at', 'desc').orderBy('storage_key', 'desc')).as('rank'))
      .where('tenant_id', '=', tenant).where('board_id', 'in', boardIds).where('original_key', 'is', null).where('content_type', 'like', 'image/%');
    const rows = await this.run('finding board covers', () => this.db.selectFrom(ranked.as('ranked')).selectAll().where('rank', '=', 1).execute());
    return new Map(rows.map(({ rank: _rank, ...row }) => [row.board_id!, fromRow(row)]));
  }

  /** A board's originals in key order after `afterKey` (its deletes, copies and archives page through this). */
  async artifacts(tenantId: string, boardId: string, afterKey: string, limit: number, filters: { artifactType?: string } = {}): Promise<CatalogArtifact[]> {
    let select = this.db.selectFrom('artifacts').selectAll()
      .where('tenant_id', '=', assertSafeId('tenantId', tenantId)).where('board_id', '=', assertSafeId('boardId', boardId))
      .where('original_key', 'is', null).where('storage_key', '>', afterKey);
    if (filters.artifactType !== undefined) select = select.where('artifact_type', '=', assertSafeId('artifactType', filters.artifactType));
    const rows = await this.run('reading a board', () => select.orderBy('storage_key').limit(limit).execute());
    return rows.map(fromRow);
  }

  /** True when the board has at least one artifact of the tenant's. */
  async exists(tenantId: string, boardId: string): Promise<boolean> {
    const row = await this.run('reading a board', () => this.db.selectFrom('artifacts').select('storage_key')
      .where('tenant_id', '=', assertSafeId('tenantId', tenantId)).where('board_id', '=', assertSafeId('boardId', boardId)).limit(1).executeTakeFirst());
    return row !== undefined;
  }
}
