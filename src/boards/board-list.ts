import { NotFoundError } from '../errors.ts';
import { assertSafeId } from '../keys.ts';
import type { Catalog, CatalogArtifact } from '../catalog/catalog.ts';
import { variantName } from '../media/variants.ts';

/** A board's cover: its newest image, and the smallest thumbnail made of it, when there is one. */
export interface BoardCover {
  storageKey: string;
  artifactId: string;
  contentType: string;
  width?: number;
  height?: number;
  /** A ThumbHash to paint before any image arrives. */
  placeholder?: string;
  /** The storage key of the cover's thumbnail variant (`thumb_*`, else its smallest image variant). */
  thumbnailKey?: string;
}

/** One board of a tenant: its artifacts (variants are not counted), their bytes (variants included), its newest store. */
export interface BoardSummary {
  boardId: string;
  artifacts: number;
  bytes: number;
  /** When the newest of its artifacts (or variants) was stored. */
  lastActivity: string;
  /** Absent when the board has no image. */
  cover?: BoardCover;
}

export interface BoardPage {
  items: BoardSummary[];
  nextCursor?: string;
}

export interface ListBoardsQuery {
  /** Defaults to `default`. */
  tenantId?: string;
  limit?: number;
  cursor?: string;
}

export interface DeleteBoardResult {
  boardId: string;
  /** Artifacts deleted (their variants go with them and are not counted). */
  deleted: number;
  /** True when they went to the trash (restorable until `trash_retention` passes). */
  trashed: boolean;
}

/** A tenant's boards in board-id order, with their figures and covers, a page at a time. */
export async function listBoards(catalog: Catalog, query: ListBoardsQuery): Promise<BoardPage> {
  const tenantId = query.tenantId ?? 'default';
  const page = await catalog.boards.list({ tenantId, ...(query.limit === undefined ? {} : { limit: query.limit }), ...(query.cursor === undefined ? {} : { cursor: query.cursor }) });
  const covers = await catalog.boards.covers(tenantId, page.items.map((b) => b.boardId));
  const variants = await catalog.variantsOf([...covers.values()].map((c) => c.storageKey));
  return {
    items: page.items.map((board) => {
      const cover = covers.get(board.boardId);
      return { ...board, ...(cover ? { cover: boardCover(cover, variants.filter((v) => v.originalKey === cover.storageKey)) } : {}) };
    }),
    ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
  };
}

function boardCover(image: CatalogArtifact, variants: CatalogArtifact[]): BoardCover {
  const images = variants.filter((v) => v.contentType.startsWith('image/'));
  const thumbnails = images.filter((v) => variantName(v.variant).startsWith('thumb'));
  const smallest = (thumbnails.length ? thumbnails : images).sort((a, b) => (a.media?.width ?? a.size) - (b.media?.width ?? b.size))[0];
  return {
    storageKey: image.storageKey, artifactId: image.artifactId, contentType: image.contentType,
    ...(image.media?.width === undefined ? {} : { width: image.media.width }), ...(image.media?.height === undefined ? {} : { height: image.media.height }),
    ...(image.placeholder ? { placeholder: image.placeholder } : {}), ...(smallest ? { thumbnailKey: smallest.storageKey } : {}),
  };
}

/** What deleting a board needs of the manager. */
export interface BoardDeleter {
  catalog: Catalog;
  deleteArtifact(storageKey: string, providerName?: string, opts?: { actor?: string }): Promise<boolean>;
  readonly config: { trashRetentionSeconds: number };
}

const PAGE = 200;

/**
 * Delete every artifact of a board, each as `deleteArtifact` does: to the trash when there is one
 * (restorable one by one), its variants for good. A NotFoundError when the tenant has no such board.
 */
export async function deleteBoard(storage: BoardDeleter, boardId: string, opts: { tenantId?: string; actor?: string } = {}): Promise<DeleteBoardResult> {
  const tenantId = opts.tenantId ?? 'default';
  const board = assertSafeId('boardId', boardId);
  if (!(await storage.catalog.boards.exists(tenantId, board))) throw new NotFoundError(`board ${board} not found`);
  let deleted = 0;
  let after = '';
  for (;;) {
    const page = await storage.catalog.boards.artifacts(tenantId, board, after, PAGE);
    for (const artifact of page) {
      if (await storage.deleteArtifact(artifact.storageKey, undefined, opts.actor ? { actor: opts.actor } : {})) deleted++;
    }
    if (page.length < PAGE) break;
    after = page.at(-1)!.storageKey;
  }
  return { boardId: board, deleted, trashed: storage.config.trashRetentionSeconds > 0 };
}
