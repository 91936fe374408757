import type { Readable } from 'node:stream';
import { hash } from 'node:crypto';
import { ConfigError, NotFoundError, ProviderUnavailableError, SecurityError, StorageError, ValidationError } from '../errors.ts';
import { join } from 'node:path';
import { composeLayers } from '../layers/compose.ts';
import { defaultFailsOver, failoverProvider } from '../layers/failover.ts';
import type { FailoverProvider } from '../layers/failover.ts';
import { artifactCopies } from './artifact-copies.ts';
import { MetricsRecorder } from '../layers/metrics.ts';
import type { ProviderFigures } from '../layers/metrics.ts';
import { spoolToFile } from '../content/spool.ts';
import { processMirrorQueue } from '../lifecycle/mirrors.ts';
import type { MirrorReport } from '../lifecycle/mirrors.ts';
import { assertSafeId, assertSafeKey, buildArtifactKey, buildTempKey } from '../keys.ts';
import { assertArtifactType } from '../content/artifact-types.ts';
import { canonicalContentType, isContentTypeAllowed, isWellFormedContentType, normalizeContentType } from '../content/content-types.ts';
import { inMemoryBytes, sha256OffThread, toByteStream } from '../content/source.ts';
import { validateContent } from '../content/validate-stream.ts';
import { checkDownloadName } from '../content/download-name.ts';
import type { ContentDigest } from '../content/validate-stream.ts';
import type { ArtifactContent } from '../content/source.ts';
import type { StorageConfig } from '../config/load.ts';
import { parseCleanupConfig } from '../config/cleanup-config.ts';
import type { ByteRange, DeferredObject, OpenFile, StorageProvider } from '../providers/provider.ts';
import type { Catalog, CatalogArtifact, ListArtifactsQuery, UsageFigures } from '../catalog/catalog.ts';
import { LineageRecords } from '../catalog/lineage-records.ts';
import type { CheckedInput } from '../catalog/lineage-records.ts';
import type { AuditPage, AuditQuery } from '../catalog/audit-records.ts';
import { checkMetadataFacts } from '../media/store-analysis.ts';
import { META, referenceMetadata } from './artifact-reference.ts';
import type { ArtifactReference, Visibility } from './artifact-reference.ts';
import { selectProvider } from './routing.ts';
import { migrate } from '../operations/migrate.ts';
import type { MigrateOptions, MigrationJob } from '../operations/migrate.ts';
import { parseMediaConfig } from '../media/media-config.ts';
import type { MediaConfig, VariantSpecInput } from '../media/media-config.ts';
import type { MediaFacts } from '../media/media-facts.ts';
import { mediaKind } from '../media/media-facts.ts';
import { StoreAnalysis } from '../media/store-analysis.ts';
import { TransformSlots } from '../media/transform-slots.ts';
import { createVariant, parseVariantSpec, siblingKey, storeVariant, summarizeVariant, variantByName, variantFileName, variantName } from '../media/variants.ts';
import { processVariantQueue } from '../media/variant-queue.ts';
import type { VariantReport } from '../media/variant-queue.ts';
import { parseQuotaConfig } from '../quotas/quota-config.ts';
import { QuotaGuard } from '../quotas/quota-guard.ts';
import { ReadIntegrity } from './read-integrity.ts';
import type { IntegrityFigures } from './read-integrity.ts';
import type { ContentCheck } from '../content/verify-stream.ts';
import type { VerifyOptions, VerifyReport } from '../operations/verify.ts';
import { requireCapability } from '../providers/capabilities.ts';
import type { SyncMirrorsOptions, SyncMirrorsReport } from '../operations/sync-mirrors.ts';
import type { BoardPage, DeleteBoardResult, ListBoardsQuery } from '../boards/board-list.ts';
import type { CopyBoardOptions, CopyBoardResult } from '../boards/board-copy.ts';
import type { BoardArchive, BoardArchiveOptions } from '../boards/board-archive.ts';

/** A body in memory up to this size, stored while no other is, is hashed on the event loop (see write). */
const HASH_HERE_BYTES = 256 * 1024;

export interface StoreArtifactInput {
  artifactId: string;
  artifactType: string;
  contentType: string;
  content: ArtifactContent;
  /** Defaults to `default`. */
  tenantId?: string;
  boardId?: string;
  /** Defaults to `original` plus the content type's extension. */
  variant?: string;
  /** Defaults to `private`. */
  visibility?: Visibility;
  metadata?: Record<string, unknown>;
  /**
   * Lineage: the storage keys of the artifacts this one was made from (a reference image, a LoRA,
   * a mask). Each must be a stored artifact of the same tenant; the links outlive either side.
   */
  inputs?: string[];
  /**
   * Media facts the caller believes (width, height, durationMs ...); checked against the bytes
   * like the same keys in `metadata`, and corrected or refused as `media.caller_facts` says.
   */
  media?: Partial<MediaFacts>;
  /** The exact byte count, when known: used for routing, refused early when over the limit, and checked. */
  size?: number;
  /** Aborting stops the store; nothing is left behind. */
  signal?: AbortSignal;
  /** Who is storing it, for the audit trail (a user id). */
  actor?: string;
  /** The generation job that made it (recorded in the catalog). */
  jobId?: string;
  generationId?: string;
  /** Temporary artifacts: when cleanup may remove it. */
  expiresAt?: Date;
}

export interface TempFileInput {
  jobId: string;
  /** The file name under `temp/{jobId}/`. */
  name: string;
  contentType: string;
  content: ArtifactContent;
  /** Recorded for usage figures; default `default`. */
  tenantId?: string;
  /** Default: now + cleanup.temp_file_ttl_hours (24 h). */
  expiresAt?: Date;
  size?: number;
  signal?: AbortSignal;
  actor?: string;
}

export interface ArtifactPage {
  items: ArtifactReference[];
  nextCursor?: string;
}

/** A listing: the catalog's filters, or the outputs of one input (`input`, lineage). */
export type ArtifactQuery = ListArtifactsQuery & {
  /** Only artifacts made from this one (its storage key); deleted outputs are left out. */
  input?: string;
};

/** A metadata change: keys to set, and keys set to null to remove. */
export type MetadataPatch = Record<string, unknown>;

/** A deleted artifact in the trash. */
export type TrashedReference = ArtifactReference & { deletedAt: string; deletedBy?: string; purgeAfter: string };

export interface TrashPage {
  items: TrashedReference[];
  nextCursor?: string;
}

export interface ActorOptions {
  /** Who is acting, for the audit trail. */
  actor?: string;
}

export interface StorageMetrics {
  providers: Record<string, ProviderFigures>;
  /** Stored artifacts and bytes per provider and tenant, from the catalog. */
  utilisation: { provider: string; tenantId: string; count: number; bytes: number }[];
  /** Corrupt copies found by verified reads and scrubs, and repairs, by provider. */
  integrity: IntegrityFigures;
  /**
   * Objects of failed stores and copies that could be neither deleted nor queued for the expiry
   * sweep (the catalog refused too), by provider: `findOrphans` finds them.
   */
  orphansLeft: Record<string, number>;
}

/** A stored object's open file; `check`, when present, is to be fed every byte sent and asked at the end. */
export type VerifiedFile = OpenFile & { check?: ContentCheck };

export interface HealthReport {
  ok: boolean;
  catalog: HealthCheck;
  /** Per provider: a real round trip's outcome and latency, and the circuit breaker's state. */
  providers: Record<string, HealthCheck & { breaker?: string }>;
}

export interface HealthCheck {
  ok: boolean;
  ms: number;
  /** What failed, for operators: may name paths and hosts. */
  error?: string;
  /** The failure's stable code (a StorageError's, or TIMEOUT): what may be shown to anyone. */
  code?: string;
}

export interface UploadUrlRequest {
  artifactId: string;
  artifactType: string;
  contentType: string;
  size?: number;
  tenantId?: string;
  boardId?: string;
  variant?: string;
  /** Seconds; default 3600. */
  expiresIn?: number;
  actor?: string;
  /** User metadata, recorded with the artifact when the upload is completed. */
  metadata?: Record<string, unknown>;
  /** Lineage, as in storeArtifact: checked now, recorded at completion. */
  inputs?: string[];
}

