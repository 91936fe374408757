import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { StorageError } from '../errors.ts';
import type { ServerConfig } from './server-config.ts';

export interface RateLimitWindow {
  max: number;
  windowMs: number;
}

export interface RateLimitSettings {
  perTenant?: RateLimitWindow;
  perAddress?: RateLimitWindow;
  /** Client addresses never limited (health checkers, the operator's own jobs). */
  allow: string[];
}

/** 429: too many requests in the window; `Retry-After` says when to come back. */
export class RateLimitedError extends StorageError {
  constructor(message: string) {
    super(message, { code: 'RATE_LIMITED' }, { code: 'RATE_LIMITED', status: 429 });
  }
}

/**
 * Limits per client address (every route, before authentication) and per tenant (the /v1 routes,
 * after it), through @fastify/rate-limit. With a Redis client the counters live in Redis and every
 * node shares them; otherwise each node counts in memory. Over the limit: 429 with Retry-After.
 * When Redis is unreachable requests are let through (a limiter must not take the service down).
 */
export async function registerAddressLimit(app: FastifyInstance, config: ServerConfig['rateLimit'], redis: Redis | undefined): Promise<void> {
  if (!config.perAddress) return;
  await app.register(rateLimit, {
    ...common(config.perAddress, redis, 'boards-rl-address:'),
    allowList: config.allow,
    keyGenerator: (request) => request.ip,
    errorResponseBuilder: (_request, context) => new RateLimitedError(`too many requests from this address: at most ${context.max} in ${windowText(config.perAddress!.windowMs)}; retry in ${context.after}`),
  });
}

/** Registered inside the authenticated scope: the tenant is known when its hook runs. */
export async function registerTenantLimit(api: FastifyInstance, config: ServerConfig['rateLimit'], redis: Redis | undefined, tenantOf: (request: FastifyRequest) => string): Promise<void> {
  if (!config.perTenant) return;
  await api.register(rateLimit, {
    ...common(config.perTenant, redis, 'boards-rl-tenant:'),
    allowList: (request) => config.allow.includes(request.ip),
    keyGenerator: (request) => {
      try {
        return `t:${tenantOf(request)}`;
      } catch {
        // A service token that names no tenant: its own subject is the budget.
        return `s:${request.principal?.subject ?? request.ip}`;
      }
    },
    errorResponseBuilder: (_request, context) => new RateLimitedError(`too many requests for this tenant: at most ${context.max} in ${windowText(config.perTenant!.windowMs)}; retry in ${context.after}`),
  });
}

function common(window: RateLimitWindow, redis: Redis | undefined, nameSpace: string) {
  return {
    global: true,
    max: window.max,
    timeWindow: window.windowMs,
    skipOnError: true,
    ...(redis ? { redis, nameSpace } : {}),
  };
}

function windowText(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}
