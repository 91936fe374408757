import type * as Verify from './verify.ts';
import type * as SyncMirrors from './sync-mirrors.ts';
import type * as Backup from './backup.ts';
import type * as Restore from './restore.ts';
import type * as PointInTime from './point-in-time.ts';

/**
 * The package root's operations that a program which only stores never runs (scrub, mirror
 * backfill, backup, restore): each loads its module with its first call, so `import
 * 'boards-storage'` does not compile them (about 40 KB of code and 8 modules). Same signatures.
 */
export const verifyArtifacts: typeof Verify.verifyArtifacts = async (...args) => (await import('./verify.ts')).verifyArtifacts(...args);

export const syncMirrors: typeof SyncMirrors.syncMirrors = async (...args) => (await import('./sync-mirrors.ts')).syncMirrors(...args);

export const backup: typeof Backup.backup = async (...args) => (await import('./backup.ts')).backup(...args);

export const restore: typeof Restore.restore = async (...args) => (await import('./restore.ts')).restore(...args);

export const pointInTimeRestore: typeof PointInTime.pointInTimeRestore = async (...args) => (await import('./point-in-time.ts')).pointInTimeRestore(...args);
