import type SharpModule from 'sharp';
import { StorageError } from '../errors.ts';

export type Sharp = typeof SharpModule;

let loading: Promise<Sharp> | undefined;

/**
 * sharp, loaded on first use: it is an optional dependency (a native image library of some tens
 * of MB), so the library's own import costs nothing and works without it. Resolves once; the
 * error says how to install it when it is missing.
 */
export function loadSharp(): Promise<Sharp> {
  loading ??= import('sharp').then(
    (module) => {
      const sharp = module.default;
      // Every image holds one libvips thread: the service bounds how many run at once itself.
      sharp.concurrency(1);
      // libvips' operation cache holds decoded images; transforms never repeat an operation.
      sharp.cache(false);
      return sharp;
    },
    (error: unknown) => {
      loading = undefined;
      throw new StorageError(`image work needs the optional dependency sharp, which is not installed or cannot load here (${(error as Error).message}); run \`npm install sharp\``, { code: 'NOT_SUPPORTED', cause: error });
    },
  );
  return loading;
}

/** Whether sharp can be loaded, without throwing. */
export async function hasSharp(): Promise<boolean> {
  try {
    await loadSharp();
    return true;
  } catch {
    return false;
  }
}
