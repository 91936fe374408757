import { ValidationError } from '../errors.ts';
import { assertSafeId, assertSafeKey } from '../keys.ts';
import { decodeCursor, encodeCursor, invalidCursor, listLimit } from '../providers/list-cursor.ts';
import { CatalogRecords } from './records.ts';
import { fromRow } from './catalog.ts';
import type { CatalogArtifact, CatalogPage } from './catalog.ts';
import type { LineageRow } from './tables.ts';

/** One side of a lineage link as a reference shows it. */
export interface LineageLink {
  storageKey: string;
  artifactId: string;
  artifactType: string;
  /** Present when the linked artifact has been deleted (in the trash, or gone): the link stays. */
  deleted?: true;
}

/** An input as a store names it, checked: the artifact's own id and type, kept with the link. */
export interface CheckedInput {
  storageKey: string;
  artifactId: string;
  artifactType: string;
}

/** Inputs one store may name; a generation with more is unusual enough to be a mistake. */
export const MAX_INPUTS = 100;
/** Outputs a reference lists; `GET /v1/artifacts?input=` pages through all of them. */
export const MAX_LISTED_OUTPUTS = 100;

export interface OutputsQuery {
  tenantId: string;
  inputKey: string;
  boardId?: string;
  artifactType?: string;
  artifactId?: string;
  limit?: number;
  cursor?: string;
}

/**
 * Lineage: which artifacts each artifact was made from. Links are written with the output's
 * record (one transaction, see Catalog.record) and never deleted with either side, so a deleted
 * input still shows, as deleted, on what was made from it.
 */
export class LineageRecords extends CatalogRecords {
  /**
   * The inputs a store names, checked against the catalog: each must be a live artifact of
   * `tenantId`. A key of another tenant is refused exactly like a missing one (no existence leaks).
   */
  async checkInputs(tenantId: string, inputKeys: readonly string[] | undefined): Promise<CheckedInput[]> {
    if (inputKeys === undefined) return [];
    if (!Array.isArray(inputKeys)) throw new ValidationError('inputs must be a list of storage keys', { details: { field: 'inputs' } });
    const keys = [...new Set(inputKeys.map((k) => assertSafeKey(k, 'inputs')))];
    if (keys.length === 0) return [];
    if (keys.length > MAX_INPUTS) throw new ValidationError(`at most ${MAX_INPUTS} inputs may be named, not ${keys.length}`, { details: { field: 'inputs', limit: MAX_INPUTS } });
    const rows = await this.run('reading inputs', () => this.db.selectFrom('artifacts').select(['storage_key', 'artifact_id', 'artifact_type'])
      .where('tenant_id', '=', assertSafeId('tenantId', tenantId)).where('storage_key', 'in', keys).execute());
    const found = new Map(rows.map((r) => [r.storage_key, r]));
    const missing = keys.find((k) => !found.has(k));
    if (missing !== undefined) {
      throw new ValidationError(`input ${missing} is not a stored artifact of this tenant; name the storage keys of artifacts you stored (deleted ones do not count)`, { code: 'INPUT_NOT_FOUND', details: { field: 'inputs', storageKey: missing } });
    }
    return keys.map((k) => ({ storageKey: k, artifactId: found.get(k)!.artifact_id, artifactType: found.get(k)!.artifact_type }));
  }

  /** The link rows of one output (written by Catalog.record with the output's row). */
  static rows(tenantId: string, output: { storageKey: string; artifactId: string; artifactType: string }, inputs: CheckedInput[], createdAt: string): LineageRow[] {
    return inputs.map((input) => ({
      tenant_id: tenantId, output_key: output.storageKey, input_key: input.storageKey, input_artifact_id: input.artifactId, input_type: input.artifactType,
      output_artifact_id: output.artifactId, output_type: output.artifactType, created_at: createdAt,
    }));
  }

  /** What `storageKey` was made from, in key order. */
  async inputsOf(storageKey: string): Promise<LineageLink[]> {
    const rows = await this.run('reading lineage', () => this.db.selectFrom('lineage')
      .leftJoin('artifacts', 'artifacts.storage_key', 'lineage.input_key')
      .select(['lineage.input_key as key', 'lineage.input_artifact_id as artifact_id', 'lineage.input_type as artifact_type', 'artifacts.storage_key as live'])
      .where('lineage.output_key', '=', storageKey).orderBy('lineage.input_key').execute());
    return rows.map(link);
  }

  /** What was made from `storageKey` (the first `limit`, in key order), and whether there are more. */
  async outputsOf(tenantId: string, storageKey: string, limit = MAX_LISTED_OUTPUTS): Promise<{ links: LineageLink[]; more: boolean }> {
    const rows = await this.run('reading lineage', () => this.db.selectFrom('lineage')
      .leftJoin('artifacts', 'artifacts.storage_key', 'lineage.output_key')
      .select(['lineage.output_key as key', 'lineage.output_artifact_id as artifact_id', 'lineage.output_type as artifact_type', 'artifacts.storage_key as live'])
      .where('lineage.tenant_id', '=', tenantId).where('lineage.input_key', '=', storageKey)
      .orderBy('lineage.output_key').limit(limit + 1).execute());
    return { links: rows.slice(0, limit).map(link), more: rows.length > limit };
  }

  /** The live artifacts made from an input, in key order, a page at a time (GET /v1/artifacts?input=). */
  async outputs(query: OutputsQuery): Promise<CatalogPage> {
    const tenant = assertSafeId('tenantId', query.tenantId);
    const limit = listLimit(query.limit);
    const after = decodeCursor(query.cursor);
    if (after && !after.startsWith(`${tenant}/`)) throw invalidCursor();
    let select = this.db.selectFrom('lineage').innerJoin('artifacts', 'artifacts.storage_key', 'lineage.output_key').selectAll('artifacts')
      .where('lineage.tenant_id', '=', tenant).where('lineage.input_key', '=', assertSafeKey(query.inputKey, 'input'))
      .where('artifacts.tenant_id', '=', tenant);
    if (query.boardId !== undefined) select = select.where('artifacts.board_id', '=', assertSafeId('boardId', query.boardId));
    if (query.artifactType !== undefined) select = select.where('artifacts.artifact_type', '=', assertSafeId('artifactType', query.artifactType));
    if (query.artifactId !== undefined) select = select.where('artifacts.artifact_id', '=', assertSafeId('artifactId', query.artifactId));
    if (after) select = select.where('lineage.output_key', '>', after);
    const rows = await this.run('listing outputs', () => select.orderBy('lineage.output_key').limit(limit + 1).execute());
    const items: CatalogArtifact[] = rows.slice(0, limit).map(fromRow);
    return { items, ...(rows.length > limit ? { nextCursor: encodeCursor(items.at(-1)!.storageKey) } : {}) };
  }
}

function link(row: { key: string; artifact_id: string; artifact_type: string; live: string | null }): LineageLink {
  return { storageKey: row.key, artifactId: row.artifact_id, artifactType: row.artifact_type, ...(row.live === null ? { deleted: true as const } : {}) };
}
