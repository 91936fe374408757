import type { Readable } from 'node:stream';
import { NotFoundError, StorageError, ValidationError } from '../errors.ts';
import { assertSafeId, assertSafeKey } from '../keys.ts';
import type { Catalog, CatalogArtifact } from '../catalog/catalog.ts';
import type { MediaFacts } from '../media/media-facts.ts';
import { MAX_ARCHIVE_ENTRIES } from './archive-limits.ts';

export interface BoardArchiveOptions {
  /** Defaults to `default`. */
  tenantId?: string;
  /** Only artifacts of this type. */
  artifactType?: string;
  /** Only artifacts with one of these ids. */
  artifactIds?: string[];
  /** Only these artifacts (storage keys of the board). */
  storageKeys?: string[];
}

/** One artifact as `manifest.json` lists it. */
export interface BoardArchiveEntry {
  /** Its path inside the zip. */
  file: string;
  storageKey: string;
  artifactId: string;
  artifactType: string;
  contentType: string;
  size: number;
  sha256: string;
  createdAt: string;
  metadata: Record<string, unknown>;
  media?: MediaFacts;
}

/** `manifest.json`, the zip's first file. */
export interface BoardArchiveManifest {
  tenantId: string;
  boardId: string;
  createdAt: string;
  /** The filters the archive was made with (absent: the whole board). */
  filter?: { artifactType?: string; artifactIds?: string[]; storageKeys?: string[] };
  count: number;
  bytes: number;
  artifacts: BoardArchiveEntry[];
}

export interface BoardArchive {
  /** The zip's bytes; it errors (and stops) when an artifact cannot be read or fails its SHA-256 check. */
  stream: Readable;
  /** The zip's exact length in bytes (entries are stored, not deflated, so it is known up front). */
  size?: number;
  /** A file name for it: `{boardId}.zip`. */
  fileName: string;
  manifest: BoardArchiveManifest;
}

/** What an archive needs of the manager: the catalog and verified reads. */
export interface ArchiveSource {
  catalog: Catalog;
  openDownload(storageKey: string): Promise<Readable>;
}

export { MAX_ARCHIVE_ENTRIES };
const PAGE = 500;

/**
 * A zip of a board's artifacts (or of a selection), streamed: `manifest.json` first, then each
 * artifact under `{artifactType}/{artifactId}{ext}` (unique names), read one at a time through the
 * manager's verified reads, so memory holds one artifact's chunks at most, whatever the board's
 * size. Entries are stored uncompressed (generated media is compressed already), which makes the
 * zip's length known before its first byte; ZIP64 records are written where an entry or the
 * archive passes 4 GiB. A read that fails or a copy that fails its SHA-256 check destroys the
 * stream with that error: the zip is never completed with bad bytes.
 */
