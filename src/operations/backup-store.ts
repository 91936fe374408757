import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NotFoundError, ValidationError, fromFsError } from '../errors.ts';
import type { StorageManager } from '../manager/storage-manager.ts';
import type { StorageProvider } from '../providers/provider.ts';

/**
 * Where backups are kept: a directory, or one of the configured providers. Paths are relative and
 * use `/`. A file is either whole or absent (written aside, then renamed; providers' uploads are
 * all-or-nothing already).
 */
export interface BackupStore {
  readonly description: string;
  put(path: string, content: AsyncIterable<Uint8Array>, size?: number): Promise<void>;
  open(path: string): Promise<Readable>;
  exists(path: string): Promise<boolean>;
  /** Every path under `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;
}

/** `--to`/`--from`: a configured provider's name, else a directory. */
export function openBackupStore(storage: StorageManager, target: string): BackupStore {
  if (!target) throw new ValidationError('say where the backups are: a provider name or a directory');
  if (storage.providerNames().includes(target)) return providerStore(target, storage.provider(target));
  return directoryStore(target);
}

function directoryStore(dir: string): BackupStore {
  const root = resolve(dir);
  const file = (path: string) => {
    const full = resolve(root, path);
    if (!full.startsWith(root + sep)) throw new ValidationError(`backup path ${path} leaves ${root}`);
    return full;
  };
  return {
    description: root,
    async put(path, content) {
      const target = file(path);
      const aside = `${target}.partial`;
      await mkdir(dirname(target), { recursive: true });
      try {
        await pipeline(Readable.from(content), createWriteStream(aside));
        await rename(aside, target);
      } catch (error) {
        await rm(aside, { force: true });
        throw fromFsError(error, target);
      }
    },
    async open(path) {
      const target = file(path);
      await stat(target).catch((error: unknown) => {
        throw (error as NodeJS.ErrnoException).code === 'ENOENT' ? new NotFoundError(`${target} is not in the backup`) : fromFsError(error, target);
      });
      return createReadStream(target, { highWaterMark: 1024 * 1024 });
    },
    async exists(path) {
      return stat(file(path)).then(() => true, () => false);
    },
    async list(prefix) {
      const base = file(prefix.replace(/\/$/, '') || '.');
      const entries = await readdir(base, { recursive: true, withFileTypes: true }).catch(() => []);
      return entries.filter((e) => e.isFile() && !e.name.endsWith('.partial')).map((e) => relative(root, join(e.parentPath, e.name)).split(sep).join('/')).sort();
    },
  };
}

function providerStore(name: string, provider: StorageProvider): BackupStore {
  return {
    description: `provider ${name}`,
    async put(path, content, size) {
      await provider.upload(path, content, { contentType: 'application/octet-stream', ...(size === undefined ? {} : { size }), metadata: {} });
    },
    open: (path) => provider.openDownload(path),
    exists: (path) => provider.exists(path),
    async list(prefix) {
      const paths: string[] = [];
      for (let cursor: string | undefined; ;) {
        const page = await provider.list(prefix, { limit: 1000, ...(cursor ? { cursor } : {}) });
        paths.push(...page.items.map((i) => i.key));
        if (!page.nextCursor) return paths;
        cursor = page.nextCursor;
      }
    },
  };
}
