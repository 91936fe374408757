import { setMaxListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError, ValidationError } from '../errors.ts';
import { assertSafeId } from '../keys.ts';
import { canonicalContentType, contentTypeForFileName, contentTypeMatches } from '../content/content-types.ts';
import type { ArtifactContent } from '../content/source.ts';
import type { StorageManager, StoreArtifactInput } from '../manager/storage-manager.ts';
import type { ArtifactReference, Visibility } from '../manager/artifact-reference.ts';
import {
  AUDIO_FORMATS, FORMATS, GENERIC_CONTENT_TYPES, IMAGE_FORMATS, MODEL_FORMATS, TEXT_FORMATS, VIDEO_FORMATS,
} from './artifacts.ts';
import type {
  AudioArtifact, AudioResult, GeneratedArtifact, ImageArtifact, ImageResult, ModelArtifact, ModelResult, TextArtifact,
  TextResult, VideoArtifact, VideoResult,
} from './artifacts.ts';
import { parseGenerationConfig, resolveDownloadPolicy } from './generation-config.ts';
import type { DownloadOptions, DownloadPolicy } from './generation-config.ts';
import { ArtifactResolver } from './resolve-artifact.ts';
import type { ResolvableInput } from './resolve-artifact.ts';
import { safeFetch } from './safe-fetch.ts';
import type { SafeResponse } from './safe-fetch.ts';

export interface GenerationContextOptions extends DownloadOptions {
  /** The generation this context stores results for: every result's artifact id. */
  generationId: string;
  /** The job running it: recorded with each result, and the scope of temporary files. */
  jobId: string;
  /** Defaults to `default`. */
  tenantId?: string;
  boardId?: string;
  /** Who runs the generation, for the audit trail. */
  actor?: string;
  /** Of the stored results; default `private`. */
  visibility?: Visibility;
  /** Stored with every result. */
  metadata?: Record<string, unknown>;
  /** Where resolveArtifact keeps its downloads; default `generation.temp_dir`, else the system temp directory. */
  tempDir?: string;
  /** Lifetime of storeTempFile's files; default the manager's (`cleanup.temp_file_ttl_hours`, 24 h). */
  tempFileTtlMs?: number;
  /** Whether resolveArtifact passes local paths through. Default true; set false when inputs come from users. */
  allowLocalPaths?: boolean;
  /** Aborting stops every download and store of the context. */
  signal?: AbortSignal;
}

export interface TempFileOptions {
  /** Defaults to the type the name's extension suggests, else application/octet-stream. */
  contentType?: string;
  /** Defaults to now plus the context's `tempFileTtlMs`, else the manager's default (24 h). */
  expiresAt?: Date;
  size?: number;
}

export interface CleanupReport {
  /** Temporary files of the job that were deleted from storage. */
  tempFilesDeleted: number;
}

/**
 * What a generator gets to work with: stores its results from the providers' temporary URLs into
 * permanent storage, hands it its inputs as local files, keeps its intermediates, and cleans up.
 * Create one per job with createGenerationContext, or use withGenerationContext, which always cleans up.
 */
export class GenerationContext {
  readonly generationId: string;
  readonly jobId: string;
  readonly tenantId: string;
  readonly boardId?: string;
  /** The download policy in force: timeouts, retries, allowed hosts, the size limit. */
  readonly policy: DownloadPolicy;
  private readonly storage: StorageManager;
  private readonly options: GenerationContextOptions;
  private readonly tempRoot: string;
  private readonly tempFileTtlMs?: number;
  private readonly lifetime = new AbortController();
  private readonly signal: AbortSignal;
  private readonly resolver: ArtifactResolver;
  private readonly inFlight = new Set<Promise<unknown>>();
  private workDir: Promise<string> | undefined;
  private cleaning: Promise<CleanupReport> | undefined;
  private closed = false;