export async function openBoardArchive(storage: ArchiveSource, boardId: string, options: BoardArchiveOptions = {}): Promise<BoardArchive> {
  const tenantId = assertSafeId('tenantId', options.tenantId ?? 'default');
  const board = assertSafeId('boardId', boardId);
  const artifactType = options.artifactType === undefined ? undefined : assertSafeId('artifactType', options.artifactType);
  const ids = options.artifactIds?.length ? new Set(options.artifactIds.map((id) => assertSafeId('artifactId', id))) : undefined;
  const keys = options.storageKeys?.length ? new Set(options.storageKeys.map((key) => assertSafeKey(key, 'storageKey'))) : undefined;
  if (!(await storage.catalog.boards.exists(tenantId, board))) throw new NotFoundError(`board ${board} not found`);

  const selected: CatalogArtifact[] = [];
  let after = '';
  for (;;) {
    const page = await storage.catalog.boards.artifacts(tenantId, board, after, PAGE, artifactType === undefined ? {} : { artifactType });
    for (const artifact of page) {
      if (ids && !ids.has(artifact.artifactId)) continue;
      if (keys && !keys.has(artifact.storageKey)) continue;
      selected.push(artifact);
      if (selected.length > MAX_ARCHIVE_ENTRIES) {
        throw new ValidationError(`board ${board} has more than ${MAX_ARCHIVE_ENTRIES} artifacts for one archive; narrow it with ?type=, ?artifactId= or ?keys=`, { code: 'CONTENT_TOO_LARGE', details: { limit: MAX_ARCHIVE_ENTRIES } });
      }
    }
    if (page.length < PAGE) break;
    after = page.at(-1)!.storageKey;
  }
  const filter = { ...(artifactType ? { artifactType } : {}), ...(ids ? { artifactIds: [...ids] } : {}), ...(keys ? { storageKeys: [...keys] } : {}) };
  if (selected.length === 0) throw new NotFoundError(`no artifact of board ${board} matches ${JSON.stringify(filter)}`);

  const names = new ArchiveNames();
  const entries: BoardArchiveEntry[] = selected.map((a) => ({
    file: names.take(a), storageKey: a.storageKey, artifactId: a.artifactId, artifactType: a.artifactType, contentType: a.contentType,
    size: a.size, sha256: a.sha256, createdAt: a.createdAt, metadata: a.metadata, ...(a.media ? { media: a.media } : {}),
  }));
  const manifest: BoardArchiveManifest = {
    tenantId, boardId: board, createdAt: new Date().toISOString(), ...(Object.keys(filter).length ? { filter } : {}),
    count: entries.length, bytes: entries.reduce((sum, e) => sum + e.size, 0), artifacts: entries,
  };

  // yazl loads with the first archive, not with the package.
  const { default: yazl } = await import('yazl');
  const zip = new yazl.ZipFile();
  // A PassThrough in yazl (typed loosely as a ReadableStream).
  const output = zip.outputStream as Readable;
  let reading: Readable | undefined;
  const fail = (error: unknown) => {
    reading?.destroy();
    if (!output.destroyed) output.destroy(error instanceof StorageError ? error : new StorageError(`the archive of board ${board} failed: ${(error as Error).message}`, { cause: error }));
  };
  zip.on('error', fail);
  // A reader that goes away stops the artifact being read.
  output.once('close', () => reading?.destroy());
  zip.addBuffer(Buffer.from(JSON.stringify(manifest, null, 2) + '\n'), 'manifest.json', { compress: false, mtime: new Date(manifest.createdAt) });
  for (const entry of entries) {
    zip.addReadStreamLazy(entry.file, { compress: false, size: entry.size, mtime: new Date(entry.createdAt) }, (done) => {
      if (output.destroyed) return;
      storage.openDownload(entry.storageKey).then((stream) => {
        reading = stream;
        // yazl pipes the stream and does not listen for its errors (a read failure, a CorruptionError).
        stream.once('error', fail);
        done(null, stream);
      }, fail);
    });
  }
  // Stored entries of known sizes: yazl knows the total as the archive is ended.
  const end = zip.end.bind(zip) as (options: object, calculatedTotalSize: (bytes: number) => void) => void;
  const size = await new Promise<number>((resolve) => end({}, resolve));
  return { stream: output, ...(size >= 0 ? { size } : {}), fileName: `${board}.zip`, manifest };
}

/** Unique paths in the zip: `{type}/{artifactId}{ext}`, then with the key's unique suffix, then numbered. */
class ArchiveNames {
  private readonly taken = new Set<string>();

  take(artifact: CatalogArtifact): string {
    const dot = artifact.variant.lastIndexOf('.');
    const ext = dot > 0 ? artifact.variant.slice(dot) : '';
    const folder = artifact.storageKey.split('/').at(-2) ?? '';
    const suffix = /_([0-9a-f]{8})$/.exec(folder)?.[1] ?? '';
    const base = `${artifact.artifactType}/${artifact.artifactId}`;
    for (const candidate of [`${base}${ext}`, `${base}_${suffix}${ext}`]) {
      if (!this.taken.has(candidate)) return this.keep(candidate);
    }
    for (let n = 2; ; n++) {
      const candidate = `${base}_${suffix}-${n}${ext}`;
      if (!this.taken.has(candidate)) return this.keep(candidate);
    }
  }

  private keep(name: string): string {
    this.taken.add(name);
    return name;
  }
}
