import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisStoreOptions } from '../flag-store.js';

/** First TCP keepalive probe after this much idle time: a silently dead peer is noticed. */
const KEEPALIVE_MS = 10_000;

/** Reconnect backoff: 200 ms doubling to 5 s. */
export function retryDelay(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt, 6), 5000);
}

/**
 * The prefix with a hash tag, so every key of one prefix (generations, index, lease, sequence,
 * the insight stream) maps to one Cluster slot and each Lua script touches that slot only. A
 * prefix that already has a tag (`{agents}:`) is kept.
 */
export function hashTagged(prefix: string): string {
  return /\{[^}]+\}/.test(prefix) ? prefix : `{${prefix}}`;
}

/** TLS options: on with a `rediss://` URL or any REDIS_TLS_* setting. Files are read here, once. */
export function tlsOptions(options: RedisStoreOptions): ConnectionOptions | undefined {
  if (!options.url.startsWith('rediss://') && options.tls === undefined) return undefined;
  const t = options.tls ?? {};
  return {
    ...(t.caFile !== undefined ? { ca: readFileSync(t.caFile) } : {}),
    ...(t.certFile !== undefined ? { cert: readFileSync(t.certFile) } : {}),
    ...(t.keyFile !== undefined ? { key: readFileSync(t.keyFile) } : {}),
    ...(t.servername !== undefined ? { servername: t.servername } : {}),
  };
}

/** Which Redis topology the options describe, for logs (never credentials). */
export function describeTopology(options: RedisStoreOptions): string {
  const tls = tlsOptions(options) !== undefined ? ' over TLS' : '';
  if (options.clusterNodes) return `cluster of ${options.clusterNodes.map((n) => `${n.host}:${n.port}`).join(',')}${tls}`;
  if (options.sentinels) return `sentinel master ${options.sentinelMaster ?? ''} via ${options.sentinels.map((n) => `${n.host}:${n.port}`).join(',')}${tls}`;
  try {
    const url = new URL(options.url);
    return `${url.protocol}//${url.host}${tls}`;
  } catch {
    return `server${tls}`;
  }
}

/**
 * The command connection and the subscriber connection of the store, not yet connected, and the
 * key prefix as used: one server (`REDIS_URL`), a Sentinel-managed master, or a Cluster.
 */
export function createRedisClients(
  options: RedisStoreOptions,
  commandTimeoutMs: number,
): { redis: Redis | Cluster; subscriber: Redis | Cluster; keyPrefix: string; sharded: boolean } {
  const tls = tlsOptions(options);
  const common: RedisOptions = {
    // Fail fast while Redis is away instead of queueing: serving goes on from memory.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: retryDelay,
    lazyConnect: true,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(commandTimeoutMs, 2000),
    keepAlive: KEEPALIVE_MS,
    // A master demoted to replica by a failover answers READONLY: reconnect to the new master.
    reconnectOnError: (error: Error) => error.message.startsWith('READONLY'),
    ...(options.username !== undefined ? { username: options.username } : {}),
    ...(options.password !== undefined ? { password: options.password } : {}),
    ...(tls ? { tls } : {}),
  };
  if (options.clusterNodes && options.clusterNodes.length > 0) {
    const clusterOptions: ClusterOptions = {
      redisOptions: common,
      enableOfflineQueue: false,
      lazyConnect: true,
      clusterRetryStrategy: retryDelay,
      slotsRefreshTimeout: Math.max(commandTimeoutMs, 1000),
      // Certificates name the hosts as given, not the addresses they resolve to.
      ...(tls ? { dnsLookup: (address: string, callback: (error: null, address: string) => void) => callback(null, address) } : {}),
    };
    return {
      redis: new Cluster(options.clusterNodes, clusterOptions),
      // Sharded pub/sub: the change channel carries the prefix's hash tag, so SPUBLISH from the
      // scripts goes to that slot's shard and every pod subscribes there.
      subscriber: new Cluster(options.clusterNodes, { ...clusterOptions, enableOfflineQueue: true, shardedSubscribers: true }),
      keyPrefix: hashTagged(options.keyPrefix),
      sharded: true,
    };
  }
  if (options.sentinels && options.sentinels.length > 0) {
    const sentinel: RedisOptions = {
      ...common,
      sentinels: options.sentinels,
      name: options.sentinelMaster ?? 'mymaster',
      sentinelRetryStrategy: retryDelay,
      failoverDetector: true,
      ...(options.sentinelPassword !== undefined ? { sentinelPassword: options.sentinelPassword } : {}),
      ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
    };
    return { redis: new Redis(sentinel), subscriber: new Redis({ ...sentinel, enableOfflineQueue: true }), keyPrefix: options.keyPrefix, sharded: false };
  }
  return {
    redis: new Redis(options.url, common),
    subscriber: new Redis(options.url, { ...common, enableOfflineQueue: true }),
    keyPrefix: options.keyPrefix,
    sharded: false,
  };
}