  constructor(storage: StorageManager, options: GenerationContextOptions) {
    if (options === null || typeof options !== 'object') throw new ValidationError('generation context options are required');
    this.storage = storage;
    this.options = options;
    this.generationId = assertSafeId('generationId', options.generationId);
    this.jobId = assertSafeId('jobId', options.jobId);
    this.tenantId = assertSafeId('tenantId', options.tenantId ?? 'default');
    if (options.boardId !== undefined) this.boardId = assertSafeId('boardId', options.boardId);
    const config = parseGenerationConfig(storage.config.generation);
    this.policy = resolveDownloadPolicy(config.download, options, storage.config.maxFileSize);
    this.tempRoot = options.tempDir ?? config.tempDir ?? process.getBuiltinModule('node:os').tmpdir();
    if (options.tempFileTtlMs !== undefined) {
      if (typeof options.tempFileTtlMs !== 'number' || !Number.isFinite(options.tempFileTtlMs) || options.tempFileTtlMs <= 0) {
        throw new ValidationError('tempFileTtlMs must be a positive number of milliseconds', { details: { field: 'tempFileTtlMs' } });
      }
      this.tempFileTtlMs = options.tempFileTtlMs;
    }
    this.signal = options.signal ? AbortSignal.any([options.signal, this.lifetime.signal]) : this.lifetime.signal;
    // Every download and store of the job listens to this one signal; many may run at once.
    setMaxListeners(0, this.signal);
    this.resolver = new ArtifactResolver({
      storage, tenantId: this.tenantId, jobId: this.jobId, policy: this.policy, signal: this.signal,
      allowLocalPaths: options.allowLocalPaths ?? true,
      workDir: () => (this.workDir ??= mkdtemp(join(this.tempRoot, `boards-job-${this.jobId}-`))),
    });
  }

  /** Download an image result and store it permanently. */
  storeImageResult(input: ImageResult): Promise<ImageArtifact> {
    return this.track(async () => {
      const format = oneOf('format', input.format, IMAGE_FORMATS);
      const media = { width: dimension('width', input.width), height: dimension('height', input.height) };
      const stored = await this.storeFromUrl('image', input.storageUrl, format, media, input);
      return { ...stored, artifactType: 'image' as const, format, ...media };
    });
  }

  /** Download a video result and store it permanently. */
  storeVideoResult(input: VideoResult): Promise<VideoArtifact> {
    return this.track(async () => {
      const format = oneOf('format', input.format, VIDEO_FORMATS);
      const media = { width: dimension('width', input.width), height: dimension('height', input.height), duration: positive('duration', input.duration), fps: positive('fps', input.fps) };
      const stored = await this.storeFromUrl('video', input.storageUrl, format, media, input);
      return { ...stored, artifactType: 'video' as const, format, ...media };
    });
  }

  /** Download an audio result and store it permanently. */
  storeAudioResult(input: AudioResult): Promise<AudioArtifact> {
    return this.track(async () => {
      const format = oneOf('format', input.format, AUDIO_FORMATS);
      const media = {
        duration: positive('duration', input.duration),
        ...(input.sampleRate === undefined ? {} : { sampleRate: dimension('sampleRate', input.sampleRate) }),
        ...(input.channels === undefined ? {} : { channels: dimension('channels', input.channels) }),
      };
      const stored = await this.storeFromUrl('audio', input.storageUrl, format, media, input);
      return { ...stored, artifactType: 'audio' as const, format, ...media };
    });
  }

  /** Store generated text: plain text, Markdown or JSON (which must parse). */
  storeTextResult(input: TextResult): Promise<TextArtifact> {
    return this.track(async () => {
      const format = oneOf('format', input.format, TEXT_FORMATS);
      if (typeof input.content !== 'string') throw new ValidationError('content must be a string', { details: { field: 'content' } });
      const stored = await this.store('text', format, input.content, {}, input);
      return { ...stored, artifactType: 'text' as const, format };
    });
  }

