import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { ConfigError } from '../errors.ts';
import { isWellFormedContentType } from '../content/content-types.ts';
import type { ArtifactFamily } from '../content/artifact-types.ts';
import { formatIssues } from './provider-config.ts';
import { storageConfigSchema } from './schema.ts';
import type { providerEntrySchema } from './schema.ts';
import type { z } from 'zod/v3';
import type { RawStorageConfig, StorageConfigInput } from './schema.ts';
import { parseDuration, parseSize } from './sizes.ts';
import { resolveClusterConfig } from './cluster-config.ts';
import type { ClusterConfig } from './cluster-config.ts';

export interface RoutingCondition {
  artifactType?: string[];
  contentType?: string[];
  sizeGt?: number;
  sizeLt?: number;
  tenantId?: string[];
}

export interface RoutingRule {
  condition?: RoutingCondition;
  provider: string;
}

/** One provider's entry after parsing: the schema's own output (providerEntrySchema), not a second copy of it. */
export type ProviderEntry = z.output<typeof providerEntrySchema>;

/** The configuration after parsing: typed, units resolved, defaults applied. */
export interface StorageConfig {
  defaultProvider: string;
  providers: Record<string, ProviderEntry>;
  routingRules: RoutingRule[];
  maxFileSize: number;
  allowedContentTypes: string[];
  /** Artifact type -> the family of content it holds; `temp` is the manager's own and never listed. */
  artifactTypes: Record<string, ArtifactFamily>;
  dataDir: string;
  signingSecret?: string;
  databaseUrl?: string;
  /** Seconds a deleted artifact stays in the trash; 0: deletes are immediate and final. */
  trashRetentionSeconds: number;
  server: Record<string, unknown>;
  auth: Record<string, unknown>;
  cleanup: Record<string, unknown>;
  scrub: Record<string, unknown>;
  generation: Record<string, unknown>;
  quotas: Record<string, unknown>;
  webhooks: unknown[];
  redisUrl?: string;
  /** Several nodes: the leader lease and the background health poll. */
  cluster: ClusterConfig;
  /** The media, variants and transforms sections, parsed by src/media/media-config.ts. */
  media?: Record<string, unknown>;
  variants?: Record<string, unknown>;
  transforms?: Record<string, unknown>;
}

export type ConfigSource = string | StorageConfigInput | StorageConfig | undefined;

export interface LoadConfigOptions {
  /** The environment to read `${VAR}` and `BOARDS_STORAGE_*` from; `process.env` by default. */
  env?: Record<string, string | undefined>;
}

/**
 * Load the configuration from a YAML file path, an object (the one under `storage:`), or, with no
 * source, the embedded default: local disk under `./.boards-storage`. `BOARDS_STORAGE_*`
 * environment variables apply on top in every case. Throws a ConfigError naming the offending path.
 */
export function loadConfig(source?: ConfigSource, options: LoadConfigOptions = {}): StorageConfig {
  const env = options.env ?? process.env;
  if (isParsed(source)) return source;
  let raw: unknown;
  let origin = 'storage';
  if (typeof source === 'string') {
    raw = readYamlFile(source, env);
    origin = `${source}: storage`;
  } else if (source === undefined && env.BOARDS_STORAGE_CONFIG) {
    raw = readYamlFile(env.BOARDS_STORAGE_CONFIG, env);
    origin = `${env.BOARDS_STORAGE_CONFIG}: storage`;
  } else {
    raw = source === undefined ? {} : structuredClone(source);
  }
  const withEnv = applyEnvironment(raw as Record<string, unknown>, env);
  const result = storageConfigSchema.safeParse(withEnv);
  if (!result.success) throw new ConfigError(formatIssues(result.error, origin), { cause: result.error });
  return resolve(result.data, origin);
}

function readYamlFile(path: string, env: Record<string, string | undefined>): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${path}: cannot read the configuration file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
  let document: unknown;
  try {
    // Loaded only when a file is read: configuration from objects or the environment needs no parser.
    const yaml = createRequire(import.meta.url)('yaml') as typeof Yaml;
    document = yaml.parse(text);
  } catch (error) {
    const linePos = (error as { linePos?: { line: number }[] }).linePos;
    const where = linePos?.[0] ? ` at line ${linePos[0].line}` : '';
    throw new ConfigError(`${path}: not valid YAML${where}: ${(error as Error).message.split('\n')[0]}`, { cause: error });
  }
  if (document === null || typeof document !== 'object' || !('storage' in document)) {
    throw new ConfigError(`${path}: the file must have a top-level "storage:" section`);
  }
  return interpolate((document as { storage: unknown }).storage, env, `${path}: storage`);
}

