import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { loadConfig } from '../config/load.ts';
import { parseCleanupConfig } from '../config/cleanup-config.ts';
import { parseScrubConfig } from '../config/scrub-config.ts';
import { parseGenerationConfig } from '../generation/generation-config.ts';
import { parseWebhooks } from '../webhooks/webhook-config.ts';
import type { ConfigSource, LoadConfigOptions, StorageConfig } from '../config/load.ts';
import { dataDirSecret } from '../config/secrets.ts';
import { serviceBaseUrl } from '../config/public-url.ts';
import { providerFactory } from '../providers/registry.ts';
import { signsOwnUrls } from '../providers/capabilities.ts';
import type { StorageProvider } from '../providers/provider.ts';
import { Catalog } from '../catalog/catalog.ts';
import { StorageManager } from './storage-manager.ts';
import { composeLayers } from '../layers/compose.ts';
import { MetricsRecorder } from '../layers/metrics.ts';

export interface CreateStorageManagerOptions extends LoadConfigOptions {
  /** A parsed or raw configuration object, instead of a file path. */
  config?: ConfigSource;
}

/**
 * Build a manager from a YAML file path, `{ config }` (the object under `storage:`), or nothing
 * (the embedded default plus `BOARDS_STORAGE_*`). Every provider is created and checked now: a bad
 * configuration fails here, naming the offending path, never at the first request.
 */
export async function createStorageManager(source?: string | CreateStorageManagerOptions, options: LoadConfigOptions = {}): Promise<StorageManager> {
  const config = typeof source === 'string' || source === undefined
    ? loadConfig(source, options)
    : loadConfig(source.config, { ...options, ...(source.env ? { env: source.env } : {}) });
  // Sections read later (cleanup sweeps, generation downloads) fail here when wrong, not at first use.
  parseCleanupConfig(config.cleanup);
  parseScrubConfig(config.scrub);
  parseGenerationConfig(config.generation);
  parseWebhooks(config.webhooks);
  const metrics = new MetricsRecorder();
  // The catalog first: a SQLite catalog's database is offered to the providers for their indexes
  // (the local provider's rows then commit with the catalog's records: one commit per store).
  const catalog = await Catalog.open({ ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}), dataDir: config.dataDir });
  let providers: Map<string, StorageProvider>;
  try {
    providers = await createProviders(config, metrics, catalog);
  } catch (error) {
    // The start-up error is the one to report.
    await catalog.close().catch(() => undefined);
    throw error;
  }
  const manager = new StorageManager(config, providers, catalog, metrics);
  // Copies found corrupt before a restart: reads go around them from the first one.
  await manager.integrity.load().catch(async (error: unknown) => {
    await manager.close();
    throw error;
  });
  return manager;
}

export interface DevelopmentStorageOptions {
  /** Default `./.boards-storage`, or BOARDS_STORAGE_DATA_DIR. */
  dataDir?: string;
  /** Where files go; default `{dataDir}/files`, or BOARDS_STORAGE_LOCAL_BASE_PATH. */
  basePath?: string;
  env?: Record<string, string | undefined>;
}

/** Local disk and a SQLite catalog under `./.boards-storage`: nothing to configure, nothing to start. */
export async function createDevelopmentStorage(options: DevelopmentStorageOptions = {}): Promise<StorageManager> {
  const env = options.env ?? process.env;
  const dataDir = options.dataDir ?? env.BOARDS_STORAGE_DATA_DIR ?? '.boards-storage';
  const basePath = options.basePath ?? env.BOARDS_STORAGE_LOCAL_BASE_PATH ?? join(dataDir, 'files');
  return createStorageManager({ config: { data_dir: dataDir, default_provider: 'local', providers: { local: { type: 'local', config: { base_path: basePath } } } }, env: { ...env, BOARDS_STORAGE_LOCAL_BASE_PATH: basePath, BOARDS_STORAGE_DATA_DIR: dataDir } });
}

async function createProviders(config: StorageConfig, metrics: MetricsRecorder, catalog: Catalog): Promise<Map<string, StorageProvider>> {
  const database = catalog.sharedDatabase;
  const needsSecret = Object.values(config.providers).some((p) => signsOwnUrls(p.type) && !p.config.signing_secret);
  const signingSecret = config.signingSecret ?? (needsSecret ? await dataDirSecret(resolve(config.dataDir), 'signing.key') : undefined);
  const providers = new Map<string, StorageProvider>();
  try {
    for (const [name, entry] of Object.entries(config.providers)) {
      const factory = providerFactory(entry.type, `storage.providers.${name}.type`);
      let provider: StorageProvider;
      try {
        // Self-signed URLs point at the service as configured, whoever signs them (CLI, library, serve).
        const providerConfig = signsOwnUrls(entry.type) && entry.config.serve_url_base === undefined ? { ...entry.config, serve_url_base: serviceBaseUrl(config.server) } : entry.config;
        provider = await factory(providerConfig, { name, dataDir: resolve(config.dataDir), ...(signingSecret ? { signingSecret } : {}), ...(database ? { database } : {}) });
      } catch (error) {
        if (error instanceof ConfigError) throw error;
        throw new ConfigError(`storage.providers.${name}: could not be created: ${(error as Error).message}`, { cause: error });
      }
      providers.set(name, composeLayers(name, provider, entry, metrics));
    }
  } catch (error) {
    // The start-up error is the one to report; a provider that fails to close goes with the process.
    await Promise.all([...providers.values()].map((p) => p.close?.().catch(() => undefined)));
    throw error;
  }
  return providers;
}