export interface UploadUrl {
  url: string;
  method: 'PUT' | 'POST';
  headers?: Record<string, string>;
  fields?: Record<string, string>;
  expiresAt: string;
  storageKey: string;
  storageProvider: string;
}

export interface ReadOptions {
  /** Read from the named provider only: no failover to the artifact's other copies. */
  exact?: boolean;
}

export interface DownloadUrlOptions {
  /** Seconds; default 3600, at most 7 days. */
  expiresIn?: number;
  /** Asks the browser to save the download under this name. */
  filename?: string;
  /** Who asked, for the audit trail. */
  actor?: string;
}

const DEFAULT_TENANT = 'default';
const DEFAULT_URL_SECONDS = 3600;
const MAX_URL_SECONDS = 7 * 24 * 3600;
/** User metadata travels with the object; keep it to what every backend's headers can carry. */
const MAX_USER_METADATA_BYTES = 16 * 1024;
const HEALTH_TIMEOUT_MS = 5000;
/** Variant look-up hints kept (see getVariant): one short string pair each. */
const VARIANT_HINTS = 10_000;
/** The artifact type temporary files are recorded under. */
export const TEMP_ARTIFACT_TYPE = 'temp';

/**
 * The one entry point: validates, routes, hashes and stores artifacts on the configured providers,
 * and finds them again. Every method throws StorageError subclasses only.
 */
export class StorageManager {
  readonly config: StorageConfig;
  /** Where every artifact is recorded; lookups by key and listings read it. */
  readonly catalog: Catalog;
  /** Per-tenant limits (storage.quotas), checked on every store. */
  readonly quotas: QuotaGuard;
  /** Verified reads: checks, corrupt copies, read repair (see ReadIntegrity). */
  readonly integrity: ReadIntegrity;
  private readonly providers = new Map<string, StorageProvider>();
  private closed = false;
  /** Stores under way (write()): their catalog records share commits when there are several. */
  private writesInFlight = 0;
  /**
   * @internal Every store's record waits for the end of the event loop's turn to share its commit
   * (group commit), even with no other store under way. The HTTP service sets it: there each store
   * runs to its record before the next request's bytes are read, so concurrent clients' stores
   * hardly ever overlap in flight; waiting lets those read in the same turn join. A program storing
   * one artifact after another would only pay the wait.
   */
  shareCommits = false;

  private readonly recorder: MetricsRecorder;
  /** See StorageMetrics.orphansLeft. */
  private readonly orphansLeft: Record<string, number> = {};
  private mirroring: Promise<void> | undefined;
  private mirrorAgain = false;
  /** The media, variants and transforms sections, parsed. */
  readonly mediaConfig: MediaConfig;
  /** Image transforms at once in this process (HTTP, on demand, background). */
  readonly transformSlots: TransformSlots;
  private variantPass: Promise<unknown> | undefined;
  /**
   * `{originalKey}\n{name}` -> the key its variant was found under last: a hint only, checked
   * against the catalog row on every use, so the served path is one look-up by key (as for any
   * artifact) instead of a range read. Bounded; emptied when full.
   */
  private readonly variantKeys = new Map<string, string>();
  private variantAgain = false;

  /** `providers` come with their layers already composed (createStorageManager does that). */
  constructor(config: StorageConfig, providers: Map<string, StorageProvider>, catalog: Catalog, recorder: MetricsRecorder = new MetricsRecorder()) {
    this.config = config;
    this.catalog = catalog;
    this.recorder = recorder;
    this.mediaConfig = parseMediaConfig(config);
    this.transformSlots = new TransformSlots(this.mediaConfig.transforms.max_concurrent, this.mediaConfig.transforms.max_queue);
    this.quotas = new QuotaGuard(parseQuotaConfig(config.quotas ?? {}), (tenantId) => catalog.tenantTotals(tenantId));
    this.integrity = new ReadIntegrity(this);
    for (const [name, provider] of providers) this.providers.set(name, provider);
  }

  /**
   * Validate and store one artifact. The content streams through the size limit, the signature
   * check and SHA-256 to the provider chosen by the routing rules; on any failure nothing is left.
   */
  async storeArtifact(input: StoreArtifactInput): Promise<ArtifactReference> {
    this.assertOpen();
    const tenantId = input.tenantId ?? DEFAULT_TENANT;
    const contentType = this.checkContentType(input.contentType);
    const createdAt = new Date();
    const storageKey = buildArtifactKey({ tenantId, artifactType: input.artifactType, ...(input.boardId === undefined ? {} : { boardId: input.boardId }), artifactId: input.artifactId, ...(input.variant === undefined ? {} : { variant: input.variant }), contentType, now: createdAt });
    assertArtifactType(this.config.artifactTypes, input.artifactType, contentType);
    // Checked before any byte moves; recorded with the artifact, in one transaction.
    const inputs = await this.catalog.lineage.checkInputs(tenantId, input.inputs);
    return this.write(storageKey, {
      artifactId: input.artifactId, artifactType: input.artifactType, tenantId, ...(input.boardId === undefined ? {} : { boardId: input.boardId }),
      variant: storageKey.slice(storageKey.lastIndexOf('/') + 1), visibility: checkVisibility(input.visibility), createdAt: createdAt.toISOString(),
      metadata: checkUserMetadata(input.metadata), ...(input.media ? { media: checkCallerFacts(input.media) } : {}),
      ...(input.jobId ? { jobId: input.jobId } : {}), ...(input.generationId ? { generationId: input.generationId } : {}),
      ...(input.expiresAt ? { expiresAt: input.expiresAt.toISOString() } : {}),
    }, contentType, { ...input, inputs });
  }

  /**
   * Keep an intermediate file of a generation job under `temp/{jobId}/{name}`, with the same
   * checks as any artifact, until `expiresAt` (default: now + cleanup.temp_file_ttl_hours).
   */
  async storeTempFile(input: TempFileInput): Promise<ArtifactReference> {
    this.assertOpen();
    const contentType = this.checkContentType(input.contentType);
    const storageKey = buildTempKey(input.jobId, input.name);
    const tenantId = assertSafeId('tenantId', input.tenantId ?? DEFAULT_TENANT);
    // Refused before any byte moves: storing would overwrite the object that is already there.
    const existing = await this.catalog.get(storageKey);
    if (existing) {
      throw existing.tenantId === tenantId
        ? new StorageError(`${storageKey} already exists; temporary file names are unique within a job`, { code: 'CONFLICT' })
        : new SecurityError(`job ${input.jobId} belongs to another tenant; use a job id of your own`);
    }
    const expiresAt = input.expiresAt ?? new Date(Date.now() + this.tempFileTtlMs());
    return this.write(storageKey, {
      artifactId: input.name, artifactType: TEMP_ARTIFACT_TYPE, tenantId,
      variant: input.name, visibility: 'private', createdAt: new Date().toISOString(), metadata: {}, jobId: input.jobId, expiresAt: expiresAt.toISOString(),
    }, contentType, input);
  }

  /** Delete every temporary file of a job (of one tenant, when given); returns how many went. */
  async deleteJobTempFiles(jobId: string, opts: ActorOptions & { tenantId?: string } = {}): Promise<number> {
    this.assertOpen();
    let deleted = 0;
    for (const artifact of await this.catalog.findByJob(assertSafeId('jobId', jobId), TEMP_ARTIFACT_TYPE)) {
      if (opts.tenantId !== undefined && artifact.tenantId !== opts.tenantId) continue;
      if (await this.deleteArtifact(artifact.storageKey, undefined, opts)) deleted++;
    }
    return deleted;
  }

