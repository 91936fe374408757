import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { LeaseClaim, LeaseRecords } from '../catalog/lease-records.ts';

/** What /readyz and /metrics say about leadership. */
export interface LeadershipStatus {
  /** This node's id. */
  node: string;
  /** Whether this node runs the background work now. */
  leader: boolean;
  /** The node holding the lease, when one does and this one could ask (undefined: unknown or nobody). */
  holder?: string;
  /** The lease's term: it grows at every hand-over. */
  term?: number;
  /**
   * `single-node`: a SQLite catalog, this node is always the leader; `lease`: a PostgreSQL lease
   * row; `worker`: one of the worker processes of `serve --workers N` on a SQLite catalog, where
   * worker 1 leads and the others never do.
   */
  mode: 'single-node' | 'lease' | 'worker';
}

export interface LeaderLeaseOptions {
  /** The lease's name: one leader per name among the processes sharing the catalog. */
  name?: string;
  nodeId?: string;
  ttlMs: number;
  renewMs: number;
  /** Attempts that failed (the catalog unreachable); the lease is kept until it would have expired. */
  onError?: (error: unknown) => void;
  /** A worker of `serve --workers N`: without a lease store it leads only when `leads` (worker 1). */
  worker?: { leads: boolean };
}

/** A default node id: unique per process, readable by an operator. */
export function defaultNodeId(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/**
 * Leadership among the nodes sharing one catalog, so that background work runs on one node at a
 * time and moves to another when that node dies.
 *
 * On PostgreSQL it is a lease row (LeaseRecords) with an expiry in the database's clock, renewed
 * every `renewMs` and taken by any node once `ttlMs` has passed unrenewed. A row rather than a
 * session advisory lock: a lock lives as long as one connection, so a connection dropped by a
 * proxy or a database restart hands the work over while the old holder, not told, keeps working;
 * a row's expiry is known to its holder, which stops leading when it could not renew in time
 * (measured from before the renewal was sent, on the monotonic clock, so it stops no later than
 * the database lets anyone else in). A killed leader is replaced within `ttlMs + renewMs`.
 *
 * Without a lease store (a SQLite catalog serves one host) this node is always the leader.
 */
export class LeaderLease {
  readonly nodeId: string;
  private readonly name: string;
  private readonly store: LeaseRecords | undefined;
  private readonly options: LeaderLeaseOptions;
  private readonly listeners = new Set<(leader: boolean) => void>();
  private leading = false;
  private last: LeaseClaim | undefined;
  /** When (performance.now()) this node's lease runs out unless renewed. */
  private validUntil = 0;
  private renewTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private attempt: Promise<void> | undefined;
  private stopped = false;

  constructor(store: LeaseRecords | undefined, options: LeaderLeaseOptions) {
    this.store = store;
    this.options = options;
    this.name = options.name ?? 'background-work';
    this.nodeId = options.nodeId ?? defaultNodeId();
  }

  /** Take part: the first attempt is awaited (so a lone node starts as the leader), then renewals run in the background. */
  async start(): Promise<void> {
    if (!this.store) {
      this.setLeading(this.options.worker?.leads ?? true);
      return;
    }
    await this.tryClaim();
    this.renewTimer = setInterval(() => { void this.tryClaim(); }, this.options.renewMs);
    this.renewTimer.unref();
  }

  get isLeader(): boolean {
    return this.leading;
  }

  status(): LeadershipStatus {
    if (!this.store && this.options.worker) return { node: this.nodeId, leader: this.leading, mode: 'worker' };
    if (!this.store) return { node: this.nodeId, leader: true, holder: this.nodeId, mode: 'single-node' };
    return {
      node: this.nodeId, leader: this.leading, mode: 'lease',
      ...(this.last?.holder === undefined ? {} : { holder: this.last.holder }),
      ...(this.last?.term === undefined ? {} : { term: this.last.term }),
    };
  }

  /** Called with true when this node becomes the leader and false when it stops being one; returns an unsubscribe. */
  onChange(listener: (leader: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stop taking part; a held lease is released so that another node takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.renewTimer);
    clearTimeout(this.expiryTimer);
    await this.attempt;
    const wasLeading = this.leading;
    this.setLeading(false);
    if (wasLeading && this.store) await this.store.release(this.name, this.nodeId).catch((error: unknown) => this.options.onError?.(error));
  }

  private tryClaim(): Promise<void> {
    // One attempt at a time: a slow database must not pile renewals up.
    this.attempt ??= this.claimOnce().finally(() => { this.attempt = undefined; });
    return this.attempt;
  }

  private async claimOnce(): Promise<void> {
    const sentAt = performance.now();
    let claim: LeaseClaim;
    try {
      claim = await this.store!.claim(this.name, this.nodeId, this.options.ttlMs);
    } catch (error) {
      // Keep leading until the lease would have expired: the expiry timer ends it then.
      this.options.onError?.(error);
      return;
    }
    if (this.stopped) return;
    this.last = claim;
    if (!claim.held) {
      this.setLeading(false);
      return;
    }
    // The database counted its ttl from a moment after sentAt: the lease is ours at least until sentAt + ttl.
    this.validUntil = sentAt + this.options.ttlMs;
    if (performance.now() >= this.validUntil) {
      // The answer came too late to act on: another node may already hold the lease.
      this.setLeading(false);
      return;
    }
    this.armExpiry();
    this.setLeading(true);
  }

  /** Stop leading when the lease runs out unrenewed (a renewal re-arms it). */
  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    const left = this.validUntil - performance.now();
    if (left <= 0) {
      this.setLeading(false);
      return;
    }
    this.expiryTimer = setTimeout(() => this.armExpiry(), left + 1);
    this.expiryTimer.unref();
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    for (const listener of this.listeners) listener(leading);
  }
}

/**
 * Run background work only while `lease` says this node leads: `start` when it becomes the leader,
 * the function `start` returned when it stops (awaited before the next start). Returns a function
 * that stops the work for good.
 */
export function whileLeader(lease: LeaderLease, start: () => () => Promise<void>): () => Promise<void> {
  let stopWork: (() => Promise<void>) | undefined;
  let transitions = Promise.resolve();
  let closed = false;
  const apply = (leader: boolean) => {
    transitions = transitions.then(async () => {
      if (leader && !closed && !stopWork) stopWork = start();
      else if ((!leader || closed) && stopWork) {
        const stop = stopWork;
        stopWork = undefined;
        await stop();
      }
    });
  };
  const unsubscribe = lease.onChange(apply);
  if (lease.isLeader) apply(true);
  return async () => {
    closed = true;
    unsubscribe();
    apply(false);
    await transitions;
  };
}
