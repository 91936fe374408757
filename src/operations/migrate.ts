import { randomUUID } from 'node:crypto';
import { NotFoundError, StorageError, ValidationError } from '../errors.ts';
import { assertSafeId } from '../keys.ts';
import type { StorageManager } from '../manager/storage-manager.ts';
import type { CatalogArtifact } from '../catalog/catalog.ts';
import type { MigrationFilters, MigrationItemState, MigrationRunRow } from '../catalog/migration-records.ts';
import type { StorageProvider } from '../providers/provider.ts';
import { SwitchBatch } from './switch-batch.ts';
import { copyArtifactVerified } from './verified-copy.ts';

type NamedProvider = { name: string; provider: StorageProvider };

/** `running` only while a live process works on it; `dry_run` for a dry run's report. */
export type MigrationStatus = 'completed' | 'partial' | 'interrupted' | 'rolled_back' | 'finalized' | 'running' | 'dry_run';

export interface MigrateOptions {
  from: string;
  to: string;
  tenantId?: string;
  boardId?: string;
  artifactType?: string;
  /** Only artifacts created longer ago than this many seconds. */
  olderThanSeconds?: number;
  /** Only artifacts larger than this many bytes. */
  largerThan?: number;
  /** Artifacts copied at once; default 8. */
  concurrency?: number;
  /** Count what would move; record and copy nothing. */
  dryRun?: boolean;
  /** Called after each artifact. */
  onProgress?: (progress: MigrationProgress) => void;
  /** Who is migrating, for the audit trail (default `migrate`). */
  actor?: string;
}

export interface MigrationProgress {
  id: string;
  /** Artifacts in the migration and their bytes (known once planning is done). */
  total: number;
  totalBytes: number;
  /** Artifacts finished (verified, skipped or failed) and bytes sent so far. */
  done: number;
  bytes: number;
  failed: number;
}

/** What `migrate --json` and `migrate status ID --json` print. */
export interface MigrationReport {
  id: string;
  status: MigrationStatus;
  counts: { total: number; copied: number; verified: number; skipped: number; failed: number };
  bytes: number;
  failures: { storageKey: string; reason: string }[];
  from: string;
  to: string;
  createdAt: string;
}

/** What `storage.migrate()` returns: await it for the report, or iterate it for progress. */
export type MigrationJob = Promise<MigrationReport> & AsyncIterable<MigrationProgress> & { id: string };

const PLAN_PAGE = 1000;
const WORK_PAGE = 64;
/** Row switches per catalog transaction, and the longest a verified copy waits for its batch. */
const SWITCH_BATCH = 64;
const SWITCH_DELAY_MS = 200;
const HEARTBEAT_MS = 2000;
/** A running migration whose heartbeat is older than this is taken as interrupted. */
const STALE_MS = 30_000;

/**
 * Move artifacts from one provider to another. Each artifact is streamed to the destination and
 * verified (the backend's checksum of the bytes sent, or a read-back, against its recorded
 * SHA-256), then its catalog row is switched, in a batch with others verified about then (only if
 * it still points at the source with the same checksum: an artifact deleted or changed meanwhile
 * is left alone and its copy removed). Sources are kept until `finalizeMigration`; `rollbackMigration`
 * undoes it. The state lives in the catalog, so a process killed at any moment can be resumed.
 */
export function migrate(storage: StorageManager, options: MigrateOptions): MigrationJob {
  const id = migrationId();
  const progress = progressChannel(options.onProgress);
  const report = (async () => {
    const from = checkProvider(storage, options.from, 'from');
    const to = checkProvider(storage, options.to, 'to');
    if (from === to) throw new ValidationError('--from and --to name the same provider; nothing to migrate');
    const concurrency = checkConcurrency(options.concurrency);
    const filters = migrationFilters(options);
    if (options.dryRun) return dryRun(storage, id, from, to, filters);
    const now = new Date().toISOString();
    const owner = ownerName();
    await storage.catalog.migrations.create({ id, from_provider: from, to_provider: to, filters: JSON.stringify(filters), concurrency, status: 'running', planned: 0, owner, heartbeat_at: now, created_at: now });
    return execute(storage, id, owner, options.actor ?? 'migrate', progress.emit);
  })().finally(progress.end);
  return Object.assign(report, { id, [Symbol.asyncIterator]: progress.iterate });
}