  /**
   * The one write path: the content streams through the size limit, the signature check and
   * SHA-256 to the provider the routing rules choose, then the catalog records it. On any failure
   * nothing is left: no object, no record.
   */
  private async write(storageKey: string, record: Omit<CatalogArtifact, 'storageKey' | 'storageProvider' | 'contentType' | 'size' | 'sha256'>, contentType: string, input: { content: ArtifactContent; size?: number; signal?: AbortSignal; actor?: string; media?: Partial<MediaFacts>; provider?: string; analyzed?: boolean; inputs?: CheckedInput[] }): Promise<ArtifactReference> {
    const bytes = inMemoryBytes(input.content);
    // Content in memory has a known length: size rules and providers get it without being told.
    const size = this.checkDeclaredSize(input.size) ?? bytes?.length;
    await this.quotas.assertRoom(record.tenantId, size ?? 0);
    // Media facts are read from the bytes as they pass (images, video, audio); see src/media.
    const analysis = input.analyzed ? undefined : StoreAnalysis.for(contentType, this.mediaConfig, { ...(input.media ? { media: input.media } : {}), metadata: record.metadata });
    let providerName = input.provider ?? selectProvider(this.config.routingRules, this.config.defaultProvider, { artifactType: record.artifactType, contentType, tenantId: record.tenantId, ...(size === undefined ? {} : { size }) });
    const entry = this.config.providers[providerName];
    const objectMetadata = referenceMetadata(record);
    let digest: ContentDigest | undefined;
    // Alone, a small body is hashed here at once: the hand-off to the threadpool costs more CPU
    // than the hash (about 110 against 45 µs for 64 KiB). With other stores under way it goes
    // there, so it overlaps with them instead of holding the event loop.
    const precomputed = bytes && bytes.length <= this.config.maxFileSize
      ? (this.writesInFlight === 0 && bytes.length <= HASH_HERE_BYTES ? Promise.resolve(hash('sha256', bytes, 'hex')) : sha256OffThread(bytes))
      : undefined;
    precomputed?.catch(() => undefined); // awaited after the upload; only keeps an early failure from going unhandled
    const spool = !bytes && entry?.spool ? await spoolToFile(input.content, join(this.config.dataDir, 'spool'), this.config.maxFileSize, input.signal) : undefined;
    this.writesInFlight++;
    try {
      // Content that can start again (in memory, or spooled) may be retried and failed over.
      const source: () => AsyncIterable<Uint8Array> = bytes ? () => toByteStream(bytes) : spool ? () => spool.read() : oneShot(toByteStream(input.content));
      const replayable = Boolean(bytes ?? spool);
      const failure: { error?: unknown } = {};
      const attempt = () => {
        const validated = validateContent(source(), { contentType, maxSize: this.config.maxFileSize, ...(size === undefined ? {} : { declaredSize: size }), ...(precomputed ? { sha256: precomputed } : {}) }, (d) => {
          digest = d;
          objectMetadata[META.sha256] = d.sha256;
          objectMetadata[META.size] = String(d.size);
        });
        return remembering(analysis ? analysis.wrap(validated) : validated, failure);
      };
      // A provider whose index is in the catalog's database may leave the object for the record's commit to make visible.
      const commitWith = this.catalog.sharedDatabase?.connection;
      const options = { contentType, ...(size === undefined ? {} : { size }), metadata: objectMetadata, ...(input.signal ? { signal: input.signal } : {}), ...(replayable ? { replay: attempt } : {}), ...(commitWith ? { commitWith } : {}) };

      // The routed provider, and its fallback when it is down and the content can be sent again.
      const target = failoverProvider({
        primary: { name: providerName, provider: this.provider(providerName) },
        others: () => (entry?.fallback ? [{ name: entry.fallback, provider: this.provider(entry.fallback) }] : []),
        // Down, not refused: content that failed its checks fails anywhere.
        failsOver: (error) => error instanceof ProviderUnavailableError && failure.error === undefined,
      });
      let uploaded: { url?: string; provider: string; deferred?: DeferredObject };
      try {
        uploaded = await target.upload(storageKey, attempt(), options);
      } catch (error) {
        throw asStorageError(failure.error ?? error, `storing ${storageKey} on ${providerName}`);
      }
      providerName = uploaded.provider;
      const provider = this.provider(providerName);
      const { deferred } = uploaded;
      // Compensating deletes never throw: the failure that caused them is the error to report, and
      // an object whose delete fails is queued for the next expiry sweep (see discardObject). A
      // deferred object is invisible: it is abandoned (a crash meanwhile leaves it to the
      // provider's next start).
      const discard = () => (deferred ? deferred.abandon().catch(() => undefined) : this.discardObject(storageKey, providerName));
      if (!digest) {
        await discard();
        throw new StorageError(`provider "${providerName}" returned before reading the whole content; nothing was kept`);
      }
      let placeholder: string | undefined;
      try {
        placeholder = await analysis?.placeholder();
      } catch (error) {
        await discard();
        throw error;
      }
      const artifact: CatalogArtifact = {
        ...record, storageKey, storageProvider: providerName, contentType, size: digest.size, sha256: digest.sha256,
        ...(analysis ? { metadata: analysis.correctMetadata(record.metadata) } : {}), ...(analysis?.facts ? { media: analysis.facts } : {}), ...(placeholder ? { placeholder } : {}),
      };
      // Preset variants of an original are queued with its record.
      const presets = record.originalKey || !mediaKind(contentType) ? [] : (this.mediaConfig.variants[record.artifactType] ?? []).map((spec) => spec.name);
      try {
        // The real size, now known: a stream of unknown length is held to the quota too.
        await this.quotas.assertRoom(record.tenantId, digest.size);
        const links = LineageRecords.rows(record.tenantId, { storageKey, artifactId: record.artifactId, artifactType: record.artifactType }, input.inputs ?? [], record.createdAt);
        // With other stores under way (or shareCommits), this one's record shares their commit
        // (group commit). A deferred object becomes visible in the record's own transaction.
        await this.catalog.record(artifact, input.actor, 'stored', this.config.providers[providerName]?.mirrors ?? [], presets, links, { together: this.shareCommits || this.writesInFlight > 1, ...(deferred ? { alsoRun: () => deferred.ready() } : {}) });
      } catch (error) {
        // Never leave an object the catalog does not know (best effort, as above).
        await discard();
        throw error;
      }
      if (analysis?.corrections.length) {
        await this.catalog.audit([{ action: 'media_corrected', tenantId: record.tenantId, storageKey, ...(input.actor ? { actor: input.actor } : {}), details: { corrections: analysis.corrections } }]);
      }
      if (this.config.providers[providerName]?.mirrors.length) this.copyToMirrors();
      if (presets.length && this.mediaConfig.media.background_variants) this.makeVariants();
      // A private artifact never gets a URL that works without a signature.
      return this.reference(artifact, record.visibility === 'public' ? (provider.getPublicUrl?.(storageKey) ?? uploaded.url) : undefined);
    } finally {
      this.writesInFlight--;
      await spool?.remove();
    }
  }

  /**
   * The reference of a stored artifact, with its variants and its lineage (`inputs`: what it was
   * made from; `outputs`: what was made from it, the first 100, `outputsTruncated` when there are
   * more; a deleted one is marked `deleted: true`).
   */
  async getArtifact(storageKey: string, opts: { variants?: boolean; lineage?: boolean } = {}): Promise<ArtifactReference> {
    this.assertOpen();
    const artifact = await this.catalog.get(assertSafeKey(storageKey, 'storageKey'));
    if (!artifact) throw new NotFoundError(`artifact ${storageKey} not found`);
    // `variants: false` saves queries where only the artifact itself is wanted (serving its bytes).
    const lineage = opts.lineage ?? opts.variants !== false;
    const [variants, inputs, outputs] = await Promise.all([
      artifact.originalKey || opts.variants === false ? undefined : this.catalog.variantsOf([storageKey]),
      lineage ? this.catalog.lineage.inputsOf(storageKey) : undefined,
      lineage ? this.catalog.lineage.outputsOf(artifact.tenantId, storageKey) : undefined,
    ]);
    const ref = this.reference(artifact, undefined, variants);
    if (!inputs || !outputs) return ref;
    return { ...ref, inputs, outputs: outputs.links, ...(outputs.more ? { outputsTruncated: true } : {}) };
  }

