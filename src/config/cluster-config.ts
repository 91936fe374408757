import { z } from 'zod/v3';
import { ConfigError } from '../errors.ts';
import { parseDuration } from './sizes.ts';

const duration = z.union([z.number().positive(), z.string().min(1)]);

/**
 * `cluster:` — several `serve` processes on one PostgreSQL catalog. The leader lease decides which
 * node runs the background work; `/readyz` answers from the latest background health poll.
 */
export const clusterConfigSchema = z.object({
  /** This node's name in the lease and in /readyz (default: host name, process id and a random suffix). */
  node_id: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'node ids are letters, digits, ".", "_", ":" and "-"').optional(),
  /** How long a leader's lease lasts unrenewed: a killed leader is replaced within about this long. */
  lease_ttl: duration.default('15s'),
  /** How often the leader renews its lease (and the others try to take it); default a third of lease_ttl. */
  lease_renew: duration.optional(),
  /** How often the catalog and every provider are checked in the background; /readyz shows the latest result. */
  health_interval: duration.default('5s'),
}).strict();

export type ClusterConfigInput = z.input<typeof clusterConfigSchema>;

export interface ClusterConfig {
  nodeId?: string;
  leaseTtlMs: number;
  leaseRenewMs: number;
  healthIntervalMs: number;
}

/** Durations to milliseconds, checked together: a renewal slower than the lease would lose it between renewals. */
export function resolveClusterConfig(raw: z.output<typeof clusterConfigSchema>, path: string): ClusterConfig {
  const leaseTtlMs = parseDuration(raw.lease_ttl, `${path}.lease_ttl`) * 1000;
  const leaseRenewMs = raw.lease_renew === undefined ? leaseTtlMs / 3 : parseDuration(raw.lease_renew, `${path}.lease_renew`) * 1000;
  if (leaseTtlMs < 1000) throw new ConfigError(`${path}.lease_ttl: use at least 1s (a shorter lease is lost to ordinary database latency)`);
  if (leaseRenewMs * 2 > leaseTtlMs) throw new ConfigError(`${path}.lease_renew: renew at most every half lease_ttl (${leaseTtlMs / 2000}s), so that one late renewal does not lose the lease`);
  return {
    ...(raw.node_id === undefined ? {} : { nodeId: raw.node_id }),
    leaseTtlMs,
    leaseRenewMs,
    healthIntervalMs: parseDuration(raw.health_interval, `${path}.health_interval`) * 1000,
  };
}