/** Finish a migration that was interrupted (killed, or stopped by an error); failed artifacts are tried again. */
export function resumeMigration(storage: StorageManager, id: string, options: Pick<MigrateOptions, 'onProgress' | 'actor' | 'concurrency'> = {}): MigrationJob {
  const progress = progressChannel(options.onProgress);
  const report = (async () => {
    const run = await getRun(storage, id);
    if (run.status === 'finalized' || run.status === 'rolled_back') throw new StorageError(`migration ${id} is ${run.status.replace('_', ' ')}; there is nothing to resume`, { code: 'CONFLICT' });
    if (run.status === 'running' && !isStale(run)) throw new StorageError(`migration ${id} is running in ${run.owner}; wait for it, or stop that process first`, { code: 'CONFLICT' });
    const owner = ownerName();
    if (!(await storage.catalog.migrations.claim(id, owner, run, new Date()))) throw new StorageError(`migration ${id} was taken by another process meanwhile`, { code: 'CONFLICT' });
    await storage.catalog.migrations.setItems(id, (await storage.catalog.migrations.failures(id)).map((f) => f.storageKey), 'pending');
    return execute(storage, id, owner, options.actor ?? 'migrate', progress.emit, options.concurrency);
  })().finally(progress.end);
  return Object.assign(report, { id, [Symbol.asyncIterator]: progress.iterate });
}

/** A migration's report; a run whose process died shows as `interrupted`. */
export async function migrationStatus(storage: StorageManager, id: string): Promise<MigrationReport> {
  return reportOf(storage, await getRun(storage, id));
}

/** Every migration, newest first. */
export async function listMigrations(storage: StorageManager): Promise<MigrationReport[]> {
  return Promise.all((await storage.catalog.migrations.list()).map((run) => reportOf(storage, run)));
}

/**
 * Delete the source copies of the artifacts that were verified and switched. An artifact deleted
 * for good meanwhile loses both copies; one deleted into the trash keeps the copy its row names.
 */
export async function finalizeMigration(storage: StorageManager, id: string): Promise<MigrationReport> {
  const run = await settledRun(storage, id, 'finalize');
  const { from_provider: from, to_provider: to } = run;
  await forEachItem(storage, id, ['switched'], async (keys) => {
    for (const key of keys) {
      const now = await storage.catalog.migrations.providerOf(key);
      if (!now || now.provider === to) await storage.provider(from).delete(key);
      if (!now) await storage.provider(to).delete(key);
    }
    await storage.catalog.migrations.setItems(id, keys, 'finalized');
  });
  await storage.catalog.migrations.setStatus(id, 'finalized', new Date(), { releaseOwner: true });
  return migrationStatus(storage, id);
}

/**
 * Point every switched artifact back at its source (still there until finalize) and remove the
 * destination copies, those of unfinished artifacts too.
 */
export async function rollbackMigration(storage: StorageManager, id: string, actor = 'migrate'): Promise<MigrationReport> {
  const run = await settledRun(storage, id, 'roll back');
  const { from_provider: from, to_provider: to } = run;
  const source = storage.provider(from);
  const target = storage.provider(to);
  await forEachItem(storage, id, ['switched', 'copying', 'failed', 'pending'], async (keys, states) => {
    for (const [i, key] of keys.entries()) {
      const now = await storage.catalog.migrations.providerOf(key);
      if (states[i] === 'switched' && now?.provider === to) {
        if (!(await source.exists(key))) {
          await storage.catalog.migrations.setItems(id, [key], 'failed', `the source copy on ${from} is gone; the artifact stays on ${to}`);
          continue;
        }
        await storage.catalog.migrations.switchItem(id, key, to, from, now.sha256, 'rolled_back', actor);
      } else {
        await storage.catalog.migrations.setItems(id, [key], 'rolled_back');
      }
      // The destination copy goes only when no row names it.
      if ((await storage.catalog.migrations.providerOf(key))?.provider !== to) await target.delete(key);
    }
  });
  await storage.catalog.migrations.setStatus(id, 'rolled_back', new Date(), { releaseOwner: true });
  return migrationStatus(storage, id);
}