  /**
   * Change an artifact's user metadata: the patch's keys are set, keys set to null removed. The
   * result is held to the limits of a store (a plain JSON object of at most 16 KiB; media facts
   * that the bytes contradict are corrected or refused as `media.caller_facts` says). Audit-logged.
   */
  async updateMetadata(storageKey: string, patch: MetadataPatch, opts: ActorOptions = {}): Promise<ArtifactReference> {
    this.assertOpen();
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) throw new ValidationError('the metadata patch must be a plain object: keys to set, and keys set to null to remove', { details: { field: 'metadata' } });
    checkUserMetadata(patch);
    // Compare-and-set on the metadata read: two patches at once both apply, neither is lost.
    for (let attempt = 1; ; attempt++) {
      const artifact = await this.catalog.get(assertSafeKey(storageKey, 'storageKey'));
      if (!artifact) throw new NotFoundError(`artifact ${storageKey} not found`);
      const merged: Record<string, unknown> = { ...artifact.metadata };
      for (const [key, value] of Object.entries(patch)) {
        if (value === null) delete merged[key];
        else merged[key] = value;
      }
      const checked = checkMetadataFacts(checkUserMetadata(merged), artifact.media, this.mediaConfig.media.caller_facts);
      const removed = Object.keys(patch).filter((k) => patch[k] === null);
      const set = Object.keys(patch).filter((k) => patch[k] !== null);
      if (await this.catalog.setMetadata(storageKey, artifact.tenantId, artifact.metadata, checked, { set, removed }, opts.actor)) {
        return this.getArtifact(storageKey);
      }
      if (attempt === 5) throw new StorageError(`the metadata of ${storageKey} kept changing while it was being updated; try again`, { code: 'CONFLICT' });
    }
  }

  async exists(storageKey: string): Promise<boolean> {
    this.assertOpen();
    return (await this.catalog.get(assertSafeKey(storageKey, 'storageKey'))) !== undefined;
  }

  /** The whole artifact in memory; use openDownload for anything large. */
  async download(storageKey: string): Promise<Uint8Array> {
    const stream = await this.openDownload(storageKey);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /**
   * A stream of the artifact's bytes, or of `start`..`end` (inclusive). `providerName` says where
   * the artifact lives (it saves a catalog lookup; `ref.storageProvider`); when that provider is
   * down or has lost the object, the read goes to the other copies. `{ exact: true }` reads from
   * that provider only. A whole read is checked against the recorded SHA-256 as it passes: a
   * corrupt copy errors with a CorruptionError before the stream ends. A ranged read cannot be checked.
   */
  async openDownload(storageKey: string, range?: ByteRange, providerName?: string, opts: ReadOptions = {}): Promise<Readable> {
    this.assertOpen();
    const whole = range === undefined ? await this.catalog.get(assertSafeKey(storageKey, 'storageKey')) : undefined;
    const copies = await this.copiesOf(storageKey, providerName, opts, whole);
    const stream = await wrap(() => copies.openDownload(storageKey, range), `reading ${storageKey} on ${copies.serving}`);
    return whole ? this.integrity.verify(stream, whole, copies.serving) : stream;
  }

  /**
   * The artifact's file itself, open for reading, when the provider that answers keeps objects as
   * local files (a provider with openFile); undefined otherwise, and the caller uses openDownload.
   * The caller reads the file and closes its handle. Fails over as openDownload does.
   */
  async openFile(storageKey: string, range?: ByteRange, providerName?: string, opts: ReadOptions = {}): Promise<VerifiedFile | undefined> {
    this.assertOpen();
    const whole = range === undefined ? await this.catalog.get(assertSafeKey(storageKey, 'storageKey')) : undefined;
    const copies = await this.copiesOf(storageKey, providerName, opts, whole);
    const file = await wrap(() => copies.openFile(storageKey, range), `reading ${storageKey} on ${copies.serving}`);
    const check = file && whole ? this.integrity.check(whole, copies.serving) : undefined;
    return check ? { ...file!, check } : file;
  }

  /**
   * A time-limited URL that downloads the artifact without other credentials; from another copy
   * when the artifact's provider is down (as its breaker or its signing call says).
   */
  async getDownloadUrl(storageKey: string, providerName?: string, opts: DownloadUrlOptions & ReadOptions = {}): Promise<string> {
    this.assertOpen();
    const expiresIn = checkExpiry(opts.expiresIn);
    const filename = opts.filename ? checkFilename(opts.filename) : undefined;
    const copies = await this.copiesOf(storageKey, providerName, opts);
    return wrap(() => copies.getPresignedDownloadUrl(storageKey, { expiresIn, ...(filename ? { filename } : {}) }), `signing ${storageKey} on ${copies.serving}`);
  }

  /** Signed URLs for many keys at once, in the order given. */
  async getDownloadUrls(storageKeys: string[], providerName?: string, opts: DownloadUrlOptions & ReadOptions = {}): Promise<string[]> {
    this.assertOpen();
    const { actor, ...signing } = opts;
    const expiresIn = checkExpiry(opts.expiresIn);
    const urls = new Array<string>(storageKeys.length);
    // Keys on a provider that signs in batches (Supabase) go in one request per provider.
    const batches = new Map<string, number[]>();
    await Promise.all(storageKeys.map(async (key, i) => {
      const name = providerName ?? (await this.recorded(key)).storageProvider;
      if (this.provider(name).getPresignedDownloadUrls && !signing.filename) batches.set(name, [...(batches.get(name) ?? []), i]);
      else urls[i] = await this.getDownloadUrl(key, name, signing);
    }));
    await Promise.all([...batches].map(async ([name, indexes]) => {
      const keys = indexes.map((i) => storageKeys[i]!);
      let signed: string[];
      try {
        signed = await this.provider(name).getPresignedDownloadUrls!(keys, { expiresIn });
      } catch (error) {
        // The batch's provider is down: each key is signed on a copy that answers.
        if (signing.exact || !defaultFailsOver(error, 'getPresignedDownloadUrl')) throw asStorageError(error, `signing ${indexes.length} keys on ${name}`);
        signed = await Promise.all(keys.map((key) => this.getDownloadUrl(key, name, signing)));
      }
      indexes.forEach((index, j) => { urls[index] = signed[j]!; });
    }));
    if (actor !== undefined) {
      await this.catalog.audit(storageKeys.map((storageKey) => ({ action: 'url_signed' as const, tenantId: storageKey.slice(0, storageKey.indexOf('/')), storageKey, actor, details: { expiresIn } })));
    }
    return urls;
  }

  /** A presigned direct upload; the size limit is signed into it. */
  async getUploadUrl(request: UploadUrlRequest): Promise<UploadUrl> {
    this.assertOpen();
    const tenantId = request.tenantId ?? DEFAULT_TENANT;
    const contentType = this.checkContentType(request.contentType);
    const size = this.checkDeclaredSize(request.size);
    const metadata = checkUserMetadata(request.metadata);
    const inputs = await this.catalog.lineage.checkInputs(tenantId, request.inputs);
    await this.quotas.assertRoom(tenantId, size ?? 0);
    const storageKey = buildArtifactKey({ tenantId, artifactType: request.artifactType, ...(request.boardId === undefined ? {} : { boardId: request.boardId }), artifactId: request.artifactId, ...(request.variant === undefined ? {} : { variant: request.variant }), contentType });
    assertArtifactType(this.config.artifactTypes, request.artifactType, contentType);
    const name = selectProvider(this.config.routingRules, this.config.defaultProvider, { artifactType: request.artifactType, contentType, tenantId, ...(size === undefined ? {} : { size }) });
    const provider = this.provider(name);
    requireCapability(provider, name, 'presignUpload');
    const maxSize = size ?? this.config.maxFileSize;
    const presigned = await wrap(() => provider.getPresignedUploadUrl(storageKey, { contentType, expiresIn: checkExpiry(request.expiresIn), maxSize }), `presigning an upload on ${name}`);
    await this.catalog.addPendingUpload({
      storage_key: storageKey, provider: name, tenant_id: tenantId, board_id: request.boardId ?? null, artifact_type: request.artifactType,
      artifact_id: request.artifactId, variant: storageKey.slice(storageKey.lastIndexOf('/') + 1), content_type: contentType, max_size: maxSize, exact_size: size ?? null,
      actor: request.actor ?? null, created_at: new Date().toISOString(), expires_at: presigned.expiresAt,
      metadata: Object.keys(metadata).length ? JSON.stringify(metadata) : null, inputs: inputs.length ? JSON.stringify(inputs) : null,
    });
    return { ...presigned, storageKey, storageProvider: name };
  }

  /**
   * The body of a signed PUT for a provider that has no upload endpoint of its own (local,
   * memory): streamed, validated against the pending upload, to the provider it was routed to.
   */
  async acceptDirectUpload(storageKey: string, content: Readable | AsyncIterable<Uint8Array>, opts: { contentType: string; maxSize: number; signal?: AbortSignal }): Promise<void> {
    this.assertOpen();
    const known = await this.catalog.getPendingUpload(assertSafeKey(storageKey, 'storageKey'));
    if (!known || Date.parse(known.expires_at) <= Date.now()) throw new NotFoundError(`no upload is expected for ${storageKey}`);
    if (canonicalContentType(opts.contentType) !== known.content_type) {
      throw new ValidationError(`the upload was signed for ${known.content_type}, not ${normalizeContentType(opts.contentType)}`, { code: 'CONTENT_MISMATCH' });
    }
    // One upload per URL: this PUT holds the upload until it has landed (or failed and left nothing).
    const pending = await this.catalog.moveUpload(storageKey, ['presigned'], 'receiving');
    if (!pending) throw usedUpload(storageKey, (await this.catalog.getPendingUpload(storageKey))?.state);
    const provider = this.provider(pending.provider);
    let digest: ContentDigest | undefined;
    const checked = validateContent(toByteStream(content), { contentType: pending.content_type, maxSize: Math.min(opts.maxSize, pending.max_size), ...(pending.exact_size === null ? {} : { declaredSize: pending.exact_size }) }, (d) => { digest = d; });
    const failure: { error?: unknown } = {};
    try {
      try {
        // Never over an object already there: a recorded artifact is immutable.
        await provider.upload(storageKey, remembering(checked, failure), { contentType: pending.content_type, metadata: {}, ifNotExists: true, ...(opts.signal ? { signal: opts.signal } : {}) });
      } catch (error) {
        throw asStorageError(failure.error ?? error, `receiving ${storageKey}`);
      }
      if (!digest) {
        // Not queued for the sweep: the pending upload names the key until it expires (and its
        // expiry removes whatever is there), and the same URL may put a good upload there meanwhile.
        await provider.delete(storageKey).catch(() => undefined);
        throw new StorageError(`provider "${pending.provider}" returned before reading the whole upload; nothing was kept`);
      }
    } catch (error) {
      // Nothing landed: the URL may be used again. Should the catalog refuse, the upload stays held
      // until it expires and the expiry sweep removes it; the store's failure is the error to report.
      await this.catalog.moveUpload(storageKey, ['receiving'], 'presigned').catch(() => undefined);
      throw error;
    }
    await this.catalog.moveUpload(storageKey, ['receiving'], 'received', { size: digest.size, sha256: digest.sha256 });
  }

  /**
   * Record a direct upload once it has landed. What came through the service (local, memory) is
   * recorded with the size and SHA-256 of the bytes as they arrived; what went to a backend
   * directly is read back through the same checks as any store (size, signature, SHA-256). An
   * object that fails them is deleted.
   */
  async completeUpload(storageKey: string, opts: { tenantId: string } & ActorOptions): Promise<ArtifactReference> {
    this.assertOpen();
    const known = await this.catalog.getPendingUpload(assertSafeKey(storageKey, 'storageKey'));
    if (!known || known.tenant_id !== opts.tenantId) throw new NotFoundError(`no upload is pending for ${storageKey}`);
    if (known.state === 'receiving' || known.state === 'completing') throw new StorageError(`the upload of ${storageKey} is still under way; complete it once its PUT has been answered`, { code: 'CONFLICT' });
    let size: number;
    let sha256: string;
    if (known.state === 'received' && known.received_sha256 !== null && known.received_size !== null) {
      size = known.received_size;
      sha256 = known.received_sha256;
    } else {
      // Held while it is read back: no PUT through the service can start meanwhile.
      const pending = await this.catalog.moveUpload(storageKey, ['presigned'], 'completing');
      if (!pending) throw usedUpload(storageKey, (await this.catalog.getPendingUpload(storageKey))?.state);
      const provider = this.provider(pending.provider);
      let digest: ContentDigest | undefined;
      try {
        const landed = await wrap(() => provider.getMetadata(storageKey), `checking ${storageKey} on ${pending.provider}`);
        try {
          if (landed.size > pending.max_size) {
            throw new ValidationError(`the upload has ${landed.size} bytes, more than the ${pending.max_size} it was signed for`, { code: 'CONTENT_TOO_LARGE' });
          }
          const stream = await wrap(() => provider.openDownload(storageKey), `reading back ${storageKey}`);
          for await (const _ of validateContent(toByteStream(stream), { contentType: pending.content_type, maxSize: pending.max_size, ...(pending.exact_size === null ? {} : { declaredSize: pending.exact_size }) }, (d) => { digest = d; })) { /* the checks are the point */ }
        } catch (error) {
          // The pending upload goes first: then no URL can put anything at the key again, and the
          // object, should its delete fail, is queued for the next sweep (see discardObject).
          await this.catalog.removePendingUpload(storageKey);
          await this.discardObject(storageKey, pending.provider);
          throw asStorageError(error, `checking the upload ${storageKey}`);
        }
      } catch (error) {
        // Released for another try (if the catalog refuses, held until the expiry sweep, as above).
        await this.catalog.moveUpload(storageKey, ['completing'], 'presigned').catch(() => undefined);
        throw error;
      }
      size = digest!.size;
      sha256 = digest!.sha256;
    }
    try {
      await this.quotas.assertRoom(known.tenant_id, size);
    } catch (error) {
      // Over quota with what landed: the object goes, as for any other failed check (upload first, as above).
      await this.catalog.removePendingUpload(storageKey);
      await this.discardObject(storageKey, known.provider);
      throw error;
    }
    const artifact: CatalogArtifact = {
      artifactId: known.artifact_id, storageKey, storageProvider: known.provider, contentType: known.content_type,
      size, sha256, visibility: 'private', createdAt: new Date().toISOString(), tenantId: known.tenant_id,
      ...(known.board_id === null ? {} : { boardId: known.board_id }), artifactType: known.artifact_type, variant: known.variant,
      metadata: known.metadata === null ? {} : JSON.parse(known.metadata) as Record<string, unknown>,
    };
    // Inputs were checked when the upload was presigned; one deleted since shows as deleted.
    const inputs = known.inputs === null ? [] : JSON.parse(known.inputs) as CheckedInput[];
    await this.catalog.record(artifact, opts.actor, 'upload_completed', [], [], LineageRecords.rows(known.tenant_id, artifact, inputs, artifact.createdAt));
    return this.reference(artifact);
  }

  /** Make an artifact public or private; returns the reference with its new URL. */
  async setVisibility(storageKey: string, visibility: Visibility, opts: ActorOptions = {}): Promise<ArtifactReference> {
    this.assertOpen();
    const wanted = checkVisibility(visibility);
    const artifact = await this.catalog.get(assertSafeKey(storageKey, 'storageKey'));
    if (!artifact) throw new NotFoundError(`artifact ${storageKey} not found`);
    if (artifact.visibility === wanted) return this.reference(artifact);
    // Where visibility is physical (object ACLs, Supabase's public bucket), the objects change
    // first: every finished copy, so that no mirror stays readable after the artifact is private.
    const moved = await wrap(async () => this.provider(artifact.storageProvider).setVisibility?.(storageKey, wanted), `making ${storageKey} ${wanted}`);
    for (const copy of await this.catalog.copiesOf(storageKey)) {
      if (copy.status !== 'done' || !this.providers.has(copy.provider)) continue;
      await wrap(async () => this.provider(copy.provider).setVisibility?.(storageKey, wanted), `making ${storageKey} ${wanted} on its mirror ${copy.provider}`);
    }
    await this.catalog.setVisibility(storageKey, artifact.tenantId, wanted, opts.actor);
    return this.reference({ ...artifact, visibility: wanted }, moved?.url);
  }

  /**
   * A tenant's audit trail, newest first, a page at a time: one artifact's events (`storageKey`),
   * one board's (`boardId`), within `since`..`until`.
   */
  async listAudit(query: AuditQuery): Promise<AuditPage> {
    this.assertOpen();
    return this.catalog.auditLog.list(query);
  }

  /** Counts and bytes of a tenant's artifacts, by artifact type and by provider; the trash apart. */
  async getStats(tenantId: string): Promise<UsageFigures & { trash: { count: number; bytes: number } }> {
    this.assertOpen();
    const [usage, trash] = await Promise.all([this.catalog.usage(tenantId), this.catalog.trash.usage(tenantId)]);
    return { ...usage, trash };
  }

  /** The catalog and every provider, each asked for a cheap real round trip. */
  async health(): Promise<HealthReport> {
    const probe = async (check: () => Promise<void>) => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([check(), new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS); })]);
        return { ok: true, ms: Math.round(performance.now() - started) };
      } catch (error) {
        const code = error instanceof StorageError ? error.code : /no answer within/.test((error as Error).message) ? 'TIMEOUT' : 'STORAGE_ERROR';
        return { ok: false, ms: Math.round(performance.now() - started), error: (error as Error).message, code };
      } finally {
        clearTimeout(timer);
      }
    };
    const [catalog, ...providers] = await Promise.all([
      probe(() => this.catalog.ping()),
      ...[...this.providers].map(([, p]) => probe(async () => { await p.health?.(); })),
    ]);
    const breakers = this.recorder.snapshot();
    const byName = Object.fromEntries([...this.providers.keys()].map((name, i) => [name, { ...providers[i]!, ...(breakers[name]?.breaker ? { breaker: breakers[name].breaker } : {}) }]));
    return { ok: catalog!.ok && providers.every((p) => p.ok), catalog: catalog!, providers: byName };
  }

  /**
   * Delete an artifact; true when something was deleted, false when it did not exist. With a trash
   * (`trash_retention` > 0) the artifact moves to it: gone from reads and listings, back with
   * `undelete` until the cleanup task purges it. Temporary files, `permanent`, and a trash
   * retention of 0 delete at once: the object goes first, then the record, so a failure leaves
   * the artifact listed and the delete can be retried.
   */
  async deleteArtifact(storageKey: string, providerName?: string, opts: ActorOptions & { permanent?: boolean } = {}): Promise<boolean> {
    this.assertOpen();
    let artifact = await this.catalog.get(assertSafeKey(storageKey, 'storageKey'));
    if (!artifact) return false;
    // Its variants go first and for good (they are made again on demand): a failure leaves the
    // original listed, and deleting it again finishes.
    if (!artifact.originalKey) {
      for (const variant of await this.catalog.variantsOf([storageKey])) await this.deleteArtifact(variant.storageKey, undefined, { ...opts, permanent: true });
    }
    if (!opts.permanent && providerName === undefined && this.config.trashRetentionSeconds > 0 && artifact.artifactType !== TEMP_ARTIFACT_TYPE) {
      const now = new Date();
      return this.catalog.trash.put(storageKey, { ...(opts.actor ? { actor: opts.actor } : {}), now, purgeAfter: new Date(now.getTime() + this.config.trashRetentionSeconds * 1000) });
    }
    for (let attempt = 1; ; attempt++) {
      const name = providerName ?? artifact.storageProvider;
      await wrap(() => this.provider(name).delete(storageKey), `deleting ${storageKey} from ${name}`);
      // Every mirror copy goes too (finished or not: a copy under way may have landed).
      for (const copy of await this.catalog.copiesOf(storageKey)) {
        await wrap(() => this.provider(copy.provider).delete(storageKey), `deleting ${storageKey} from its mirror ${copy.provider}`);
      }
      if (await this.catalog.remove(storageKey, artifact.tenantId, opts.actor, providerName === undefined ? name : undefined)) return true;
      // A migration switched the row to another provider meanwhile: delete the copy it names now.
      const moved = await this.catalog.get(storageKey);
      if (!moved || attempt === 3) return false;
      artifact = moved;
    }
  }

  /** Bring a deleted artifact back from the trash; a NotFoundError when it is not there (never deleted, or purged). */
  async undelete(storageKey: string, opts: ActorOptions = {}): Promise<ArtifactReference> {
    this.assertOpen();
    const restored = await this.catalog.trash.restore(assertSafeKey(storageKey, 'storageKey'), opts);
    if (!restored) throw new NotFoundError(`artifact ${storageKey} is not in the trash (never deleted, or purged after trash_retention)`);
    return this.reference(restored);
  }

  /** A tenant's deleted artifacts (in the trash until purged), in key order, a page at a time. */
  async listTrash(query: { tenantId?: string; boardId?: string; limit?: number; cursor?: string } = {}): Promise<TrashPage> {
    this.assertOpen();
    const page = await this.catalog.trash.list({ ...query, tenantId: query.tenantId ?? DEFAULT_TENANT });
    return {
      items: page.items.map(({ deletedAt, deletedBy, purgeAfter, ...artifact }) => ({ ...this.reference(artifact), deletedAt, ...(deletedBy ? { deletedBy } : {}), purgeAfter })),
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
    };
  }

  /**
   * Move artifacts between providers, verified and resumable (see operations/migrate.ts): await
   * the result for the report, or iterate it for progress.
   */
  migrate(options: MigrateOptions): MigrationJob {
    this.assertOpen();
    return migrate(this, options);
  }

  /**
   * A tenant's artifacts in key order, a page at a time; with `artifactId`, those of that id; with
   * `input`, the artifacts made from that one (lineage).
   */
  async listArtifacts(query: ArtifactQuery = {}): Promise<ArtifactPage> {
    this.assertOpen();
    const { input, ...filters } = query;
    if (input !== undefined && filters.prefix) throw new ValidationError('prefix cannot be combined with input; filter the outputs by boardId or artifactType', { details: { field: 'prefix' } });
    const page = input === undefined
      ? await this.catalog.list(filters)
      : await this.catalog.lineage.outputs({ ...filters, tenantId: filters.tenantId ?? DEFAULT_TENANT, inputKey: input });
    const variants = await this.catalog.variantsOf(page.items.map((a) => a.storageKey));
    return { items: page.items.map((a) => this.reference(a, undefined, variants)), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
  }

  /**
   * A tenant's boards in board-id order, a page at a time: each with its artifact count (variants
   * not counted), bytes (variants included), last activity and cover (the newest image, with its
   * thumbnail variant's key and placeholder when it has them).
   */
  async listBoards(query: ListBoardsQuery = {}): Promise<BoardPage> {
    this.assertOpen();
    const { listBoards } = await import('../boards/board-list.ts');
    return listBoards(this.catalog, query);
  }

  /**
   * Delete every artifact of a board as deleteArtifact does: to the trash when there is one, so
   * each can be restored with undelete. A NotFoundError when the tenant has no such board.
   */
  async deleteBoard(boardId: string, opts: ActorOptions & { tenantId?: string } = {}): Promise<DeleteBoardResult> {
    this.assertOpen();
    const { deleteBoard } = await import('../boards/board-list.ts');
    return deleteBoard(this, boardId, opts);
  }

  /**
   * Copy a board's artifacts, variants included, to a new board of the same tenant: server-side
   * copies where the backend has them, every copy checked against the recorded SHA-256 before it
   * is recorded under its new key. A failure leaves nothing of the copy behind.
   */
  async copyBoard(boardId: string, opts: CopyBoardOptions = {}): Promise<CopyBoardResult> {
    this.assertOpen();
    const { copyBoard } = await import('../boards/board-copy.ts');
    const { mirrored, ...result } = await copyBoard(this, boardId, opts);
    if (mirrored) this.copyToMirrors();
    return result;
  }

  /**
   * A zip of a board (or of a selection of it) with a `manifest.json`, streamed: artifacts are read
   * one at a time through verified reads, so memory stays flat whatever the board's size.
   */
  async openBoardArchive(boardId: string, opts: BoardArchiveOptions = {}): Promise<BoardArchive> {
    this.assertOpen();
    const { openBoardArchive } = await import('../boards/board-archive.ts');
    return openBoardArchive(this, boardId, opts);
  }

  /**
   * Make a variant of an image (or a video's poster frame) with sharp and store it beside the
   * original as `{name}.{format}`: resized to fit width x height (never enlarged) and encoded.
   * An existing variant of that name is returned as it is.
   */
  async createVariant(storageKey: string, spec: VariantSpecInput, opts: ActorOptions = {}): Promise<ArtifactReference> {
    this.assertOpen();
    const parsed = parseVariantSpec(spec);
    // A variant made before is one lookup by its key (the cached path of HTTP transforms).
    const made = await this.madeVariant(storageKey, variantFileName(parsed));
    return made ?? createVariant(this, await this.original(storageKey), parsed, { ...(opts.actor ? { actor: opts.actor } : {}), queue: false });
  }

  /** Store a variant the caller made, beside its original; the name's extension gives its content type unless `contentType` is given. */
  async storeVariant(storageKey: string, name: string, content: ArtifactContent, opts: ActorOptions & { contentType?: string } = {}): Promise<ArtifactReference> {
    this.assertOpen();
    return storeVariant(this, await this.original(storageKey), name, content, opts);
  }

  /** The variant called `name` (`thumb_256`): stored already, or made now from its artifact type's preset. */
  async getVariant(storageKey: string, name: string, opts: ActorOptions = {}): Promise<ArtifactReference> {
    this.assertOpen();
    const hint = `${assertSafeKey(storageKey, 'storageKey')}\n${assertSafeId('variant', name)}`;
    const isIt = (v: CatalogArtifact | undefined): v is CatalogArtifact => v?.originalKey === storageKey && variantName(v.variant) === name;
    const hinted = this.variantKeys.get(hint);
    if (hinted !== undefined) {
      const row = await this.catalog.get(hinted);
      if (isIt(row)) return this.reference(row);
      this.variantKeys.delete(hint);
    }
    // One range read by key finds a variant made before, whatever its extension.
    const made = (await this.catalog.withKeyPrefix(siblingKey(storageKey, `${name}.`), 5)).find(isIt);
    if (made) {
      if (this.variantKeys.size >= VARIANT_HINTS) this.variantKeys.clear();
      this.variantKeys.set(hint, made.storageKey);
      return this.reference(made);
    }
    return variantByName(this, this.mediaConfig, await this.original(storageKey), name, opts);
  }

  /** Wait for the background variant pass, then make whatever else is queued; returns that pass's report. */
  async flushVariants(options: { now?: () => Date } = {}): Promise<VariantReport> {
    this.assertOpen();
    await this.variantPass;
    return processVariantQueue(this, options);
  }

  /** @internal The one write path for variants (src/media): beside the original, on its provider, linked to it. */
  async storeVariantContent(original: CatalogArtifact, fileName: string, contentType: string, content: ArtifactContent, actor?: string, madeHere?: MediaFacts): Promise<ArtifactReference> {
    // What sharp made here is one of its own formats, its facts known; what a caller sends passes the allowlist and is analysed.
    const type = madeHere ? contentType : this.checkContentType(contentType);
    return this.write(siblingKey(original.storageKey, assertSafeId('name', fileName)), {
      artifactId: original.artifactId, artifactType: original.artifactType, tenantId: original.tenantId, ...(original.boardId === undefined ? {} : { boardId: original.boardId }),
      variant: fileName, visibility: original.visibility, createdAt: new Date().toISOString(), metadata: {}, originalKey: original.storageKey, ...(madeHere ? { media: madeHere } : {}),
    }, type, { content, provider: original.storageProvider, ...(actor ? { actor } : {}), ...(madeHere ? { analyzed: true } : {}) });
  }

  /** The variant `fileName` of `originalKey` when it has been made. */
  private async madeVariant(originalKey: string, fileName: string): Promise<ArtifactReference | undefined> {
    const variant = await this.catalog.get(siblingKey(assertSafeKey(originalKey, 'storageKey'), fileName));
    return variant?.originalKey === originalKey ? this.reference(variant) : undefined;
  }

  private async original(storageKey: string): Promise<CatalogArtifact> {
    const artifact = await this.catalog.get(assertSafeKey(storageKey, 'storageKey'));
    if (!artifact) throw new NotFoundError(`artifact ${storageKey} not found`);
    return artifact;
  }

  /** Make queued preset variants in the background, one pass at a time. */
  private makeVariants(): void {
    if (this.variantPass) {
      this.variantAgain = true;
      return;
    }
    this.variantPass = (async () => {
      do {
        this.variantAgain = false;
        await processVariantQueue(this).catch(() => undefined); // failures are rescheduled in the queue
      } while (this.variantAgain && !this.closed);
    })().finally(() => { this.variantPass = undefined; });
  }

  /**
   * @internal Remove an object that a failed store or copy made and no record names. Never throws: the
   * failure that caused it is the error to report. When the delete fails (after the provider's
   * retries), the object is queued in `pending_deletions` and the next expiry sweep removes it
   * (unless a record names the key again by then); when the catalog refuses that too, it is
   * counted in `metrics().orphansLeft` and left to `findOrphans`.
   */
  async discardObject(storageKey: string, providerName: string): Promise<void> {
    try {
      await this.provider(providerName).delete(storageKey);
    } catch {
      try {
        await this.catalog.deletions.add([{ storageKey, provider: providerName }]);
      } catch {
        this.orphansLeft[providerName] = (this.orphansLeft[providerName] ?? 0) + 1;
      }
    }
  }

  /** Add (or replace) a provider at run time; routing rules and `default_provider` may name it. */
  registerProvider(name: string, provider: StorageProvider): void {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw new ConfigError(`provider name "${name}" must be letters, digits, "_" and "-"`);
    for (const method of ['upload', 'openDownload', 'delete', 'exists', 'getMetadata', 'list'] as const) {
      if (typeof (provider as unknown as Record<string, unknown>)[method] !== 'function') {
        throw new ConfigError(`provider "${name}" does not implement ${method}()`);
      }
    }
    // A name the configuration knows gets that entry's layers (timeout, retry, breaker).
    this.providers.set(name, composeLayers(name, provider, this.config.providers[name] ?? {}, this.recorder));
  }

  /**
   * Operation counts, bytes, error rates and latency percentiles per provider and operation,
   * retries and breaker states, and stored bytes per provider and tenant from the catalog.
   */
  async metrics(): Promise<StorageMetrics> {
    this.assertOpen();
    return { providers: this.recorder.snapshot(), utilisation: await this.catalog.usageByProviderAndTenant(), integrity: this.integrity.snapshot(), orphansLeft: { ...this.orphansLeft } };
  }

  /**
   * Scrub: read artifacts (all, or a tenant's, a board's, a provider's, a random sample), recompute
   * SHA-256 and size, and report each copy as ok, corrupt, missing or size_mismatch, and objects
   * no record knows as orphans; with `repair`, restore bad copies from a verified good one.
   */
  async verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    this.assertOpen();
    const { verifyArtifacts } = await import('../operations/verify.ts');
    return verifyArtifacts(this, options);
  }

  /** The provider registered under `name`. */
  provider(name: string): StorageProvider {
    const provider = this.providers.get(name);
    if (!provider) throw new ConfigError(`no provider named "${name}" (configured: ${[...this.providers.keys()].join(', ')})`);
    return provider;
  }

  providerNames(): string[] {
    return [...this.providers.keys()];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.mirroring;
    await this.variantPass;
    await this.integrity.settled();
    await Promise.all([...this.providers.values()].map((p) => p.close?.()));
    await this.catalog.close();
  }

  /**
   * Backfill mirrors: every artifact gets a verified, recorded copy on each mirror its provider
   * has now (artifacts moved home from a fallback, a mirror added later). Run it again to resume.
   */
  async syncMirrors(options: SyncMirrorsOptions = {}): Promise<SyncMirrorsReport> {
    this.assertOpen();
    if (options.provider !== undefined) this.provider(options.provider);
    const { syncMirrors } = await import('../operations/sync-mirrors.ts');
    return syncMirrors(this, options);
  }

  /** Wait for the background mirror pass, then copy whatever else is due; returns that pass's report. */
  async flushMirrors(options: { now?: () => Date } = {}): Promise<MirrorReport> {
    this.assertOpen();
    await this.mirroring;
    return processMirrorQueue(this, options);
  }

  /** Copy queued artifacts to their mirrors in the background, one pass at a time. */
  private copyToMirrors(): void {
    if (this.mirroring) {
      this.mirrorAgain = true;
      return;
    }
    this.mirroring = (async () => {
      do {
        this.mirrorAgain = false;
        await processMirrorQueue(this).catch(() => undefined); // failures are rescheduled in the queue
      } while (this.mirrorAgain && !this.closed);
    })().finally(() => { this.mirroring = undefined; });
  }

  /**
   * The artifact's copies as one provider (see artifactCopies): where `providerName` (or else the
   * catalog) says it lives first. A copy known to be corrupt is read last, after the good copies,
   * until it is repaired.
   */
  private async copiesOf(storageKey: string, providerName: string | undefined, opts: ReadOptions, artifact?: CatalogArtifact): Promise<FailoverProvider> {
    assertSafeKey(storageKey, 'storageKey');
    const record = artifact ?? (providerName === undefined ? await this.recorded(storageKey) : undefined);
    const where = providerName ?? record!.storageProvider;
    if (!opts.exact && this.integrity.isSuspect(storageKey, where)) {
      const known = record ?? await this.catalog.get(storageKey);
      const good = known ? await this.integrity.goodCopies(known, where) : [];
      const replica = (name: string) => ({ name, provider: this.provider(name) });
      if (good.length) return failoverProvider({ primary: replica(good[0]!), others: () => [...good.slice(1), where].map(replica) });
    }
    return artifactCopies(this, storageKey, { provider: where, ...(record ? { artifact: record } : {}) }, opts);
  }

  private async recorded(storageKey: string): Promise<CatalogArtifact> {
    const artifact = await this.catalog.get(assertSafeKey(storageKey, 'storageKey'));
    if (!artifact) throw new NotFoundError(`artifact ${storageKey} not found`);
    return artifact;
  }

  /** The public reference of a catalog record: its URL is public only for public artifacts. */
  private reference(artifact: CatalogArtifact, publicUrl?: string, variants?: CatalogArtifact[]): ArtifactReference {
    const { jobId: _job, generationId: _generation, expiresAt: _expires, ...rest } = artifact;
    const provider = this.providers.get(artifact.storageProvider);
    const storageUrl = artifact.visibility === 'public' ? (publicUrl ?? provider?.getPublicUrl?.(artifact.storageKey)) : undefined;
    const own = variants?.filter((v) => v.originalKey === artifact.storageKey).map(summarizeVariant);
    return { ...rest, storageUrl: storageUrl ?? `${artifact.storageProvider}://${artifact.storageKey}`, ...(own?.length ? { variants: own } : {}) };
  }

  private checkContentType(contentType: string): string {
    if (typeof contentType !== 'string' || !isWellFormedContentType(contentType)) {
      throw new ValidationError(`contentType "${String(contentType)}" is not a valid content type`, { code: 'CONTENT_TYPE_NOT_ALLOWED' });
    }
    const type = canonicalContentType(contentType);
    if (!isContentTypeAllowed(this.config.allowedContentTypes, type)) {
      throw new ValidationError(`content type ${type} is not allowed (allowed: ${this.config.allowedContentTypes.join(', ')}); add it to allowed_content_types to accept it`, { code: 'CONTENT_TYPE_NOT_ALLOWED', details: { contentType: type } });
    }
    return type;
  }

  private checkDeclaredSize(size: number | undefined): number | undefined {
    if (size === undefined) return undefined;
    if (!Number.isSafeInteger(size) || size < 0) throw new ValidationError('size must be a whole number of bytes');
    if (size > this.config.maxFileSize) {
      throw new ValidationError(`the content's ${size} bytes exceed the limit of ${this.config.maxFileSize} bytes (max_file_size)`, { code: 'CONTENT_TOO_LARGE', details: { limit: this.config.maxFileSize } });
    }
    return size;
  }

  private tempFileTtlMs(): number {
    return parseCleanupConfig(this.config.cleanup).temp_file_ttl_hours * 3600_000;
  }

  private assertOpen(): void {
    if (this.closed) throw new StorageError('the storage manager is closed');
  }
}

