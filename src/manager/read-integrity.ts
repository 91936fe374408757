import type { Readable } from 'node:stream';
import type { CorruptionError } from '../errors.ts';
import type { AuditEvent, CatalogArtifact } from '../catalog/catalog.ts';
import { ContentCheck, verifyStream } from '../content/verify-stream.ts';
import { copyLocations, repairCopy } from '../lifecycle/repair.ts';
import type { StorageManager } from './storage-manager.ts';

/** Something the integrity checks found or did; the service logs these. */
export type IntegrityEvent =
  | { type: 'corruption'; storageKey: string; provider: string; error: CorruptionError }
  | { type: 'repaired'; storageKey: string; provider: string; from: string }
  | { type: 'repair_failed'; storageKey: string; provider: string; error: string };

export interface IntegrityFigures {
  /** Corrupt copies found (verified reads and scrubs), by provider. */
  corruptions: Record<string, number>;
  /** Copies restored from a good one, by the provider repaired. */
  repairs: Record<string, number>;
  /** Repairs that found no good copy, by provider. */
  repairFailures: Record<string, number>;
  /** Corruptions or repairs the audit log could not record (the catalog refused the write), by provider. */
  auditFailures: Record<string, number>;
}

/**
 * Verified reads: whole-artifact reads are checked against the recorded SHA-256 and size as the
 * bytes pass (per provider `verify_reads`, on by default). A copy found corrupt is remembered,
 * counted, audited and reported; later reads go to another copy (a finished mirror copy or the
 * fallback) while the bad one is restored from it in the background.
 *
 * What is known to be corrupt is kept in the catalog (`corrupt_copies`) as well as here: after a
 * restart, load() brings it back, reads still go around the bad copy, and its repair resumes (at
 * the first read that goes around it, or from resumeRepairs()).
 */
export class ReadIntegrity {
  private readonly storage: StorageManager;
  /** storageKey -> providers whose copy was found corrupt and is not yet repaired. */
  private readonly suspects = new Map<string, Set<string>>();
  private readonly repairs = new Map<string, Promise<void>>();
  /** Copies whose repair this process has tried (a failed one is retried by a scrub or resumeRepairs, not by every read). */
  private readonly tried = new Set<string>();
  /** The catalog writes of suspects, one after another (a repair's clear never overtakes its mark). */
  private recording: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<(event: IntegrityEvent) => void>();
  private readonly figures: IntegrityFigures = { corruptions: {}, repairs: {}, repairFailures: {}, auditFailures: {} };

  constructor(storage: StorageManager) {
    this.storage = storage;
  }

  /** Whether whole reads from this provider are checked (`verify_reads`, default true). */
  verifies(provider: string): boolean {
    return this.storage.config.providers[provider]?.verify_reads ?? true;
  }

  /** A check for one whole read of `artifact` from `provider`, or undefined when reads from it are not checked. */
  check(artifact: CatalogArtifact, provider: string): ContentCheck | undefined {
    if (!artifact.sha256 || !this.verifies(provider)) return undefined;
    return new ContentCheck({ storageKey: artifact.storageKey, provider, sha256: artifact.sha256, size: artifact.size }, (error) => this.corrupted(artifact, provider, error));
  }

  /** `stream` (a whole read of `artifact` from `provider`) checked as it passes, when reads from it are checked. */
  verify(stream: Readable, artifact: CatalogArtifact, provider: string): Readable {
    const check = this.check(artifact, provider);
    return check ? verifyStream(stream, check) : stream;
  }

  /** Whether the copy on `provider` is known to be corrupt and not yet repaired. */
  isSuspect(storageKey: string, provider: string): boolean {
    return this.suspects.get(storageKey)?.has(provider) ?? false;
  }

  /**
   * Other copies to read while the one on `provider` is known bad: finished mirrors, the fallback.
   * A bad copy found before a restart has its repair resumed here, once, when a good copy exists.
   */
  async goodCopies(artifact: CatalogArtifact, provider: string): Promise<string[]> {
    const good = (await copyLocations(this.storage, artifact)).filter((name) => name !== provider && !this.isSuspect(artifact.storageKey, name));
    if (good.length && !this.tried.has(repairId(artifact.storageKey, provider))) this.repairInBackground(artifact, provider);
    return good;
  }

  /** Bring back the copies recorded as corrupt (a restart): call once, before the first read. */
  async load(): Promise<void> {
    for (const copy of await this.storage.catalog.corruptCopies.list()) {
      const known = this.suspects.get(copy.storageKey) ?? new Set<string>();
      this.suspects.set(copy.storageKey, known.add(copy.provider));
    }
  }