async function execute(storage: StorageManager, id: string, owner: string, actor: string, emit: (p: MigrationProgress) => void, concurrencyOverride?: number): Promise<MigrationReport> {
  const records = storage.catalog.migrations;
  // A missed beat is retried by the next one; the lease lapses only if several in a row fail.
  const heartbeat = setInterval(() => { records.heartbeat(id, owner, new Date()).catch(() => undefined); }, HEARTBEAT_MS);
  heartbeat.unref();
  try {
    let run = await getRun(storage, id);
    const filters = JSON.parse(run.filters) as MigrationFilters;
    if (!run.planned) {
      // Planning is resumable: items already added are kept as they are.
      for (let after = ''; ;) {
        const page = await records.candidates(run.from_provider, filters, after, PLAN_PAGE);
        await records.addItems(id, page);
        if (page.length < PLAN_PAGE) break;
        after = page.at(-1)!.storageKey;
      }
      await records.markPlanned(id);
      run = await getRun(storage, id);
    }
    const counts = await records.counts(id);
    const state = {
      total: Object.values(counts).reduce((n, c) => n + c.count, 0),
      totalBytes: Object.values(counts).reduce((n, c) => n + c.bytes, 0),
      done: counts.switched.count + counts.skipped.count + counts.finalized.count,
      bytes: counts.switched.bytes,
      failed: 0,
    };
    const source = { name: run.from_provider, provider: storage.provider(run.from_provider) };
    const target = { name: run.to_provider, provider: storage.provider(run.to_provider) };
    const switches = new SwitchBatch<{ storageKey: string; sha256: string }, boolean>(
      (items) => records.switchItems(id, items, source.name, target.name, 'switched', actor),
      { size: SWITCH_BATCH, delayMs: SWITCH_DELAY_MS },
    );
    const finish = (outcome: ItemOutcome) => {
      state.done++;
      if (outcome === 'failed') state.failed++;
      emit({ id, ...state });
    };
    // Items copied and waiting for their batch's switch (at most a batch and one per worker).
    const switching = new Set<Promise<void>>();
    // A catalog failure while recording a deferred outcome stops the run, as it would undeferred.
    let broken: { error: unknown } | undefined;
    const work = workQueue(storage, id, target.name);
    const worker = async () => {
      for (;;) {
        if (broken) throw broken.error;
        const next = await work.next();
        if (next.done) return;
        const outcome = await migrateOne(storage, id, next.value, source, target, switches, (n) => { state.bytes += n; });
        if (typeof outcome === 'string') {
          finish(outcome);
          continue;
        }
        const settled = outcome.switching.then(finish).catch((error: unknown) => { broken ??= { error }; });
        switching.add(settled);
        void settled.finally(() => switching.delete(settled));
        await switches.room();
      }
    };
    try {
      await Promise.all(Array.from({ length: concurrencyOverride ?? run.concurrency }, worker));
    } finally {
      // Copies verified before a failure still get their switch (or their failure recorded).
      await switches.drain();
      await Promise.allSettled([...switching]);
    }
    if (broken) throw broken.error;
    const final = await records.counts(id);
    await records.setStatus(id, final.failed.count > 0 ? 'partial' : 'completed', new Date(), { releaseOwner: true });
    return await migrationStatus(storage, id);
  } finally {
    clearInterval(heartbeat);
  }
}

/**
 * The items left to do, a page at a time, each with its artifact's record as read with the page
 * (undefined when it has none): one query per page, not one per artifact. The switch checks the
 * row again, so a record that changes meanwhile is not overwritten. Each page is marked `copying`
 * before any of it is copied, so after a kill, resume knows which destination keys may hold a copy.
 * A deletion still queued for one of its keys on the destination (what an earlier run failed to
 * delete) is taken back first: the object there is about to be this run's copy, which a sweep must
 * not remove before the switch records it (a copy that fails is discarded again, see failOne).
 */
async function* workQueue(storage: StorageManager, id: string, target: string): AsyncGenerator<{ key: string; artifact: CatalogArtifact | undefined }> {
  const records = storage.catalog.migrations;
  for (let after = ''; ;) {
    const page = await records.items(id, ['pending', 'copying'], after, WORK_PAGE);
    await records.setItems(id, page.filter((i) => i.state === 'pending').map((i) => i.storage_key), 'copying');
    await storage.catalog.deletions.takeBack(page.map((i) => i.storage_key), target);
    const artifacts = await storage.catalog.getMany(page.map((i) => i.storage_key));
    for (const item of page) yield { key: item.storage_key, artifact: artifacts.get(item.storage_key) };
    if (page.length < WORK_PAGE) return;
    after = page.at(-1)!.storage_key;
  }
}

type ItemOutcome = 'switched' | 'skipped' | 'failed';

/**
 * Copy and verify one artifact. Its row switch goes to the batch: the outcome is then `switching`,
 * which settles once that batch has committed (the worker goes on meanwhile).
 */
