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

/**
 * A connection that stays closed only when its owner closes it (`disconnect()` or `quit()`).
 *
 * ioredis gives up on a client for good (status `end`, "Connection is closed." to every command
 * from then on) when its connector fails outright instead of handing back a stream to retry.
 * With Sentinel and the failover detector this happens in a real failover: the master dies, the
 * client reconnects and asks a sentinel for the master's address, and if the sentinels' `+switch-master`
 * arrives while that question is out, the detector clears the connector's `connecting` flag and the
 * answer is thrown away as "Connection is closed." (ioredis 5, SentinelConnector.connect). The pod
 * then never reaches Redis again: its flags are served from memory only and the insights it accepts
 * stay in its write buffer. The wider that window, the likelier: a loaded machine hits it. Here
 * an ending the owner did not ask for is followed by a new connection after the usual backoff.
 */
export class ReconnectingRedis extends Redis {
  private closing = false;
  private ended = 0;
  private revival?: NodeJS.Timeout;

  /** With `url` undefined the options alone describe the server (ioredis skips an undefined argument). */
  constructor(options: RedisOptions, url?: string) {
    super(url as string, options);
    this.on('ready', () => (this.ended = 0));
    this.on('end', () => {
      if (this.closing) return;
      this.emit('revive', ++this.ended);
      clearTimeout(this.revival);
      this.revival = setTimeout(() => {
        this.revival = undefined;
        if (!this.closing && this.status === 'end') this.connect().catch(() => undefined);
      }, retryDelay(this.ended));
      this.revival.unref();
    });
  }

  override disconnect(reconnect = false): void {
    if (!reconnect) {
      this.closing = true;
      clearTimeout(this.revival);
    }
    super.disconnect(reconnect);
  }

  override quit(callback?: Parameters<Redis['quit']>[0]): ReturnType<Redis['quit']> {
    this.closing = true;
    clearTimeout(this.revival);
    return super.quit(callback);
  }
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
    return {
      redis: new ReconnectingRedis(sentinel),
      subscriber: new ReconnectingRedis({ ...sentinel, enableOfflineQueue: true }),
      keyPrefix: options.keyPrefix,
      sharded: false,
    };
  }
  return {
    redis: new ReconnectingRedis(common, options.url),
    subscriber: new ReconnectingRedis({ ...common, enableOfflineQueue: true }, options.url),
    keyPrefix: options.keyPrefix,
    sharded: false,
  };
}
