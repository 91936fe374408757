import { createStorageManager } from '../manager/create.ts';
import type { StorageManager } from '../manager/storage-manager.ts';

export interface GlobalOptions {
  config?: string;
  dataDir?: string;
  json?: boolean;
}

/** The manager a command works on: `--config FILE`, else BOARDS_STORAGE_CONFIG, else the embedded default. */
export async function openStorage(options: GlobalOptions): Promise<StorageManager> {
  const env = options.dataDir ? { ...process.env, BOARDS_STORAGE_DATA_DIR: options.dataDir } : process.env;
  return createStorageManager(options.config, { env });
}
