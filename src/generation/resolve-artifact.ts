import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { AccessDeniedError, CorruptionError, fromFsError, NotFoundError, SecurityError, StorageError, ValidationError } from '../errors.ts';
import { assertSafeKey } from '../keys.ts';
import type { StorageManager } from '../manager/storage-manager.ts';
import type { DownloadPolicy } from './generation-config.ts';
import { safeFetch } from './safe-fetch.ts';

/**
 * What resolveArtifact accepts: a stored artifact (anything with a `storageKey`: an
 * ArtifactReference, an ImageArtifact, ...), a storage key, a `{provider}://{key}` storage URL,
 * an http(s) URL, a `file:` URL or a local path.
 */
export type ResolvableInput = string | URL | { storageKey: string; sha256?: string } | { storageUrl: string };

export interface ResolverScope {
  storage: StorageManager;
  /** Stored artifacts are read only from this tenant, or from this job's temporary files. */
  tenantId: string;
  jobId: string;
  policy: DownloadPolicy;
  /** Whether local paths (and file: URLs) are passed through. */
  allowLocalPaths: boolean;
  /** The directory downloads are cached in; created on first use. */
  workDir: () => Promise<string>;
  signal: AbortSignal;
}

const URL_LIKE = /^([a-z][a-z0-9+.-]*):\/\//i;

/**
 * Turns generator inputs into local file paths, fetching each distinct input once: stored
 * artifacts are cached by SHA-256 (one file for every key and reference of the same bytes), URLs
 * by the URL. Concurrent requests for one input share one download.
 */
export class ArtifactResolver {
  private readonly scope: ResolverScope;
  private readonly cache = new Map<string, Promise<string>>();
  /** Stored artifacts resolved so far (temporary files apart): the inputs of what the job stores. */
  private readonly resolvedKeys = new Set<string>();

  constructor(scope: ResolverScope) {
    this.scope = scope;
  }

  async resolve(input: ResolvableInput): Promise<string> {
    if (input instanceof URL) return this.fromString(input.href);
    if (typeof input === 'string') return this.fromString(input);
    if (input !== null && typeof input === 'object') {
      if ('storageKey' in input && typeof input.storageKey === 'string') return this.fromKey(input.storageKey, true);
      if ('storageUrl' in input && typeof input.storageUrl === 'string') return this.fromString(input.storageUrl);
    }
    throw new ValidationError('resolveArtifact takes an artifact, a storage key, a URL or a local path', { details: { field: 'input' } });
  }

  /**
   * The storage keys of the stored artifacts resolved so far, in the order they were first
   * resolved. The job's own temporary files are not among them: they are its intermediates.
   */
  storedInputs(): string[] {
    return [...this.resolvedKeys];
  }

  /** Forget every cached download (their files go with the work directory). */
  clear(): void {
    this.cache.clear();
  }

  private async fromString(text: string): Promise<string> {
    if (text.length === 0) throw new ValidationError('resolveArtifact was given an empty string', { details: { field: 'input' } });
    const scheme = URL_LIKE.exec(text)?.[1]?.toLowerCase();
    if (scheme !== undefined) {
      if (scheme === 'http' || scheme === 'https') return this.fromUrl(text);
      if (scheme === 'file') return this.localPath(fileURLToPath(text));
      // `{provider}://{key}`: the storageUrl of a private artifact.
      if (this.scope.storage.providerNames().includes(scheme)) return this.fromKey(text.slice(scheme.length + 3), true);
      throw new SecurityError(`resolveArtifact reads http and https URLs, storage keys and local paths, not ${scheme}:`, { details: { scheme, reason: 'scheme_not_allowed' } });
    }
    if (this.owns(text) && isKey(text) && (await this.scope.storage.exists(text))) return this.fromKey(text, false);
    return this.localPath(text);
  }

  private owns(key: string): boolean {
    return key.startsWith(`${this.scope.tenantId}/`) || key.startsWith(`temp/${this.scope.jobId}/`);
  }