async function migrateOne(storage: StorageManager, id: string, { key, artifact }: { key: string; artifact: CatalogArtifact | undefined }, source: NamedProvider, target: NamedProvider, switches: SwitchBatch<{ storageKey: string; sha256: string }, boolean>, onBytes: (n: number) => void): Promise<ItemOutcome | { switching: Promise<ItemOutcome> }> {
  const records = storage.catalog.migrations;
  const skip = async (reason: string, removeCopy: boolean) => {
    if (removeCopy) await target.provider.delete(key);
    await records.setItems(id, [key], 'skipped', reason);
    return 'skipped' as const;
  };
  try {
    if (!artifact) {
      const trashed = await records.providerOf(key);
      // Deleted meanwhile: not brought back. A copy a killed run may have made goes, unless a row names it.
      return await skip('deleted during the migration', trashed?.provider !== target.name);
    }
    if (artifact.storageProvider === target.name) return await skip(`already on ${target.name}`, false);
    if (artifact.storageProvider !== source.name) return await skip(`moved to ${artifact.storageProvider} during the migration`, true);
    await copyArtifactVerified(artifact, source, target, onBytes);
    // Wrapped: an async function returning the promise itself would wait for it.
    const switching = switches.add({ storageKey: key, sha256: artifact.sha256 }).then(
      async (switched) => switched ? 'switched' as const : skip('deleted or changed during the migration', (await records.providerOf(key))?.provider !== target.name),
    ).catch((error: unknown) => failOne(storage, id, key, target, error));
    return { switching };
  } catch (error) {
    return failOne(storage, id, key, target, error);
  }
}

/** Record an artifact that could not be moved, leaving nothing of it on the destination that no row names. */
async function failOne(storage: StorageManager, id: string, key: string, target: NamedProvider, error: unknown): Promise<'skipped' | 'failed'> {
  const records = storage.catalog.migrations;
  let now: Awaited<ReturnType<typeof records.providerOf>>;
  try {
    now = await records.providerOf(key);
  } catch {
    // The catalog cannot say where the artifact is: keep the copy (a row may name it) and count a failure, not a deletion.
    await records.setItems(id, [key], 'failed', (error as Error).message);
    return 'failed';
  }
  // A failed artifact leaves nothing on the destination (unless a row names it there): a copy the
  // delete leaves behind is queued for the next expiry sweep (see discardObject).
  if (now?.provider !== target.name) await storage.discardObject(key, target.name);
  // Deleted while it was being copied (its source may have gone with it): not a failure.
  if (!now || now.trashed) {
    await records.setItems(id, [key], 'skipped', 'deleted during the migration');
    return 'skipped';
  }
  await records.setItems(id, [key], 'failed', (error as Error).message);
  return 'failed';
}

async function dryRun(storage: StorageManager, id: string, from: string, to: string, filters: MigrationFilters): Promise<MigrationReport> {
  let total = 0;
  let bytes = 0;
  for (let after = ''; ;) {
    const page = await storage.catalog.migrations.candidates(from, filters, after, PLAN_PAGE);
    total += page.length;
    bytes += page.reduce((n, i) => n + i.size, 0);
    if (page.length < PLAN_PAGE) break;
    after = page.at(-1)!.storageKey;
  }
  return { id, status: 'dry_run', counts: { total, copied: 0, verified: 0, skipped: 0, failed: 0 }, bytes, failures: [], from, to, createdAt: new Date().toISOString() };
}

async function reportOf(storage: StorageManager, run: MigrationRunRow): Promise<MigrationReport> {
  const counts = await storage.catalog.migrations.counts(run.id);
  const n = (...states: MigrationItemState[]) => states.reduce((sum, s) => sum + counts[s].count, 0);
  const verified = n('switched', 'finalized');
  const status: MigrationStatus = run.status === 'running' && isStale(run) ? 'interrupted' : run.status;
  return {
    id: run.id,
    status,
    counts: { total: n('pending', 'copying', 'switched', 'skipped', 'failed', 'finalized', 'rolled_back'), copied: verified + (run.status === 'rolled_back' ? n('rolled_back') : 0), verified, skipped: n('skipped'), failed: n('failed') },
    bytes: counts.switched.bytes + counts.finalized.bytes,
    failures: await storage.catalog.migrations.failures(run.id),
    from: run.from_provider,
    to: run.to_provider,
    createdAt: run.created_at,
  };
}

