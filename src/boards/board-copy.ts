import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { CorruptionError, NotFoundError, StorageError, ValidationError } from '../errors.ts';
import { assertSafeId, buildArtifactKey } from '../keys.ts';
import type { Catalog, CatalogArtifact } from '../catalog/catalog.ts';
import { META, referenceMetadata } from '../manager/artifact-reference.ts';
import { siblingKey } from '../media/variants.ts';
import { readBack } from '../operations/verified-copy.ts';
import type { StorageProvider } from '../providers/provider.ts';
import type { QuotaGuard } from '../quotas/quota-guard.ts';

export interface CopyBoardOptions {
  /** Defaults to `default`. */
  tenantId?: string;
  /** The new board's id; default `{boardId}-copy-{8 hex}`. It must have no artifacts yet. */
  toBoardId?: string;
  /** Who copies, for the audit trail. */
  actor?: string;
  /** Called after each artifact (with its variants) is copied. */
  onProgress?: (progress: { artifacts: number; bytes: number }) => void;
}

export interface CopyBoardResult {
  boardId: string;
  toBoardId: string;
  /** Artifacts copied (variants not counted). */
  copied: number;
  /** Their variants, copied with them. */
  variants: number;
  /** Bytes copied, variants included. */
  bytes: number;
  /** Objects copied by their backend itself (no bytes through this process). */
  serverSide: number;
}

/** What a board copy needs of the manager. */
export interface BoardCopier {
  catalog: Catalog;
  quotas: QuotaGuard;
  readonly config: { providers: Record<string, { mirrors: string[] } | undefined> };
  provider(name: string): StorageProvider;
  /** A verified read of a whole artifact, from any good copy. */
  openDownload(storageKey: string): Promise<Readable>;
  deleteArtifact(storageKey: string, providerName?: string, opts?: { actor?: string; permanent?: boolean }): Promise<boolean>;
  /** Remove an object a failed copy made; a failed delete is queued for the expiry sweep. */
  discardObject(storageKey: string, providerName: string): Promise<void>;
}

const PAGE = 100;

/**
 * Copy every artifact of a board, with its variants, to a new board of the same tenant: new keys
 * under the new board, on the same provider, with new catalog rows (metadata, media facts and
 * placeholders kept). Each object is copied by its backend where it can copy (S3, GCS, Supabase,
 * local, memory), else streamed through a verified read, and is then read back and checked against
 * the recorded SHA-256 and size before its row is written. A failure removes what this copy made
 * and leaves the source board as it was.
 */
export async function copyBoard(storage: BoardCopier, boardId: string, options: CopyBoardOptions = {}): Promise<CopyBoardResult & { mirrored: boolean }> {
  const tenantId = assertSafeId('tenantId', options.tenantId ?? 'default');
  const from = assertSafeId('boardId', boardId);
  const to = assertSafeId('toBoardId', options.toBoardId ?? `${from.slice(0, 110)}-copy-${randomUUID().slice(0, 8)}`);
  if (to === from) throw new ValidationError('toBoardId must differ from the board being copied');
  if (!(await storage.catalog.boards.exists(tenantId, from))) throw new NotFoundError(`board ${from} not found`);
  if (await storage.catalog.boards.exists(tenantId, to)) {
    throw new StorageError(`board ${to} already has artifacts; copy to a new board id (or leave toBoardId out for a generated one)`, { code: 'CONFLICT' });
  }
  const made: string[] = [];
  const result = { boardId: from, toBoardId: to, copied: 0, variants: 0, bytes: 0, serverSide: 0, mirrored: false };
  try {
    let after = '';
    for (;;) {
      const page = await storage.catalog.boards.artifacts(tenantId, from, after, PAGE);
      for (const original of page) {
        const variants = await storage.catalog.variantsOf([original.storageKey]);
        await storage.quotas.assertRoom(tenantId, original.size + variants.reduce((sum, v) => sum + v.size, 0));
        const now = new Date();
        const key = buildArtifactKey({ tenantId, artifactType: original.artifactType, boardId: to, artifactId: original.artifactId, variant: original.variant, contentType: original.contentType, now });
        const copy = copiedRecord(original, key, to, now);
        await copyObject(storage, original, copy, result);
        made.push(key);
        for (const variant of variants) {
          await copyObject(storage, variant, { ...copiedRecord(variant, siblingKey(key, variant.variant), to, now), originalKey: key }, result);
          result.variants++;
        }
        result.copied++;
        options.onProgress?.({ artifacts: result.copied, bytes: result.bytes });
      }
      if (page.length < PAGE) break;
      after = page.at(-1)!.storageKey;
    }
  } catch (error) {
    // Nothing half-copied stays: each original made here goes, its variants with it.
    for (const key of made) await storage.deleteArtifact(key, undefined, { permanent: true }).catch(() => undefined);
    throw error;
  }
  return result;

  async function copyObject(manager: BoardCopier, source: CatalogArtifact, target: CatalogArtifact, tally: typeof result): Promise<void> {
    const name = source.storageProvider;
    const provider = manager.provider(name);
    let serverSide = false;
    try {
      if (provider.copy) {
        try {
          await provider.copy(source.storageKey, target.storageKey);
          await readBack(provider, { storageKey: target.storageKey, provider: name, sha256: source.sha256, size: source.size });
          serverSide = true;
        } catch (error) {
          // A source object missing or corrupt on its provider: stream it from a good copy (a mirror) instead.
          if (!(error instanceof NotFoundError || error instanceof CorruptionError)) throw error;
          // Best effort and not queued: the streamed copy below goes to the same key, over whatever stays.
          await provider.delete(target.storageKey).catch(() => undefined);
        }
      }
      if (!serverSide) {
        const content = await manager.openDownload(source.storageKey);
        const metadata = { ...referenceMetadata(target), [META.sha256]: source.sha256, [META.size]: String(source.size) };
        await provider.upload(target.storageKey, content, { contentType: source.contentType, size: source.size, metadata });
        await readBack(provider, { storageKey: target.storageKey, provider: name, sha256: source.sha256, size: source.size });
      }
      const mirrors = manager.config.providers[name]?.mirrors ?? [];
      await manager.catalog.record(target, options.actor, 'stored', mirrors);
      if (mirrors.length) tally.mirrored = true;
    } catch (error) {
      await manager.discardObject(target.storageKey, name);
      throw error;
    }
    tally.bytes += source.size;
    if (serverSide) tally.serverSide++;
  }
}

/** The new board's record of a copied artifact: same bytes, facts and metadata; new key, board and time. */
function copiedRecord(source: CatalogArtifact, storageKey: string, boardId: string, now: Date): CatalogArtifact {
  const { jobId: _job, generationId: _generation, expiresAt: _expires, originalKey: _original, ...kept } = source;
  return { ...kept, storageKey, boardId, createdAt: now.toISOString() };
}
