import { z } from 'zod/v3';
import { ConfigError, ValidationError } from '../errors.ts';
import { formatIssues } from '../config/provider-config.ts';
import { parseDuration } from '../config/sizes.ts';
import { parseAllowedHosts } from './address-guard.ts';
import type { AllowedHost, HostResolver } from './address-guard.ts';

/** How downloads from providers' result URLs are guarded and bounded. Every field is optional. */
export interface DownloadOptions {
  /**
   * Hosts (`host` or `host:port`) that may be reached whatever their addresses are, private ones
   * included. An allowed host does not extend to where it redirects: each hop is checked on its own.
   * Added to `generation.allow_hosts` from the configuration.
   */
  allowHosts?: readonly string[];
  /**
   * Permit loopback, private (RFC 1918, unique-local), link-local and carrier-grade NAT addresses.
   * Cloud metadata, unspecified, multicast and reserved addresses stay refused. Default false.
   */
  allowPrivateNetworks?: boolean;
  /** From the request to an established connection (DNS and TLS included). Default 10 s. */
  connectTimeoutMs?: number;
  /** Longest wait for the response headers or the next bytes of the body. Default 30 s. */
  idleTimeoutMs?: number;
  /** The whole download, retries and their waits included. Default 30 min. */
  totalTimeoutMs?: number;
  /** Further attempts after a 5xx, a 408, a 429 or a network failure. Default 3. */
  retries?: number;
  /** Backoff before retry n is about `retryBaseDelayMs * 2^n`, with jitter, at most `retryMaxDelayMs`. Defaults 500 ms and 10 s. */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** A Retry-After longer than this fails the download instead of waiting. Default 2 min. */
  maxRetryAfterMs?: number;
  /** Redirects followed per attempt. Default 5. */
  maxRedirects?: number;
  /** The most bytes one download may carry; never more than the manager's max_file_size. */
  maxBytes?: number;
  /** The DNS resolver; defaults to the system's. For tests and custom resolvers. */
  resolveHost?: HostResolver;
}

/** DownloadOptions with every default applied and the allowed hosts parsed. */
export interface DownloadPolicy {
  allowHosts: AllowedHost[];
  allowPrivateNetworks: boolean;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  totalTimeoutMs: number;
  retries: number;
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  maxRetryAfterMs: number;
  maxRedirects: number;
  maxBytes: number;
  resolveHost?: HostResolver;
}

export const DOWNLOAD_DEFAULTS = {
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  totalTimeoutMs: 30 * 60_000,
  retries: 3,
  retryBaseDelayMs: 500,
  retryMaxDelayMs: 10_000,
  maxRetryAfterMs: 120_000,
  maxRedirects: 5,
} as const;

const duration = z.union([z.number().positive(), z.string().min(1)]);

/** The `generation:` section of the storage configuration, as users write it. */
export const generationConfigSchema = z.object({
  allow_hosts: z.array(z.string().min(1)).default([]),
  allow_private_networks: z.boolean().default(false),
  connect_timeout: duration.optional(),
  idle_timeout: duration.optional(),
  total_timeout: duration.optional(),
  retries: z.number().int().min(0).max(10).optional(),
  retry_base_delay: duration.optional(),
  retry_max_delay: duration.optional(),
  max_retry_after: duration.optional(),
  max_redirects: z.number().int().min(0).max(20).optional(),
  /** Where resolveArtifact keeps its per-job cache; the system temp directory by default. */
  temp_dir: z.string().min(1).optional(),
}).strict();

/** The `generation:` section after parsing: durations in milliseconds. */
export interface GenerationConfig {
  download: Omit<DownloadOptions, 'maxBytes' | 'resolveHost'>;
  tempDir?: string;
}

const ROOT = 'storage.generation';
const parsed = new WeakMap<object, GenerationConfig>();

/**
 * Parse the free-form `generation` section of a StorageConfig. Throws a ConfigError naming the
 * offending path (`storage.generation.allow_hosts[0]: ...`).
 */