  /** Store LoRA weights or a checkpoint, from the provider's URL or from content in hand. */
  storeModelResult(input: ModelResult): Promise<ModelArtifact> {
    return this.track(async () => {
      const format = oneOf('format', input.format, MODEL_FORMATS);
      const hasUrl = typeof input.storageUrl === 'string';
      if (hasUrl === (input.content !== undefined)) throw new ValidationError('give either storageUrl or content', { details: { field: 'storageUrl' } });
      const stored = hasUrl
        ? await this.storeFromUrl('model', input.storageUrl!, format, {}, input)
        : await this.store('model', format, input.content!, {}, input);
      return { ...stored, artifactType: 'model' as const, format };
    });
  }

  /**
   * A local file path for an input: local paths as they are; stored artifacts (this tenant's, or
   * this job's temporary files) and URLs downloaded into the context's temp directory, once each.
   * URLs go through the same guards as results.
   */
  resolveArtifact(input: ResolvableInput): Promise<string> {
    return this.track(() => this.resolver.resolve(input));
  }

  /** Keep an intermediate under `temp/{jobId}/{name}` until it expires (default 24 h) or cleanup runs. */
  storeTempFile(name: string, content: ArtifactContent, options: TempFileOptions = {}): Promise<ArtifactReference> {
    return this.track(async () => {
      const safeName = assertSafeId('name', name);
      const expiresAt = options.expiresAt ?? (this.tempFileTtlMs === undefined ? undefined : new Date(Date.now() + this.tempFileTtlMs));
      return this.storage.storeTempFile({
        jobId: this.jobId, name: safeName, content, tenantId: this.tenantId,
        contentType: options.contentType ?? contentTypeForFileName(safeName) ?? 'application/octet-stream',
        signal: this.signal,
        ...(expiresAt === undefined ? {} : { expiresAt }),
        ...(options.size === undefined ? {} : { size: options.size }),
        ...(this.options.actor === undefined ? {} : { actor: this.options.actor }),
      });
    });
  }

  /**
   * Delete the job's temporary files from storage and the local download cache. Downloads still
   * running are stopped first. Safe to call more than once; after it, the context takes no more work.
   */
  cleanup(): Promise<CleanupReport> {
    this.cleaning ??= this.runCleanup().finally(() => {
      this.cleaning = undefined;
    });
    return this.cleaning;
  }

  private async runCleanup(): Promise<CleanupReport> {
    this.closed = true;
    if (!this.lifetime.signal.aborted) this.lifetime.abort(new StorageError('the generation context was cleaned up'));
    await Promise.allSettled([...this.inFlight]);
    this.resolver.clear();
    const dir = this.workDir;
    this.workDir = undefined;
    const removeLocal = dir?.then((path) => rm(path, { recursive: true, force: true }), () => undefined);
    try {
      const tempFilesDeleted = await this.storage.deleteJobTempFiles(this.jobId, { tenantId: this.tenantId, ...(this.options.actor === undefined ? {} : { actor: this.options.actor }) });
      return { tempFilesDeleted };
    } finally {
      await removeLocal;
    }
  }

  private async storeFromUrl(artifactType: string, storageUrl: string, format: keyof typeof FORMATS, media: Record<string, number>, input: { variant?: string; metadata?: Record<string, unknown>; inputs?: string[] }): Promise<GeneratedArtifact> {
    if (typeof storageUrl !== 'string') throw new ValidationError('storageUrl must be a URL string', { details: { field: 'storageUrl' } });
    return safeFetch(storageUrl, this.policy, (response) => {
      assertDeclaredType(response, format);
      return this.store(artifactType, format, response.body, media, input, response.contentLength);
    }, this.signal);
  }

