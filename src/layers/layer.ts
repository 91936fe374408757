import type { StorageProvider, UploadOptions } from '../providers/provider.ts';

/** What a layer is: a provider in, a provider with the same interface out (as in OpenDAL). */
export type Layer = (provider: StorageProvider) => StorageProvider;

export type Operation = 'upload' | 'openDownload' | 'openFile' | 'getPresignedDownloadUrl' | 'getPresignedDownloadUrls' | 'getPresignedUploadUrl' | 'delete' | 'exists' | 'getMetadata' | 'list' | 'copy' | 'setVisibility' | 'health';

export interface Attempt {
  /** Abort this attempt (a timeout layer sets it; the provider receives it on upload). */
  signal?: AbortSignal;
  /** For upload: the content to send on this attempt, and the options. */
  content?: AsyncIterable<Uint8Array>;
  uploadOptions?: UploadOptions;
}

/**
 * Runs one provider operation: `run` performs it (again, for a retry) with what the attempt says.
 * A layer decides when and how often to call `run`, and what to do with its outcome.
 */
export type Around = <T>(operation: Operation, run: (attempt: Attempt) => Promise<T>, first: Attempt) => Promise<T>;

/**
 * Wrap every operation of a provider in `around`; everything else (capabilities, public URLs,
 * close) passes through. Upload is special: the attempt carries its content and options, so a
 * layer can replace the content (a replay) or add a signal.
 */
export function wrapProvider(provider: StorageProvider, around: Around): StorageProvider {
  const call = <T>(operation: Operation, fn: () => Promise<T>) => around(operation, () => fn(), {});
  const wrapped: StorageProvider = {
    ...(provider.capabilities ? { capabilities: provider.capabilities } : {}),
    upload: (key, content, opts) => around('upload', (attempt) => {
      const options = attempt.uploadOptions ?? opts;
      const signal = attempt.signal && options.signal ? AbortSignal.any([attempt.signal, options.signal]) : attempt.signal ?? options.signal;
      return provider.upload(key, attempt.content ?? content, { ...options, ...(signal ? { signal } : {}) });
    }, { content, uploadOptions: opts }),
    openDownload: (key, range) => call('openDownload', () => provider.openDownload(key, range)),
    getPresignedDownloadUrl: (key, opts) => call('getPresignedDownloadUrl', () => provider.getPresignedDownloadUrl(key, opts)),
    getPresignedUploadUrl: (key, opts) => call('getPresignedUploadUrl', () => provider.getPresignedUploadUrl(key, opts)),
    delete: (key) => call('delete', () => provider.delete(key)),
    exists: (key) => call('exists', () => provider.exists(key)),
    getMetadata: (key) => call('getMetadata', () => provider.getMetadata(key)),
    list: (prefix, opts) => call('list', () => provider.list(prefix, opts)),
    close: async () => provider.close?.(),
  };
  if (provider.getPublicUrl) wrapped.getPublicUrl = (key) => provider.getPublicUrl!(key);
  if (provider.openFile) wrapped.openFile = (key, range) => call('openFile', () => provider.openFile!(key, range));
  if (provider.copy) wrapped.copy = (from, to) => call('copy', () => provider.copy!(from, to));
  if (provider.health) wrapped.health = () => call('health', () => provider.health!());
  if (provider.getPresignedDownloadUrls) wrapped.getPresignedDownloadUrls = (keys, opts) => call('getPresignedDownloadUrls', () => provider.getPresignedDownloadUrls!(keys, opts));
  if (provider.setVisibility) wrapped.setVisibility = (key, visibility) => call('setVisibility', () => provider.setVisibility!(key, visibility));
  // Any other method a provider offers passes through unwrapped (own or inherited, as on a class).
  for (let proto: object | null = provider; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const value = (provider as unknown as Record<string, unknown>)[name];
      if (name !== 'constructor' && !(name in wrapped) && typeof value === 'function') (wrapped as unknown as Record<string, unknown>)[name] = (value as (...a: unknown[]) => unknown).bind(provider);
    }
  }
  return wrapped;
}