  private async fromKey(storageKey: string, explicit: boolean): Promise<string> {
    assertSafeKey(storageKey, 'storageKey');
    if (!this.owns(storageKey)) {
      // Another tenant's artifact is reported as absent when named by a bare string, refused when named explicitly.
      if (!explicit) throw new NotFoundError(`artifact ${storageKey} not found`);
      throw new AccessDeniedError(`artifact ${storageKey} belongs to another tenant or job than this generation's`, { details: { storageKey } });
    }
    const artifact = await this.scope.storage.getArtifact(storageKey, { variants: false, lineage: false });
    if (!storageKey.startsWith('temp/')) this.resolvedKeys.add(storageKey);
    const cacheKey = artifact.sha256 ? `sha256:${artifact.sha256}` : `key:${storageKey}`;
    return this.cached(cacheKey, async () => {
      const file = join(await this.scope.workDir(), `${artifact.sha256 || digest(storageKey)}${extensionOf(storageKey)}`);
      const stream = await this.scope.storage.openDownload(storageKey);
      await writeAtomically(stream, file, this.scope.signal, artifact.sha256 || undefined);
      return file;
    });
  }

  private fromUrl(href: string): Promise<string> {
    const url = new URL(href);
    url.hash = '';
    return this.cached(`url:${url.href}`, async () => {
      const file = join(await this.scope.workDir(), `url-${digest(url.href).slice(0, 32)}${extensionOf(url.pathname)}`);
      await safeFetch(url, this.scope.policy, (response) => writeAtomically(response.body, file, this.scope.signal), this.scope.signal);
      return file;
    });
  }

  private async localPath(path: string): Promise<string> {
    if (!this.scope.allowLocalPaths) {
      throw new SecurityError('local paths are not accepted by this generation context (allowLocalPaths is false)', { details: { reason: 'local_path_not_allowed' } });
    }
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      throw fromFsError(error, `input ${path}`);
    }
    if (!info.isFile()) throw new ValidationError(`input ${path} is not a file`, { details: { field: 'input' } });
    return path;
  }

  private cached(key: string, fetch: () => Promise<string>): Promise<string> {
    let pending = this.cache.get(key);
    if (!pending) {
      pending = fetch();
      this.cache.set(key, pending);
      // A failed download is not remembered: the next call tries again.
      pending.catch(() => {
        if (this.cache.get(key) === pending) this.cache.delete(key);
      });
    }
    return pending;
  }
}

/** Stream into `{file}.{random}.part`, check the SHA-256 when one is expected, then rename into place. */
async function writeAtomically(source: AsyncIterable<Uint8Array>, file: string, signal: AbortSignal, sha256?: string): Promise<void> {
  const part = `${file}.${randomUUID().slice(0, 8)}.part`;
  const hash = createHash('sha256');
  try {
    await pipeline(source, async function* (chunks: AsyncIterable<Uint8Array>) {
      for await (const chunk of chunks) {
        hash.update(chunk);
        yield chunk;
      }
    }, createWriteStream(part, { flags: 'wx' }), { signal });
    const actual = hash.digest('hex');
    if (sha256 !== undefined && actual !== sha256) {
      throw new CorruptionError(`the bytes read for ${file} have SHA-256 ${actual}, not the recorded ${sha256}`, { details: { expected: sha256, actual } });
    }
    await rename(part, file);
  } catch (error) {
    await rm(part, { force: true });
    if (error instanceof StorageError) throw error;
    if (signal.aborted && signal.reason instanceof StorageError) throw signal.reason;
    throw fromFsError(error, `writing ${file}`);
  }
}

function isKey(text: string): boolean {
  try {
    assertSafeKey(text);
    return text.includes('/');
  } catch {
    return false;
  }
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** `.png` from `.../original.png`, so that tools which go by extension see the right one; '' when there is none. */
function extensionOf(path: string): string {
  const found = /\.([A-Za-z0-9]{1,12})$/.exec(path.slice(path.lastIndexOf('/') + 1));
  return found ? `.${found[1]!.toLowerCase()}` : '';
}
