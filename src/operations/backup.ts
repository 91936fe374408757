import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { StorageManager } from '../manager/storage-manager.ts';
import { ContentCheck, verifyStream } from '../content/verify-stream.ts';
import { openBackupStore } from './backup-store.ts';
import type { BackupStore } from './backup-store.ts';
import { snapshotArtifacts, snapshotCatalog, snapshotPosition } from './catalog-snapshot.ts';
import type { SnapshotFormat } from './catalog-snapshot.ts';

/** A backup's manifest (`backups/{id}/manifest.json`), written last: a backup without one is incomplete. */
export interface BackupManifest {
  format: 1;
  id: string;
  createdAt: string;
  type: 'full' | 'incremental';
  /** The backup an incremental one builds on. */
  parent?: string;
  catalog: { dialect: 'sqlite' | 'postgres'; file: string; format: SnapshotFormat; size: number; sha256: string };
  /** The newest audit entry in the snapshot. */
  position: { auditId?: string; at?: string };
  /** NDJSON, one line per artifact (live and in the trash): key, provider, size, SHA-256. */
  objects: string;
  counts: { artifacts: number; bytes: number; copied: number; copiedBytes: number; failed: number };
  failures: { storageKey: string; reason: string }[];
}

export interface BackupOptions {
  /** A configured provider's name, or a directory. */
  to: string;
  /** Copy only objects the previous backup does not have (default: every object). */
  incremental?: boolean;
  onProgress?: (p: { done: number; total?: number; bytes: number }) => void;
}

export interface ObjectLine {
  storageKey: string;
  provider: string;
  size: number;
  sha256: string;
  trashed: boolean;
  /** The object could not be copied (see the manifest's failures). */
  missing?: boolean;
}

/** Objects are kept once per content: `blobs/ab/abcdef...`. */
export function blobPath(sha256: string): string {
  return `blobs/${sha256.slice(0, 2)}/${sha256}`;
}

/**
 * Back up the catalog (a consistent snapshot, see catalog-snapshot.ts) and every object it names
 * that the backup does not hold yet. The snapshot comes first and the objects are those of the
 * snapshot, read from their providers (deleted artifacts stay in the trash, so their objects are
 * still there). Each object is checked against its recorded SHA-256 on its way in.
 */
export async function backup(storage: StorageManager, options: BackupOptions): Promise<BackupManifest> {
  const store = openBackupStore(storage, options.to);
  const previous = await latestManifest(store);
  if (options.incremental && !previous) throw new ValidationError(`--incremental: there is no earlier backup in ${store.description}; make a full one first`);
  const id = backupId();
  const work = await mkdtemp(join(resolve(storage.config.dataDir), 'backup-'));
  try {
    const snapshot = join(work, 'catalog');
    const format = await snapshotCatalog(storage.catalog, snapshot);
    const file = `backups/${id}/catalog.${format === 'sqlite' ? 'sqlite' : 'ndjson'}`;
    const catalogDigest = await fileDigest(snapshot);
    await store.put(file, createReadStream(snapshot), catalogDigest.size);

    const have = options.incremental && previous ? await objectHashes(store, previous) : new Set<string>();
    const counts = { artifacts: 0, bytes: 0, copied: 0, copiedBytes: 0, failed: 0 };
    const failures: BackupManifest['failures'] = [];
    const listing = join(work, 'objects.ndjson');
    const lines = createWriteStream(listing);
    for await (const row of snapshotArtifacts(snapshot, format)) {
      const line: ObjectLine = { storageKey: row.storage_key, provider: row.provider, size: Number(row.size), sha256: row.sha256, trashed: row.trashed };
      counts.artifacts++;
      counts.bytes += line.size;
      if (!have.has(line.sha256)) {
        try {
          const source = await storage.provider(line.provider).openDownload(line.storageKey);
          await store.put(blobPath(line.sha256), verifyStream(source, new ContentCheck({ storageKey: line.storageKey, provider: line.provider, sha256: line.sha256, size: line.size })), line.size);
          have.add(line.sha256);
          counts.copied++;
          counts.copiedBytes += line.size;
        } catch (error) {
          counts.failed++;
          line.missing = true;
          failures.push({ storageKey: line.storageKey, reason: (error as Error).message });
        }
      }
      if (!lines.write(JSON.stringify(line) + '\n')) await once(lines, 'drain');
      options.onProgress?.({ done: counts.artifacts, bytes: counts.copiedBytes });
    }
    const objects = `backups/${id}/objects.ndjson`;
    lines.end();
    await once(lines, 'finish');
    await store.put(objects, createReadStream(listing));
    const manifest: BackupManifest = {
      format: 1, id, createdAt: new Date().toISOString(), type: options.incremental ? 'incremental' : 'full',
      ...(options.incremental && previous ? { parent: previous.id } : {}),
      catalog: { dialect: storage.catalog.dialect, file, format, size: catalogDigest.size, sha256: catalogDigest.sha256 },
      position: await snapshotPosition(snapshot, format), objects, counts, failures,
    };
    const text = Buffer.from(JSON.stringify(manifest, null, 2));
    await store.put(`backups/${id}/manifest.json`, (async function* () { yield text; })(), text.length);
    return manifest;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Every complete backup in a store, oldest first. */
export async function listBackups(store: BackupStore): Promise<BackupManifest[]> {
  const manifests = (await store.list('backups/')).filter((p) => p.endsWith('/manifest.json'));
  const found: BackupManifest[] = [];
  for (const path of manifests) found.push(JSON.parse(await readText(store, path)) as BackupManifest);
  return found.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

/** The newest backup, or the newest made at or before `at`. */
export async function latestManifest(store: BackupStore, at?: Date): Promise<BackupManifest | undefined> {
  const all = await listBackups(store);
  return (at ? all.filter((m) => Date.parse(m.createdAt) <= at.getTime()) : all).at(-1);
}

/** A backup's object list, line by line. */
export async function* objectLines(store: BackupStore, manifest: BackupManifest): AsyncGenerator<ObjectLine> {
  for await (const line of process.getBuiltinModule('node:readline').createInterface({ input: await store.open(manifest.objects), crlfDelay: Infinity })) {
    if (line) yield JSON.parse(line) as ObjectLine;
  }
}

async function objectHashes(store: BackupStore, manifest: BackupManifest): Promise<Set<string>> {
  const hashes = new Set<string>();
  for await (const line of objectLines(store, manifest)) if (!line.missing) hashes.add(line.sha256);
  return hashes;
}

export async function readText(store: BackupStore, path: string): Promise<string> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of await store.open(path)) chunks.push(chunk as Buffer);
  } catch (error) {
    if (error instanceof NotFoundError) throw new NotFoundError(`${path} is not in ${store.description}`, { cause: error });
    throw error;
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function fileDigest(file: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return { size: (await stat(file)).size, sha256: hash.digest('hex') };
}

/** `bk_` and the UTC time, so ids sort by when they were made. */
function backupId(): string {
  return `bk_${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}Z_${randomUUID().slice(0, 6)}`;
}
