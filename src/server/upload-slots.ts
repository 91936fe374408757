import { StorageError } from '../errors.ts';

/**
 * A cap on uploads in progress, in total and per tenant: each upload holds a temp file and a
 * connection until it ends, so without a cap a few clients trickling bytes hold as many as they
 * like. Over the tenant's share the answer is 429, over the total 503; both carry Retry-After.
 */
export class UploadSlots {
  private readonly maxTotal: number;
  private readonly maxPerTenant: number;
  private readonly retryAfterSeconds: number;
  private total = 0;
  private readonly perTenant = new Map<string, number>();

  constructor(limits: { maxTotal: number; maxPerTenant: number; retryAfterSeconds?: number }) {
    this.maxTotal = limits.maxTotal;
    this.maxPerTenant = limits.maxPerTenant;
    this.retryAfterSeconds = limits.retryAfterSeconds ?? 2;
  }

  /** Take a slot for one upload of `tenantId`; the returned function gives it back (once). */
  acquire(tenantId: string): () => void {
    const held = this.perTenant.get(tenantId) ?? 0;
    const details = { retryAfterSeconds: this.retryAfterSeconds };
    if (held >= this.maxPerTenant) {
      throw new StorageError(`tenant ${tenantId} has ${held} uploads in progress, the most allowed at once (server.max_concurrent_uploads_per_tenant); retry after the others finish`, { code: 'TOO_MANY_UPLOADS', details });
    }
    if (this.total >= this.maxTotal) {
      throw new StorageError(`the server has ${this.total} uploads in progress, the most it takes at once (server.max_concurrent_uploads); retry shortly`, { code: 'SERVER_BUSY', details });
    }
    this.total++;
    this.perTenant.set(tenantId, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.perTenant.get(tenantId) ?? 1) - 1;
      if (left > 0) this.perTenant.set(tenantId, left);
      else this.perTenant.delete(tenantId);
    };
  }

  /** Uploads in progress (for /metrics and tests). */
  inProgress(): number {
    return this.total;
  }
}