  /**
   * Start the repair of every copy known to be corrupt (the service does this when it starts);
   * a copy whose artifact is gone is forgotten. Returns how many repairs started.
   */
  async resumeRepairs(): Promise<number> {
    let started = 0;
    for (const [storageKey, providers] of [...this.suspects]) {
      const artifact = await this.storage.catalog.get(storageKey);
      for (const provider of [...providers]) {
        if (!artifact) this.forget(storageKey, provider);
        else if (!this.repairs.has(repairId(storageKey, provider))) {
          this.repairInBackground(artifact, provider);
          started++;
        }
      }
    }
    return started;
  }

  /**
   * A copy was found corrupt (by a verified read or a scrub): count it, audit it, tell the
   * listeners, and restore it from a good copy in the background when `repair` (default true).
   */
  corrupted(artifact: CatalogArtifact, provider: string, error: CorruptionError, options: { repair?: boolean } = {}): void {
    const key = artifact.storageKey;
    const known = this.suspects.get(key) ?? new Set<string>();
    this.suspects.set(key, known.add(provider));
    this.record(provider, () => this.storage.catalog.corruptCopies.mark(key, provider, { ...error.details }));
    this.count('corruptions', provider);
    this.emit({ type: 'corruption', storageKey: key, provider, error });
    this.audit(provider, { action: 'corruption_detected', tenantId: artifact.tenantId, storageKey: key, actor: 'integrity', details: { provider, ...error.details } });
    if (options.repair ?? true) this.repairInBackground(artifact, provider);
  }

  /** A copy restored by someone else (a scrub's repair): forget it was bad. */
  restored(artifact: CatalogArtifact, provider: string, from: string): void {
    this.forget(artifact.storageKey, provider);
    this.count('repairs', provider);
    this.emit({ type: 'repaired', storageKey: artifact.storageKey, provider, from });
    this.audit(provider, { action: 'repaired', tenantId: artifact.tenantId, storageKey: artifact.storageKey, actor: 'integrity', details: { provider, from } });
  }

  /** Recorded in the background (a read must not wait on it); a refused write is counted, not lost silently. */
  private audit(provider: string, entry: AuditEvent): void {
    this.storage.catalog.audit([entry]).catch(() => this.count('auditFailures', provider));
  }

  onEvent(listener: (event: IntegrityEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): IntegrityFigures {
    return structuredClone(this.figures);
  }

  /** Wait for the repairs under way, and for the catalog to hold what they found. */
  async settled(): Promise<void> {
    while (this.repairs.size) await Promise.all(this.repairs.values());
    await this.recording;
  }

  /**
   * Keep the catalog's record of suspects in step, in the background (a read must not wait on
   * it), in order; a refused write is counted with the audit failures, the memory still knows.
   */
  private record(provider: string, write: () => Promise<void>): void {
    this.recording = this.recording.then(write).catch(() => this.count('auditFailures', provider));
  }

  private repairInBackground(artifact: CatalogArtifact, provider: string): void {
    const id = repairId(artifact.storageKey, provider);
    if (this.repairs.has(id)) return;
    this.tried.add(id);
    const running = (async () => {
      try {
        const outcome = await repairCopy(this.storage, artifact, provider);
        if (outcome.repaired) this.restored(artifact, provider, outcome.from!);
        else {
          this.count('repairFailures', provider);
          this.emit({ type: 'repair_failed', storageKey: artifact.storageKey, provider, error: outcome.error ?? 'unknown' });
        }
      } catch (error) {
        this.count('repairFailures', provider);
        this.emit({ type: 'repair_failed', storageKey: artifact.storageKey, provider, error: (error as Error).message });
      }
    })().finally(() => { this.repairs.delete(id); });
    this.repairs.set(id, running);
  }

  private forget(storageKey: string, provider: string): void {
    const known = this.suspects.get(storageKey);
    known?.delete(provider);
    if (known?.size === 0) this.suspects.delete(storageKey);
    this.tried.delete(repairId(storageKey, provider));
    this.record(provider, () => this.storage.catalog.corruptCopies.clear(storageKey, provider));
  }

  private count(figure: keyof IntegrityFigures, provider: string): void {
    this.figures[figure][provider] = (this.figures[figure][provider] ?? 0) + 1;
  }

  private emit(event: IntegrityEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own; the read goes on.
      }
    }
  }
}

function repairId(storageKey: string, provider: string): string {
  return `${provider}\u0000${storageKey}`;
}