function checkVisibility(visibility: unknown): Visibility {
  if (visibility === undefined) return 'private';
  if (visibility === 'private' || visibility === 'public') return visibility;
  throw new ValidationError(`visibility must be "private" or "public", not "${String(visibility)}"`);
}

function checkUserMetadata(metadata: unknown): Record<string, unknown> {
  if (metadata === undefined) return {};
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) throw new ValidationError('metadata must be a plain object');
  let encoded: string;
  try {
    encoded = JSON.stringify(metadata);
  } catch (error) {
    throw new ValidationError('metadata must be JSON-serialisable', { cause: error });
  }
  if (Buffer.byteLength(encoded) > MAX_USER_METADATA_BYTES) throw new ValidationError(`metadata is larger than ${MAX_USER_METADATA_BYTES} bytes as JSON`);
  return JSON.parse(encoded) as Record<string, unknown>;
}

function checkCallerFacts(media: unknown): Partial<MediaFacts> {
  if (media === null || typeof media !== 'object' || Array.isArray(media)) throw new ValidationError('media must be an object of facts (width, height, durationMs ...)');
  return media as Partial<MediaFacts>;
}

function checkExpiry(expiresIn: number | undefined): number {
  const seconds = expiresIn ?? DEFAULT_URL_SECONDS;
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_URL_SECONDS) {
    throw new ValidationError(`expiresIn must be between 1 and ${MAX_URL_SECONDS} seconds`);
  }
  return seconds;
}