export function parseGenerationConfig(section: Record<string, unknown> | undefined): GenerationConfig {
  const cached = section && parsed.get(section);
  if (cached) return cached;
  const result = generationConfigSchema.safeParse(section ?? {});
  if (!result.success) throw new ConfigError(formatIssues(result.error, ROOT), { cause: result.error });
  const raw = result.data;
  parseAllowedHosts(raw.allow_hosts, `${ROOT}.allow_hosts`);
  const ms = (value: string | number | undefined, name: string) => (value === undefined ? undefined : Math.round(parseDuration(value, `${ROOT}.${name}`) * 1000));
  const download: GenerationConfig['download'] = {
    allowHosts: raw.allow_hosts,
    allowPrivateNetworks: raw.allow_private_networks,
  };
  const set = <K extends keyof GenerationConfig['download']>(key: K, value: GenerationConfig['download'][K] | undefined) => {
    if (value !== undefined) download[key] = value;
  };
  set('connectTimeoutMs', ms(raw.connect_timeout, 'connect_timeout'));
  set('idleTimeoutMs', ms(raw.idle_timeout, 'idle_timeout'));
  set('totalTimeoutMs', ms(raw.total_timeout, 'total_timeout'));
  set('retries', raw.retries);
  set('retryBaseDelayMs', ms(raw.retry_base_delay, 'retry_base_delay'));
  set('retryMaxDelayMs', ms(raw.retry_max_delay, 'retry_max_delay'));
  set('maxRetryAfterMs', ms(raw.max_retry_after, 'max_retry_after'));
  set('maxRedirects', raw.max_redirects);
  const config: GenerationConfig = {
    download,
    ...(raw.temp_dir === undefined ? {} : { tempDir: raw.temp_dir }),
  };
  if (section) parsed.set(section, config);
  return config;
}

/**
 * The policy of one download: the options given in code over the configuration over the defaults.
 * `allowHosts` is the union of both lists. `maxBytes` is capped at `maxFileSize`.
 */
export function resolveDownloadPolicy(config: GenerationConfig['download'], options: DownloadOptions, maxFileSize: number): DownloadPolicy {
  const pick = (key: keyof typeof DOWNLOAD_DEFAULTS, min: number): number => {
    const value = options[key] ?? config[key] ?? DOWNLOAD_DEFAULTS[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
      throw new ValidationError(`${key} must be a number of at least ${min}`, { details: { field: key } });
    }
    return value;
  };
  const maxBytes = options.maxBytes ?? maxFileSize;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new ValidationError('maxBytes must be a whole number of bytes', { details: { field: 'maxBytes' } });
  if (options.allowHosts !== undefined && !Array.isArray(options.allowHosts)) {
    throw new ValidationError('allowHosts must be an array of "host" or "host:port" strings', { details: { field: 'allowHosts' } });
  }
  if (options.allowPrivateNetworks !== undefined && typeof options.allowPrivateNetworks !== 'boolean') {
    throw new ValidationError('allowPrivateNetworks must be true or false', { details: { field: 'allowPrivateNetworks' } });
  }
  let fromOptions: AllowedHost[];
  try {
    fromOptions = parseAllowedHosts(options.allowHosts ?? [], 'allowHosts');
  } catch (error) {
    // An option given in code is the caller's input, not the configuration.
    throw new ValidationError((error as Error).message, { cause: error, details: { field: 'allowHosts' } });
  }
  const allowHosts = [...parseAllowedHosts(config.allowHosts ?? [], `${ROOT}.allow_hosts`), ...fromOptions];
  return {
    allowHosts,
    allowPrivateNetworks: options.allowPrivateNetworks ?? config.allowPrivateNetworks ?? false,
    connectTimeoutMs: pick('connectTimeoutMs', 1),
    idleTimeoutMs: pick('idleTimeoutMs', 1),
    totalTimeoutMs: pick('totalTimeoutMs', 1),
    retries: Math.floor(pick('retries', 0)),
    retryBaseDelayMs: pick('retryBaseDelayMs', 0),
    retryMaxDelayMs: pick('retryMaxDelayMs', 0),
    maxRetryAfterMs: pick('maxRetryAfterMs', 0),
    maxRedirects: Math.floor(pick('maxRedirects', 0)),
    maxBytes: Math.min(maxBytes, maxFileSize),
    ...(options.resolveHost ? { resolveHost: options.resolveHost } : {}),
  };
}
