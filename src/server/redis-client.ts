import type { Redis } from 'ioredis';
import { ConfigError } from '../errors.ts';

/**
 * A Redis client for `redis_url`, connected before the server listens so that a wrong URL fails at
 * start-up. ioredis reconnects by itself afterwards; commands fail fast while it is away rather
 * than queue without bound.
 */
export async function openRedis(url: string): Promise<Redis> {
  const { Redis: RedisClient } = await import('ioredis');
  const client = new RedisClient(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5000 });
  client.on('error', () => undefined); // reconnects are automatic; failures surface on the commands
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    throw new ConfigError(`redis_url: cannot connect (${(error as Error).message})`, { cause: error });
  }
  return client;
}
