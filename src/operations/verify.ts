import { CorruptionError, ValidationError } from '../errors.ts';
import { assertSafeId } from '../keys.ts';
import type { CatalogArtifact } from '../catalog/catalog.ts';
import type { StorageManager } from '../manager/storage-manager.ts';
import { checkCopy, recordedCopies, repairCopy } from '../lifecycle/repair.ts';
import type { CopyState } from '../lifecycle/repair.ts';

export type VerifyStatus = CopyState | 'orphan';

export interface VerifyOptions {
  tenantId?: string;
  boardId?: string;
  /** Only copies on this provider (and its orphans). */
  provider?: string;
  /** Check a random share of the artifacts (0 < sample <= 1); default all. Orphans are always looked for. */
  sample?: number;
  /** Restore each bad copy from a verified good copy (a mirror, the fallback) and check it again. */
  repair?: boolean;
  /** Look for objects no record knows (default true). */
  orphans?: boolean;
  /** Read at most this many bytes per second (a background scrub's bound); default unbounded. */
  bytesPerSecond?: number;
  /** After each artifact: how many were checked so far and their bytes. */
  onProgress?: (progress: { artifacts: number; bytes: number }) => void;
  signal?: AbortSignal;
  /** The sampling's random source (tests make it deterministic). */
  random?: () => number;
}

export interface VerifyProblem {
  storageKey: string;
  status: Exclude<VerifyStatus, 'ok'>;
  provider: string;
  /** With repair: whether the copy was restored (and checked again). */
  repaired?: boolean;
  /** Why it could not be checked or repaired. */
  error?: string;
}

export interface VerifyReport {
  /** Copies checked, by what was found; `repaired` counts the bad ones restored. */
  counts: Record<VerifyStatus | 'repaired', number>;
  problems: VerifyProblem[];
  /** Artifacts checked and bytes read. */
  artifacts: number;
  bytes: number;
}

const PAGE = 500;

export { allGood } from './verify-outcome.ts';

/**
 * Read every artifact selected (each of its copies: the recorded provider and finished mirror
 * copies), recompute SHA-256 and size and compare them with the record; then list the providers
 * for objects no record knows. Memory stays bounded: artifacts come a page at a time, bytes are
 * hashed as they stream. Copies found bad are counted and audited like a verified read's.
 */
export async function verifyArtifacts(storage: StorageManager, options: VerifyOptions = {}): Promise<VerifyReport> {
  const sample = options.sample ?? 1;
  if (!(sample > 0 && sample <= 1)) throw new ValidationError(`sample must be a fraction above 0 and at most 1, not ${options.sample}`);
  if (options.provider !== undefined) storage.provider(options.provider); // a ConfigError naming the configured ones
  const filters = {
    ...(options.tenantId === undefined ? {} : { tenantId: assertSafeId('tenantId', options.tenantId) }),
    ...(options.boardId === undefined ? {} : { boardId: assertSafeId('boardId', options.boardId) }),
  };
  const report: VerifyReport = { counts: { ok: 0, corrupt: 0, missing: 0, size_mismatch: 0, orphan: 0, repaired: 0 }, problems: [], artifacts: 0, bytes: 0 };
  const pace = pacer(options.bytesPerSecond, options.signal);
  const random = options.random ?? Math.random;

  let after = '';
  for (;;) {
    const batch = await storage.catalog.artifactsAfter(after, PAGE, filters);
    for (const artifact of batch) {
      options.signal?.throwIfAborted();
      if (sample < 1 && random() >= sample) continue;
      for (const provider of await recordedCopies(storage, artifact)) {
        if (options.provider !== undefined && provider !== options.provider) continue;
        const state = await checkCopy(storage, artifact, provider, async (n) => { report.bytes += n; await pace(n); }).catch((error: unknown) => error as Error);
        if (state instanceof Error) {
          // Unreachable or refusing: not evidence about the bytes; reported, never "repaired".
          report.problems.push({ storageKey: artifact.storageKey, status: 'missing', provider, error: state.message });
          report.counts.missing++;
          continue;
        }
        report.counts[state]++;
        if (state === 'ok') continue;
        const problem: VerifyProblem = { storageKey: artifact.storageKey, status: state, provider };
        report.problems.push(problem);
        storage.integrity.corrupted(artifact, provider, describe(artifact, provider, state), { repair: false });
        if (options.repair) await repair(storage, artifact, provider, problem, report);
      }
      report.artifacts++;
      options.onProgress?.({ artifacts: report.artifacts, bytes: report.bytes });
    }
    if (batch.length < PAGE) break;
    after = batch.at(-1)!.storageKey;
  }
  if (options.orphans ?? true) await findOrphans(storage, options, report);
  return report;
}