/** Replace `${VAR}` and `${VAR:-default}` in every string value; `$${` is a literal `${`. */
export function interpolate(value: unknown, env: Record<string, string | undefined>, path: string): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$?\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (match, name: string, fallback: string | undefined) => {
      if (match.startsWith('$$')) return match.slice(1);
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      throw new ConfigError(`${path}: environment variable ${name} is not set (write \${${name}:-default} to give a default)`);
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => interpolate(item, env, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, `${path}.${k}`)]));
  }
  return value;
}

/** `BOARDS_STORAGE_*` variables override what the file or object says. */
function applyEnvironment(raw: Record<string, unknown>, env: Record<string, string | undefined>): Record<string, unknown> {
  const config: Record<string, unknown> = { ...raw };
  const set = (name: string, apply: (value: string) => void) => {
    const value = env[name];
    if (value !== undefined && value !== '') apply(value);
  };
  set('BOARDS_STORAGE_DATA_DIR', (v) => { config.data_dir = v; });
  set('BOARDS_STORAGE_DEFAULT_PROVIDER', (v) => { config.default_provider = v; });
  set('BOARDS_STORAGE_MAX_FILE_SIZE', (v) => { config.max_file_size = /^\d+$/.test(v) ? Number(v) : v; });
  set('BOARDS_STORAGE_ALLOWED_CONTENT_TYPES', (v) => { config.allowed_content_types = v.split(',').map((s) => s.trim()).filter(Boolean); });
  set('BOARDS_STORAGE_SIGNING_SECRET', (v) => { config.signing_secret = v; });
  set('BOARDS_STORAGE_DATABASE_URL', (v) => { config.database_url = v; });
  set('BOARDS_STORAGE_REDIS_URL', (v) => { config.redis_url = v; });
  set('BOARDS_STORAGE_SCRUB_INTERVAL', (v) => { config.scrub = { ...(config.scrub as object | undefined), interval: /^\d+(\.\d+)?$/.test(v) ? Number(v) : v }; });
  set('BOARDS_STORAGE_SCRUB_RATE_MB_S', (v) => { config.scrub = { ...(config.scrub as object | undefined), rate_mb_s: Number(v) }; });
  set('BOARDS_STORAGE_NODE_ID', (v) => { config.cluster = { ...(config.cluster as object | undefined), node_id: v }; });
  set('BOARDS_STORAGE_TRASH_RETENTION', (v) => { config.trash_retention = /^\d+$/.test(v) ? Number(v) : v; });
  // Where the service is reached: signed URLs of local/memory providers point there (see public-url.ts).
  const server = (overrides: Record<string, unknown>) => { config.server = { ...(config.server as Record<string, unknown> | undefined), ...overrides }; };
  set('BOARDS_STORAGE_PUBLIC_URL', (v) => server({ public_url: v }));
  set('BOARDS_STORAGE_HOST', (v) => server({ host: v }));
  set('BOARDS_STORAGE_PORT', (v) => server({ port: v }));

  const providers = { ...(config.providers as Record<string, { type?: string; config?: Record<string, unknown> }> | undefined) };
  const dataDir = typeof config.data_dir === 'string' ? config.data_dir : '.boards-storage';
  if (Object.keys(providers).length === 0) {
    // The embedded default: files on the local disk inside the data directory.
    providers.local = { type: 'local', config: { base_path: join(dataDir, 'files') } };
  }
  const local = (overrides: Record<string, unknown>) => {
    const entry = providers.local ?? { type: 'local', config: {} };
    providers.local = { ...entry, config: { ...entry.config, ...overrides } };
  };
  set('BOARDS_STORAGE_LOCAL_BASE_PATH', (v) => local({ base_path: v }));
  set('BOARDS_STORAGE_LOCAL_PUBLIC_URL_BASE', (v) => local({ public_url_base: v }));
  set('BOARDS_STORAGE_LOCAL_SERVE_URL_BASE', (v) => local({ serve_url_base: v }));
  config.providers = providers;
  return config;
}