  private async store(artifactType: string, format: keyof typeof FORMATS, content: ArtifactContent, media: Record<string, number>, input: { variant?: string; metadata?: Record<string, unknown>; inputs?: string[] }, size?: number): Promise<GeneratedArtifact> {
    const info = FORMATS[format];
    if (input.metadata !== undefined && (input.metadata === null || typeof input.metadata !== 'object')) throw new ValidationError('metadata must be a plain object', { details: { field: 'metadata' } });
    if (input.inputs !== undefined && !Array.isArray(input.inputs)) throw new ValidationError('inputs must be a list of storage keys', { details: { field: 'inputs' } });
    const request: StoreArtifactInput = {
      artifactId: this.generationId,
      artifactType,
      contentType: info.contentType,
      content,
      tenantId: this.tenantId,
      ...(this.boardId === undefined ? {} : { boardId: this.boardId }),
      variant: input.variant ?? `original.${info.extension}`,
      ...(this.options.visibility === undefined ? {} : { visibility: this.options.visibility }),
      metadata: { ...this.options.metadata, ...input.metadata, format, ...media },
      ...(size === undefined ? {} : { size }),
      signal: this.signal,
      ...(this.options.actor === undefined ? {} : { actor: this.options.actor }),
      jobId: this.jobId,
      generationId: this.generationId,
    };
    // Lineage: what the job resolved, and what the caller names besides.
    const named = input.inputs ?? [];
    let inputs = [...new Set([...this.resolver.storedInputs(), ...named])];
    for (;;) {
      try {
        const reference = await this.storage.storeArtifact({ ...request, ...(inputs.length ? { inputs } : {}) });
        return { ...reference, generationId: this.generationId, jobId: this.jobId };
      } catch (error) {
        // A resolved input deleted since is left out (inputs are checked before any byte moves); one the caller named is its error.
        const gone = error instanceof StorageError && error.code === 'INPUT_NOT_FOUND' ? error.details.storageKey : undefined;
        if (typeof gone !== 'string' || named.includes(gone) || !inputs.includes(gone)) throw error;
        inputs = inputs.filter((key) => key !== gone);
      }
    }
  }

  /** Run one operation of the context, refused after cleanup, and waited for by cleanup. */
  private track<T>(operation: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StorageError('the generation context was cleaned up; create a new one'));
    const running = operation();
    this.inFlight.add(running);
    const forget = () => this.inFlight.delete(running);
    running.then(forget, forget);
    return running;
  }
}

/** A context for one generation job. Call `cleanup()` when the job ends, or use withGenerationContext. */
export function createGenerationContext(storage: StorageManager, options: GenerationContextOptions): GenerationContext {
  return new GenerationContext(storage, options);
}

/**
 * Run `fn` with a fresh context and clean up afterwards, whether it returned or threw. When `fn`
 * throws, its error is the one thrown, even if cleanup fails as well (temporary files expire on
 * their own); when it returns, a failing cleanup is thrown.
 */
export async function withGenerationContext<T>(storage: StorageManager, options: GenerationContextOptions, fn: (context: GenerationContext) => Promise<T> | T): Promise<T> {
  const context = createGenerationContext(storage, options);
  let result: T;
  try {
    result = await fn(context);
  } catch (error) {
    // The generator's error is the one to report; temp files a failed cleanup leaves expire with their TTL.
    await context.cleanup().catch(() => undefined);
    throw error;
  }
  await context.cleanup();
  return result;
}

/**
 * Refuse a response whose Content-Type names something else than the declared format. Absent and
 * generic binary types pass: the manager sniffs the bytes either way.
 */
function assertDeclaredType(response: SafeResponse, format: keyof typeof FORMATS): void {
  const type = response.contentType;
  if (type === undefined || GENERIC_CONTENT_TYPES.has(type)) return;
  const info = FORMATS[format];
  if (info.accepts.some((pattern) => contentTypeMatches(pattern, canonicalContentType(type)))) return;
  throw new ValidationError(`the result was declared as ${format} (${info.contentType}) but the provider sent ${type}`, { code: 'CONTENT_MISMATCH', details: { declared: info.contentType, received: type } });
}

function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new ValidationError(`${field} must be one of ${allowed.join(', ')}, not "${String(value)}"`, { details: { field } });
}

function dimension(field: string, value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  throw new ValidationError(`${field} must be a positive whole number`, { details: { field } });
}

function positive(field: string, value: unknown): number {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value;
  throw new ValidationError(`${field} must be a positive number`, { details: { field } });
}