async function getRun(storage: StorageManager, id: string): Promise<MigrationRunRow> {
  const run = await storage.catalog.migrations.get(id);
  if (!run) throw new NotFoundError(`no migration ${id} (boards-storage migrate status lists them)`);
  return run;
}

/** A run that no process is working on, for finalize and rollback. */
async function settledRun(storage: StorageManager, id: string, verb: string): Promise<MigrationRunRow> {
  const run = await getRun(storage, id);
  if (run.status === 'finalized' || run.status === 'rolled_back') throw new StorageError(`migration ${id} is already ${run.status.replace('_', ' ')}`, { code: 'CONFLICT' });
  if (run.status === 'running' && !isStale(run)) throw new StorageError(`migration ${id} is running in ${run.owner}; ${verb} it once it has stopped`, { code: 'CONFLICT' });
  if (verb === 'finalize' && run.status === 'running') throw new StorageError(`migration ${id} was interrupted; resume it (or roll it back) before finalizing`, { code: 'CONFLICT' });
  return run;
}

async function forEachItem(storage: StorageManager, id: string, states: MigrationItemState[], handle: (keys: string[], states: MigrationItemState[]) => Promise<void>): Promise<void> {
  for (let after = ''; ;) {
    const page = await storage.catalog.migrations.items(id, states, after, WORK_PAGE);
    if (page.length === 0) return;
    await handle(page.map((i) => i.storage_key), page.map((i) => i.state));
    after = page.at(-1)!.storage_key;
  }
}

/** The run's owner process is gone: on this host its pid is not alive; elsewhere, its heartbeat stopped. */
function isStale(run: MigrationRunRow): boolean {
  if (run.status !== 'running') return false;
  const [host, pid] = (run.owner ?? '').split(':');
  if (host === process.getBuiltinModule('node:os').hostname() && pid !== undefined && !alive(Number(pid))) return true;
  return run.heartbeat_at === null || Date.now() - Date.parse(run.heartbeat_at) > STALE_MS;
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ownerName(): string {
  return `${process.getBuiltinModule('node:os').hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/** `mig_` and a time-ordered suffix: ids sort by when they were made. */
function migrationId(): string {
  return `mig_${Date.now().toString(36)}${randomUUID().slice(0, 6)}`;
}

function checkProvider(storage: StorageManager, name: string, what: string): string {
  if (!storage.providerNames().includes(name)) throw new ValidationError(`--${what}: no provider named "${name}" (configured: ${storage.providerNames().join(', ')})`);
  return name;
}

function checkConcurrency(value: number | undefined): number {
  const n = value ?? 8;
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new ValidationError('concurrency must be a whole number from 1 to 256');
  return n;
}

function migrationFilters(options: MigrateOptions): MigrationFilters {
  if (options.olderThanSeconds !== undefined && !(options.olderThanSeconds > 0)) throw new ValidationError('olderThan must be a positive duration');
  if (options.largerThan !== undefined && !(options.largerThan >= 0)) throw new ValidationError('largerThan must be a size in bytes');
  return {
    ...(options.tenantId === undefined ? {} : { tenantId: assertSafeId('tenantId', options.tenantId) }),
    ...(options.boardId === undefined ? {} : { boardId: assertSafeId('boardId', options.boardId) }),
    ...(options.artifactType === undefined ? {} : { artifactType: assertSafeId('artifactType', options.artifactType) }),
    ...(options.olderThanSeconds === undefined ? {} : { createdBefore: new Date(Date.now() - options.olderThanSeconds * 1000).toISOString() }),
    ...(options.largerThan === undefined ? {} : { largerThan: options.largerThan }),
  };
}

/** Progress to a callback and to any number of async iterators (each sees the latest state, not every step). */
function progressChannel(callback?: (p: MigrationProgress) => void): { emit: (p: MigrationProgress) => void; end: () => void; iterate: () => AsyncIterator<MigrationProgress> } {
  let latest: MigrationProgress | undefined;
  let ended = false;
  const waiting = new Set<() => void>();
  const wake = () => {
    for (const w of waiting) w();
    waiting.clear();
  };
  return {
    emit(p) {
      latest = p;
      callback?.(p);
      wake();
    },
    end() {
      ended = true;
      wake();
    },
    iterate() {
      let seen: MigrationProgress | undefined;
      return {
        async next() {
          while (latest === seen && !ended) await new Promise<void>((resolve) => waiting.add(resolve));
          if (latest !== seen && latest) {
            seen = latest;
            return { value: latest, done: false };
          }
          return { value: undefined, done: true };
        },
      };
    },
  };
}
