import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import type { RedisStoreOptions } from '../flag-store.js';

/** First TCP keepalive probe after this much idle time: a silently dead peer is noticed. */
const KEEPALIVE_MS = 10_000;

/** Reconnect backoff: 200 ms doubling to 5 s. */
export function retryDelay(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt, 6), 5000);
}

/**
 * The command connection and the subscriber connection of the store, not yet connected, and the
 * key prefix as used.
 */
export function createRedisClients(options: RedisStoreOptions, commandTimeoutMs: number): { redis: Redis | Cluster; subscriber: Redis | Cluster; keyPrefix: string } {
  const common: RedisOptions = {
    // Fail fast while Redis is away instead of queueing: serving goes on from memory.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: retryDelay,
    lazyConnect: true,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(commandTimeoutMs, 2000),
    keepAlive: KEEPALIVE_MS,
  };
  const redis = new Redis(options.url, common);
  const subscriber = new Redis(options.url, { ...common, enableOfflineQueue: true });
  return { redis, subscriber, keyPrefix: options.keyPrefix };
}
