import { ConfigError } from '../errors.ts';
import type { ProviderFactory } from './provider.ts';
import { createLocalProvider } from './local.ts';
import { createMemoryProvider } from './memory.ts';

const factories = new Map<string, ProviderFactory>([
  ['local', createLocalProvider],
  ['memory', createMemoryProvider],
  ['s3', async (config, ctx) => (await import('./s3.ts')).createS3Provider(config, ctx)], // loads the AWS SDK only when used
  ['gcs', async (config, ctx) => (await import('./gcs.ts')).createGcsProvider(config, ctx)], // loads @google-cloud/storage only when used
  ['supabase', async (config, ctx) => (await import('./supabase.ts')).createSupabaseProvider(config, ctx)], // loads storage-js and tus-js-client only when used
]);

/** Make `type: name` usable in configuration; a later registration of the same name replaces the earlier one. */
export function registerProviderType(type: string, factory: ProviderFactory): void {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(type)) throw new ConfigError(`provider type "${type}" must be letters, digits, "_" and "-"`);
  if (typeof factory !== 'function') throw new ConfigError(`provider type "${type}" needs a factory function`);
  factories.set(type, factory);
}

export function providerFactory(type: string, path: string): ProviderFactory {
  const factory = factories.get(type);
  if (!factory) {
    throw new ConfigError(`${path}: unknown provider type "${type}" (known: ${[...factories.keys()].join(', ')}; register others with registerProviderType)`);
  }
  return factory;
}

export function providerTypes(): string[] {
  return [...factories.keys()];
}