function resolve(raw: RawStorageConfig, origin: string): StorageConfig {
  const at = (path: string) => `${origin}.${path}`;
  if (!(raw.default_provider in raw.providers)) {
    throw new ConfigError(`${at('default_provider')}: "${raw.default_provider}" is not one of the configured providers (${Object.keys(raw.providers).join(', ')})`);
  }
  for (const type of raw.allowed_content_types) {
    if (!type.endsWith('/*') && type !== '*' && !isWellFormedContentType(type)) {
      throw new ConfigError(`${at('allowed_content_types')}: "${type}" is not a content type or a "type/*" pattern`);
    }
  }
  if (Object.hasOwn(raw.artifact_types, 'temp')) throw new ConfigError(`${at('artifact_types.temp')}: "temp" is reserved for the temporary files of generation jobs`);
  for (const [name, entry] of Object.entries(raw.providers)) {
    if (entry.fallback !== undefined && !(entry.fallback in raw.providers)) {
      throw new ConfigError(`${at(`providers.${name}.fallback`)}: "${entry.fallback}" is not one of the configured providers (${Object.keys(raw.providers).join(', ')})`);
    }
    if (entry.fallback === name) throw new ConfigError(`${at(`providers.${name}.fallback`)}: a provider cannot be its own fallback`);
    entry.mirrors.forEach((mirror, i) => {
      if (!(mirror in raw.providers) || mirror === name) throw new ConfigError(`${at(`providers.${name}.mirrors[${i}]`)}: "${mirror}" must be another configured provider (${Object.keys(raw.providers).filter((p) => p !== name).join(', ')})`);
    });
  }
  const routingRules = raw.routing_rules.map((rule, i): RoutingRule => {
    if (!(rule.provider in raw.providers)) {
      throw new ConfigError(`${at(`routing_rules[${i}].provider`)}: "${rule.provider}" is not one of the configured providers (${Object.keys(raw.providers).join(', ')})`);
    }
    const c = rule.condition;
    if (!c) return { provider: rule.provider };
    const list = (v: string | string[] | undefined) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);
    const condition: RoutingCondition = {};
    const artifactType = list(c.artifact_type);
    const contentType = list(c.content_type);
    const tenantId = list(c.tenant_id);
    if (artifactType) condition.artifactType = artifactType;
    if (contentType) condition.contentType = contentType;
    if (tenantId) condition.tenantId = tenantId;
    if (c.size_gt !== undefined) condition.sizeGt = parseSize(c.size_gt, at(`routing_rules[${i}].condition.size_gt`));
    if (c.size_lt !== undefined) condition.sizeLt = parseSize(c.size_lt, at(`routing_rules[${i}].condition.size_lt`));
    return { condition, provider: rule.provider };
  });
  return {
    defaultProvider: raw.default_provider,
    providers: raw.providers,
    routingRules,
    maxFileSize: parseSize(raw.max_file_size, at('max_file_size')),
    allowedContentTypes: raw.allowed_content_types,
    artifactTypes: raw.artifact_types,
    dataDir: raw.data_dir,
    ...(raw.signing_secret === undefined ? {} : { signingSecret: raw.signing_secret }),
    ...(raw.database_url === undefined ? {} : { databaseUrl: raw.database_url }),
    trashRetentionSeconds: parseDuration(raw.trash_retention, at('trash_retention')),
    server: raw.server,
    auth: raw.auth,
    cleanup: raw.cleanup,
    scrub: raw.scrub,
    generation: raw.generation,
    quotas: raw.quotas,
    webhooks: raw.webhooks,
    ...(raw.redis_url === undefined ? {} : { redisUrl: raw.redis_url }),
    cluster: resolveClusterConfig(raw.cluster, at('cluster')),
    media: raw.media,
    variants: raw.variants,
    transforms: raw.transforms,
  };
}

function isParsed(source: ConfigSource): source is StorageConfig {
  return typeof source === 'object' && source !== null && 'defaultProvider' in source && 'routingRules' in source;
}