async function repair(storage: StorageManager, artifact: CatalogArtifact, provider: string, problem: VerifyProblem, report: VerifyReport): Promise<void> {
  const outcome = await repairCopy(storage, artifact, provider);
  problem.repaired = outcome.repaired;
  if (outcome.repaired) {
    report.counts.repaired++;
    storage.integrity.restored(artifact, provider, outcome.from!);
  } else if (outcome.error) problem.error = outcome.error;
}

function describe(artifact: CatalogArtifact, provider: string, state: Exclude<CopyState, 'ok'>): CorruptionError {
  const what = { corrupt: 'bytes whose SHA-256 is not the recorded one', missing: 'no object', size_mismatch: `a size other than the recorded ${artifact.size} bytes` }[state];
  return new CorruptionError(`${artifact.storageKey} on ${provider}: the scrub found ${what}`, { details: { storageKey: artifact.storageKey, provider, status: state } });
}

/**
 * Objects on the providers that no record knows: no artifact row (nor a pending direct upload, a
 * trashed artifact or a migration's copy), or a row that places the artifact elsewhere and lists
 * no copy here.
 */
async function findOrphans(storage: StorageManager, options: VerifyOptions, report: VerifyReport): Promise<void> {
  const prefix = options.tenantId === undefined ? '' : `${options.tenantId}/`;
  for (const name of options.provider === undefined ? storage.providerNames() : [options.provider]) {
    const provider = storage.provider(name);
    let cursor: string | undefined;
    do {
      options.signal?.throwIfAborted();
      const page = await provider.list(prefix, { limit: 1000, ...(cursor ? { cursor } : {}) });
      for (const object of page.items) {
        if (options.boardId !== undefined && !onBoard(object.key, options.boardId)) continue;
        if (await isRecordedOn(storage, object.key, name)) continue;
        report.counts.orphan++;
        report.problems.push({ storageKey: object.key, status: 'orphan', provider: name });
      }
      cursor = page.nextCursor;
    } while (cursor);
  }
}

async function isRecordedOn(storage: StorageManager, key: string, provider: string): Promise<boolean> {
  const artifact = await storage.catalog.get(key);
  if (artifact?.storageProvider === provider) return true;
  // A direct upload not yet completed, a deleted artifact in the trash (its copies too, until the
  // purge) and a migration's copies are known objects.
  if (!artifact && ((await storage.catalog.getPendingUpload(key)) !== undefined || (await storage.catalog.trash.get(key)) !== undefined)) return true;
  if (await storage.catalog.migrations.holdsObject(provider, key)) return true;
  // A pending mirror copy may have landed already: it is on its way to being recorded, not an orphan.
  return (await storage.catalog.copiesOf(key)).some((copy) => copy.provider === provider);
}

/** `{tenant}/{type}/{board}/{artifact}/{variant}`: keys with a board have five parts. */
function onBoard(key: string, boardId: string): boolean {
  const parts = key.split('/');
  return parts.length === 5 && parts[2] === boardId;
}

/** Sleep as needed to keep the bytes read at or below `bytesPerSecond` since the first. */
function pacer(bytesPerSecond: number | undefined, signal: AbortSignal | undefined): (bytes: number) => Promise<void> {
  if (!bytesPerSecond) return async () => undefined;
  const started = performance.now();
  let total = 0;
  return async (bytes) => {
    total += bytes;
    const due = started + (total / bytesPerSecond) * 1000 - performance.now();
    if (due > 1) await process.getBuiltinModule('node:timers/promises').setTimeout(due, undefined, signal ? { signal } : {});
  };
}
