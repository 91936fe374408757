import { closeSync, constants, openSync } from 'node:fs';

/**
 * Create a database file readable by its owner only (0600) before SQLite opens it; SQLite gives
 * its -wal and -shm files the main file's permissions. An existing file keeps its mode.
 */
export function createPrivateFile(path: string): void {
  closeSync(openSync(path, constants.O_CREAT | constants.O_RDWR, 0o600));
}