function checkFilename(filename: string): string {
  return checkDownloadName(filename);
}

/** Why a PUT or a completion cannot take an upload: gone, under way, or used already. */
function usedUpload(storageKey: string, state: string | undefined): StorageError {
  if (state === undefined) return new NotFoundError(`no upload is expected for ${storageKey}`);
  if (state === 'receiving' || state === 'completing') return new StorageError(`another upload to ${storageKey} is under way; an upload URL is good for one upload`, { code: 'CONFLICT' });
  return new StorageError(`${storageKey} has been uploaded already; an upload URL is good for one upload (ask for a new one)`, { code: 'CONFLICT' });
}

/** A stream that can be read once; asking again is a bug the retry layer must not hit. */
function oneShot(stream: AsyncIterable<Uint8Array>): () => AsyncIterable<Uint8Array> {
  let used = false;
  return () => {
    if (used) throw new StorageError('a one-shot stream cannot be sent twice');
    used = true;
    return stream;
  };
}

/**
 * Pass the content through, remembering the error it threw: a provider may wrap that error in its
 * own, but the content's failure (too large, wrong type) is the one the caller needs.
 */
async function* remembering(content: AsyncIterable<Uint8Array>, failure: { error?: unknown }): AsyncGenerator<Uint8Array> {
  try {
    yield* content;
  } catch (error) {
    failure.error = error;
    throw error;
  }
}

function asStorageError(error: unknown, what: string): StorageError {
  if (error instanceof StorageError) return error;
  if ((error as Error)?.name === 'AbortError') return new StorageError(`${what}: aborted`, { cause: error });
  return new StorageError(`${what}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

async function wrap<T>(operation: () => Promise<T>, what: string): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw asStorageError(error, what);
  }
}
