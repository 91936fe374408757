import { InsufficientStorageError } from '../errors.ts';
import type { Quota, QuotaConfig } from './quota-config.ts';

export interface TenantUsage {
  bytes: number;
  artifacts: number;
}

export interface QuotaReport {
  used: TenantUsage;
  /** Absent fields: no limit. */
  allowed: Quota;
}

/**
 * Per-tenant limits on stored bytes and artifacts, checked against the catalog's live artifacts
 * (the trash is counted apart and does not use the quota). Checked before a store with the size
 * declared, and again with the real size before the artifact is recorded; concurrent stores of
 * one tenant may overshoot by what they have in flight, never more.
 */
export class QuotaGuard {
  private readonly config: QuotaConfig;
  private readonly usage: (tenantId: string) => Promise<TenantUsage>;

  constructor(config: QuotaConfig, usage: (tenantId: string) => Promise<TenantUsage>) {
    this.config = config;
    this.usage = usage;
  }

  /** The tenant's limits, or undefined when it has none. */
  quotaOf(tenantId: string): Quota | undefined {
    const quota = this.config.tenants[tenantId] ?? this.config.default;
    return quota && (quota.bytes !== undefined || quota.artifacts !== undefined) ? quota : undefined;
  }

  /** Usage against the quota, for /v1/stats; undefined when the tenant has no quota. */
  async report(tenantId: string): Promise<QuotaReport | undefined> {
    const allowed = this.quotaOf(tenantId);
    return allowed ? { used: await this.usage(tenantId), allowed } : undefined;
  }

  /** Throws InsufficientStorageError (507) when `bytes` more in `artifacts` more would exceed the tenant's quota. */
  async assertRoom(tenantId: string, bytes: number, artifacts = 1): Promise<void> {
    const allowed = this.quotaOf(tenantId);
    if (!allowed) return;
    const used = await this.usage(tenantId);
    const overBytes = allowed.bytes !== undefined && used.bytes + bytes > allowed.bytes;
    const overCount = allowed.artifacts !== undefined && used.artifacts + artifacts > allowed.artifacts;
    if (!overBytes && !overCount) return;
    const what = overBytes
      ? `${bytes} more bytes would exceed the quota of tenant ${tenantId}: ${used.bytes} of ${allowed.bytes} bytes used`
      : `one more artifact would exceed the quota of tenant ${tenantId}: ${used.artifacts} of ${allowed.artifacts} artifacts stored`;
    throw new InsufficientStorageError(`${what}; delete artifacts (the trash does not count) or ask for a larger quota`, {
      code: 'QUOTA_EXCEEDED',
      details: { quota: { used, allowed, requested: { bytes, artifacts } } },
    });
  }
}
