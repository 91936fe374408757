import { ConfigError } from '../errors.ts';
import { assertOptionalPackages } from '../config/optional-packages.ts';
import type { ProviderCapabilities, ProviderFactory } from './provider.ts';
import { createLocalProvider } from './local.ts';
import { createMemoryProvider } from './memory.ts';

const factories = new Map<string, ProviderFactory>([
  ['local', createLocalProvider],
  ['memory', createMemoryProvider],
  // The cloud providers load their SDKs (optional peer dependencies) only when configured, and
  // refuse at start-up, with the install command, when they are missing.
  ['s3', async (config, ctx) => {
    assertOptionalPackages('s3', `storage.providers.${ctx.name}`);
    return (await import('./s3.ts')).createS3Provider(config, ctx);
  }],
  ['gcs', async (config, ctx) => {
    assertOptionalPackages('gcs', `storage.providers.${ctx.name}`);
    return (await import('./gcs.ts')).createGcsProvider(config, ctx);
  }],
  ['supabase', async (config, ctx) => {
    assertOptionalPackages('supabase', `storage.providers.${ctx.name}`);
    return (await import('./supabase.ts')).createSupabaseProvider(config, ctx);
  }],
]);

/** What each type declares before any provider of it exists (see capabilities.ts). */
const typeCapabilities = new Map<string, Partial<ProviderCapabilities>>([
  ['local', { selfSignedUrls: true }],
  ['memory', { selfSignedUrls: true }],
]);

/**
 * Make `type: name` usable in configuration; a later registration of the same name replaces the
 * earlier one. `capabilities` declares what must be known before a provider is created: a type with
 * `selfSignedUrls` receives the service's signing secret in its context.
 */
export function registerProviderType(type: string, factory: ProviderFactory, capabilities: Partial<ProviderCapabilities> = {}): void {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(type)) throw new ConfigError(`provider type "${type}" must be letters, digits, "_" and "-"`);
  if (typeof factory !== 'function') throw new ConfigError(`provider type "${type}" needs a factory function`);
  factories.set(type, factory);
  typeCapabilities.set(type, { ...capabilities });
}

/** The capabilities a provider type declared at registration. */
export function declaredTypeCapabilities(type: string): Partial<ProviderCapabilities> {
  return typeCapabilities.get(type) ?? {};
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
