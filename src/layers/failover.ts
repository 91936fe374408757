import { NotFoundError, ProviderUnavailableError } from '../errors.ts';
import type { ByteRange, ObjectMetadata, OpenFile, StorageProvider, UploadOptions } from '../providers/provider.ts';

/** One provider among several that may hold (or take) an artifact, by its configured name. */
export interface Replica {
  name: string;
  provider: StorageProvider;
}

export interface FailoverOptions {
  /** Asked first: where the artifact lives (reads), or where the routing rules send it (writes). */
  primary: Replica;
  /**
   * The others, in the order to try them. Asked for only once the primary has failed over (it may
   * cost a catalog lookup), and at most once per composite.
   */
  others: () => Promise<Replica[]> | Replica[];
  /** Which failures move on to the next replica. Default: down (ProviderUnavailableError) or, for reads, missing. */
  failsOver?: (error: unknown, operation: FailoverOperation) => boolean;
  /** Told when a replica other than the primary answers (for logs and metrics). */
  onFailover?: (event: { operation: FailoverOperation; from: string; to: string; error: unknown }) => void;
}

export type FailoverOperation = 'upload' | 'openDownload' | 'openFile' | 'getPresignedDownloadUrl' | 'exists' | 'getMetadata';

/** The composite's upload also says which replica took the content. */
export interface FailoverProvider extends Omit<StorageProvider, 'upload' | 'openFile'> {
  upload(key: string, content: AsyncIterable<Uint8Array>, opts: UploadOptions): Promise<{ url?: string; provider: string }>;
  /** Undefined when the replica that answers keeps no local files: stream with openDownload instead. */
  openFile(key: string, range?: ByteRange): Promise<OpenFile | undefined>;
  /** The replica that answered last (the primary until one failed over). */
  readonly serving: string;
}

/** Down, or (for a read) missing on this replica while the catalog says it is stored. */
export function defaultFailsOver(error: unknown, operation: FailoverOperation): boolean {
  return error instanceof ProviderUnavailableError || (operation !== 'upload' && error instanceof NotFoundError);
}

/**
 * Several providers as one, in the way unstorage's overlay driver stacks drivers: an operation
 * goes to the primary, and when that fails over (down; for reads also missing) to each of the
 * others in turn. Once a replica has answered, later calls on the same composite start there, so
 * a caller that asks twice (a file, then a stream) does not wait on a dead primary twice.
 *
 * An upload fails over only when its content can start again (`opts.replay`): the fallback gets a
 * fresh copy of the content, never the remains of the one the primary consumed. Operations that
 * are about one replica (delete, list, presigned uploads) go to the primary alone.
 */
export function failoverProvider(options: FailoverOptions): FailoverProvider {
  const failsOver = options.failsOver ?? defaultFailsOver;
  let replicas: Replica[] | undefined;
  let serving = 0;
  const all = async (): Promise<Replica[]> => {
    replicas ??= [options.primary, ...(await options.others()).filter((r) => r.name !== options.primary.name)];
    return replicas;
  };

  async function attempt<T>(operation: FailoverOperation, run: (replica: Replica, first: boolean) => Promise<T>): Promise<T> {
    const start = serving;
    const candidates = start === 0 ? [options.primary] : await all();
    let firstError: unknown;
    for (let i = start; ; i++) {
      const list = i < candidates.length ? candidates : await all();
      const replica = list[i];
      if (!replica) throw unavailableEverywhere(operation, firstError, list.slice(start));
      try {
        const result = await run(replica, i === start);
        if (i !== start) options.onFailover?.({ operation, from: list[start]!.name, to: replica.name, error: firstError });
        serving = i;
        return result;
      } catch (error) {
        if (!failsOver(error, operation)) throw error;
        firstError ??= error;
      }
    }
  }

  const composite: FailoverProvider = {
    get serving() { return (replicas ?? [options.primary])[serving]!.name; },
    ...(options.primary.provider.capabilities ? { capabilities: options.primary.provider.capabilities } : {}),
    async upload(key, content, opts) {
      // Without a replay the content can be sent once: it goes to the primary or nowhere.
      if (!opts.replay) return { ...(await options.primary.provider.upload(key, content, opts)), provider: options.primary.name };
      let body: AsyncIterable<Uint8Array> | undefined = content;
      return attempt('upload', async (replica) => {
        // The first attempt sends the content as given; another replica gets it again from its start.
        const sending = body ?? opts.replay!();
        body = undefined;
        return { ...(await replica.provider.upload(key, sending, opts)), provider: replica.name };
      });
    },
    openDownload: (key, range) => attempt('openDownload', (r) => r.provider.openDownload(key, range)),
    openFile: (key, range) => attempt('openFile', async (r) => r.provider.openFile?.(key, range)),
    getPresignedDownloadUrl: (key, opts) => attempt('getPresignedDownloadUrl', (r) => r.provider.getPresignedDownloadUrl(key, opts)),
    exists: (key) => attempt('exists', (r) => r.provider.exists(key)),
    getMetadata: (key): Promise<ObjectMetadata> => attempt('getMetadata', (r) => r.provider.getMetadata(key)),
    getPresignedUploadUrl: (key, opts) => options.primary.provider.getPresignedUploadUrl(key, opts),
    delete: (key) => options.primary.provider.delete(key),
    list: (prefix, opts) => options.primary.provider.list(prefix, opts),
  };
  return composite;
}

/**
 * Every replica failed over. One replica: its own error. Several: the first (the primary's, what
 * the caller asked for) as a ProviderUnavailableError that names the others tried.
 */
function unavailableEverywhere(operation: FailoverOperation, firstError: unknown, tried: Replica[]): unknown {
  if (tried.length <= 1 || !(firstError instanceof Error)) return firstError;
  const names = tried.map((r) => r.name);
  if (firstError instanceof NotFoundError) return new NotFoundError(`${firstError.message} (not on ${names.slice(1).join(', ')} either)`, { cause: firstError, details: { tried: names } });
  return new ProviderUnavailableError(`${firstError.message} (and ${operation} failed on ${names.slice(1).join(', ')} too)`, { cause: firstError, details: { tried: names } });
}
