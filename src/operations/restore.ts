import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { sql } from '../catalog/kysely-runtime.ts';
import type { Kysely } from 'kysely';
import { CorruptionError, NotFoundError, StorageError } from '../errors.ts';
import { fromRow } from '../catalog/catalog.ts';
import type { ArtifactRow } from '../catalog/tables.ts';
import type { StorageManager } from '../manager/storage-manager.ts';
import { ContentCheck, verifyStream } from '../content/verify-stream.ts';
import { META, referenceMetadata } from '../manager/artifact-reference.ts';
import { openBackupStore } from './backup-store.ts';
import { blobPath, latestManifest, listBackups } from './backup.ts';
import type { BackupManifest } from './backup.ts';
import { snapshotArtifacts, snapshotRows } from './catalog-snapshot.ts';
import { readBack } from './verified-copy.ts';
import { pointInTimeRestore } from './point-in-time.ts';
import type { PointInTimeReport } from './point-in-time.ts';

export interface RestoreOptions {
  /** A configured provider's name, or a directory, holding backups. */
  from: string;
  /** Which backup; default the newest (with `at`: the newest made at or before it). */
  backupId?: string;
  /** After restoring, put the catalog back to this moment with the audit trail (see point-in-time.ts). */
  at?: Date;
  /** Objects restored at once; default 8. */
  concurrency?: number;
  onProgress?: (p: { done: number; total: number; bytes: number }) => void;
}

export interface RestoreReport {
  backupId: string;
  counts: { artifacts: number; verified: number; failed: number };
  bytes: number;
  failures: { storageKey: string; reason: string }[];
  pointInTime?: PointInTimeReport;
}

/**
 * Rebuild a store from a backup into this manager's empty catalog and providers: every object
 * first (each read back and checked against its SHA-256), then the catalog's rows. An artifact
 * whose provider is not configured here goes to the default provider; mirror copies are queued
 * again. A restore that stops half-way left no rows, so it can simply run again.
 */
export async function restore(storage: StorageManager, options: RestoreOptions): Promise<RestoreReport> {
  const store = openBackupStore(storage, options.from);
  const manifest = options.backupId
    ? (await listBackups(store)).find((m) => m.id === options.backupId)
    : await latestManifest(store, options.at);
  if (!manifest) throw new NotFoundError(options.backupId ? `no backup ${options.backupId} in ${store.description}` : `no complete backup${options.at ? ` made at or before ${options.at.toISOString()}` : ''} in ${store.description}`);
  await assertEmpty(storage);
  const work = await mkdtemp(join(resolve(storage.config.dataDir), 'restore-'));
  try {
    const snapshot = join(work, 'catalog');
    await pipeline(await store.open(manifest.catalog.file), createWriteStream(snapshot));
    await checkSnapshot(snapshot, manifest);

    const providers = new Set(storage.providerNames());
    const placeOf = (provider: string) => (providers.has(provider) ? provider : storage.config.defaultProvider);
    const report: RestoreReport = { backupId: manifest.id, counts: { artifacts: 0, verified: 0, failed: 0 }, bytes: 0, failures: [] };
    const artifacts = snapshotArtifacts(snapshot, manifest.catalog.format);
    const restoreOne = async (row: Awaited<ReturnType<typeof artifacts.next>>['value']) => {
      if (!row) return;
      const { trashed: _trashed, deleted_at: _at, deleted_by: _by, purge_after: _purge, ...fields } = row;
      const artifact = fromRow(fields as unknown as ArtifactRow);
      const name = placeOf(artifact.storageProvider);
      const provider = storage.provider(name);
      try {
        const blob = await store.open(blobPath(artifact.sha256));
        const checked = verifyStream(blob, new ContentCheck({ storageKey: artifact.storageKey, provider: `backup ${manifest.id}`, sha256: artifact.sha256, size: artifact.size }));
        await provider.upload(artifact.storageKey, checked, { contentType: artifact.contentType, size: artifact.size, metadata: { ...referenceMetadata(artifact), [META.sha256]: artifact.sha256, [META.size]: String(artifact.size) } });
        await readBack(provider, { storageKey: artifact.storageKey, provider: name, sha256: artifact.sha256, size: artifact.size });
        report.counts.verified++;
        report.bytes += artifact.size;
      } catch (error) {
        report.counts.failed++;
        report.failures.push({ storageKey: artifact.storageKey, reason: (error as Error).message });
      }
      report.counts.artifacts++;
      options.onProgress?.({ done: report.counts.artifacts, total: manifest.counts.artifacts, bytes: report.bytes });
    };
    await Promise.all(Array.from({ length: options.concurrency ?? 8 }, async () => {
      for (let next = await artifacts.next(); !next.done; next = await artifacts.next()) await restoreOne(next.value);
    }));
    if (report.counts.failed > 0) {
      throw new CorruptionError(`${report.counts.failed} objects of backup ${manifest.id} could not be restored (first: ${report.failures[0]!.storageKey}: ${report.failures[0]!.reason}); the catalog was not restored`, { details: { failures: report.failures.slice(0, 100) } });
    }
    await insertCatalog(storage, snapshot, manifest, placeOf);
    if (options.at) report.pointInTime = await pointInTimeRestore(storage, { at: options.at, actor: 'restore' });
    return report;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function insertCatalog(storage: StorageManager, snapshot: string, manifest: BackupManifest, placeOf: (provider: string) => string): Promise<void> {
  const db = storage.catalog.kysely as unknown as Kysely<Record<string, Record<string, unknown>>>;
  const now = new Date().toISOString();
  const providers = new Set(storage.providerNames());
  await db.transaction().execute(async (tx) => {
    for await (const { table, rows } of snapshotRows(snapshot, manifest.catalog.format)) {
      let values = rows;
      if (table === 'artifacts' || table === 'trash') values = rows.map((r) => ({ ...r, provider: placeOf(String(r.provider)) }));
      // Mirror copies are made again on this store's mirrors.
      if (table === 'copies') values = rows.filter((r) => providers.has(String(r.provider))).map((r) => ({ ...r, status: 'pending', attempts: 0, next_attempt_at: now, last_error: null }));
      // A column this catalog does not have is a backup from a newer version.
      for (let i = 0; i < values.length; i += 200) await tx.insertInto(table).values(values.slice(i, i + 200)).execute();
    }
  });
}

async function assertEmpty(storage: StorageManager): Promise<void> {
  const db = storage.catalog.kysely;
  const [live, trashed] = await Promise.all([
    db.selectFrom('artifacts').select(sql<number>`count(*)`.as('n')).executeTakeFirst(),
    db.selectFrom('trash').select(sql<number>`count(*)`.as('n')).executeTakeFirst(),
  ]);
  if (Number(live?.n ?? 0) + Number(trashed?.n ?? 0) > 0) {
    throw new StorageError('restore needs an empty target: this catalog already has artifacts (point --config/--data-dir at a new store, or use restore --at for a point-in-time restore in place)', { code: 'CONFLICT' });
  }
}

async function checkSnapshot(file: string, manifest: BackupManifest): Promise<void> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  const actual = hash.digest('hex');
  if (actual !== manifest.catalog.sha256) throw new CorruptionError(`backup ${manifest.id}: the catalog snapshot has SHA-256 ${actual}, not the recorded ${manifest.catalog.sha256}; this backup is damaged`);
}
