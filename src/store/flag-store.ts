import type { DataSet, StoreItem } from './data-set.js';
import type { DataChange, MemoryData } from './memory-data.js';
import type { Leadership } from './leadership.js';

/**
 * The flag and segment data this agent serves. One instance per process.
 * Reads are synchronous from `data` (every provider serves from memory); writes go through the
 * provider's backend first, then memory, then listeners hear what changed.
 */
export interface FlagStore {
  /** The serving copy. Never written to directly: use replaceAll/applyPatch. */
  readonly data: MemoryData;
  /**
   * Replaces all data atomically. `pushAll`: every env of `data` is reported as fully changed.
   * `fenced` (default true; shared stores only): the write is dropped once this process has lost
   * the cluster lease, as for FeatBit's data, which the new leader syncs itself. `false` for data an
   * operator gave this process (a bootstrap, the data file): it is the newest there is, whoever leads.
   */
  replaceAll(data: DataSet, options: { pushAll: boolean; fenced?: boolean }): Promise<DataChange>;
  /** Stores only items newer than (or as new as) what is held; resolves to what changed. */
  applyPatch(items: StoreItem[]): Promise<DataChange>;
  /** Called after every change, local or (for shared stores) made by another agent process. */
  onChange(listener: (change: DataChange) => void): () => void;
  /** Whether this process syncs upstream (shared stores elect one leader per cluster). */
  readonly leadership: Leadership;
  /** Throws a StoreUnavailableError when the backend cannot be reached (answers within a second). */
  ping(): Promise<void>;
  /** Shared stores: whether this process is in step with the backend (status, metrics, readiness). */
  health?(): StoreHealth;
  close(): Promise<void>;
  /** Whether writes reach the backend (absent: nothing to report). Serving never depends on it. */
  readonly persistence?: PersistenceStatus;
}

/**
 * `degraded`: the backend refuses writes (disk full, I/O error, no usable file), memory serves the
 * newest data and the backend is brought up to date when it accepts writes again.
 */
export interface PersistenceStatus {
  readonly state: 'ok' | 'degraded';
  /** Short, bounded reason while degraded: `disk-full`, `io-error`, `busy`, `corrupt`, `read-only`, `no-file`, `write-failed`. */
  readonly problem: string | null;
  /** When the current degraded period began. */
  readonly since: Date | null;
  /** Writes that failed since start (each failed attempt counts). */
  readonly writeFailures: number;
}

export const FLAG_STORE = Symbol('FLAG_STORE');

export type StoreOptions =
  | { type: 'memory' }
  | { type: 'sqlite'; path: string; busyTimeoutMs?: number; writeRetry?: { baseMs: number; capMs: number } }
  | ({ type: 'redis' } & RedisStoreOptions);

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  podId: string;
  leaseMs: number;
  /** Bound of every Redis command (REDIS_COMMAND_TIMEOUT_MS). */
  commandTimeoutMs?: number;
  /** How often a pod compares its copy with Redis (RECONCILE_INTERVAL_SECONDS). */
  reconcileIntervalMs?: number;
  /** Override the URL's credentials (REDIS_USERNAME, REDIS_PASSWORD). */
  username?: string;
  password?: string;
  /** TLS beyond what a `rediss://` URL turns on: CA, client certificate and key files, server name. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string; servername?: string };
  /** Sentinel mode (instead of the URL's host). */
  sentinels?: { host: string; port: number }[];
  sentinelMaster?: string;
  sentinelPassword?: string;
  /** Cluster mode (instead of the URL's host). */
  clusterNodes?: { host: string; port: number }[];
}

/** How a shared store is doing, for status, metrics and readiness. */
export interface StoreHealth {
  /** `ok`; `unreachable` (connection refused or closed); `timing-out` (connected, no answers). */
  state: 'ok' | 'unreachable' | 'timing-out';
  /** Memory may differ from the backend: changes not yet written, or no successful comparison lately. */
  stale: boolean;
  /** Seconds since this process last confirmed its copy equals the backend's (null: never). */
  lastReconcileAgeSeconds: number | null;
  /** Commands that timed out since start. */
  timeouts: number;
}
