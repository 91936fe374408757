import type * as NodeSqlite from 'node:sqlite';
import { StorageError } from '../errors.ts';

/**
 * The Node.js releases whose `node:sqlite` has what the catalog and the local index use:
 * `node:sqlite` without a flag (22.13) and `StatementSync.columns()` (22.16 and 23.11). Older
 * releases fail with a missing built-in module or a misleading catalog error, so this is checked
 * when the module loads, before anything opens a database. Keep `engines.node` in package.json equal.
 */
export const NODE_REQUIREMENT = '22.16 or newer on the 22 line, 23.11 or newer on the 23 line, or 24 and later (24 LTS recommended)';

export function isSupportedNode(version: string): boolean {
  const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number);
  if (major === 22) return minor >= 16;
  if (major === 23) return minor >= 11;
  return major >= 24;
}

/** Throws a NOT_SUPPORTED StorageError that says which Node is needed. */
export function assertSupportedNode(version: string = process.versions.node): void {
  if (isSupportedNode(version)) return;
  throw new StorageError(
    `boards-storage needs Node.js ${NODE_REQUIREMENT}; this is Node.js ${version}. `
      + 'Install a newer Node (for example `nvm install 24`, or `npx -p node@24 node ...`) and run it again',
    { code: 'NOT_SUPPORTED', details: { node: version, required: NODE_REQUIREMENT } },
  );
}

/**
 * `node:sqlite`, loaded after the version check: a static import would fail while the module graph
 * is linked, before any check could run, with "No such built-in module" on Node 22.12.
 */
export const sqlite: typeof NodeSqlite = loadSqlite();

function loadSqlite(): typeof NodeSqlite {
  assertSupportedNode();
  return process.getBuiltinModule('node:sqlite');
}
