import { errorDetail } from '../../common/error-detail.js';
import { Logger } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import type { DataSet, EnvData, ItemKind, Secret, StoreItem } from '../data-set.js';
import type { FlagStore, RedisStoreOptions, StoreHealth } from '../flag-store.js';
import { ChangeListeners } from '../change-listeners.js';
import { MemoryData, type DataChange } from '../memory-data.js';
import { StoreUnavailableError } from '../../common/agent.errors.js';
import { RedisLeaseLeadership } from './redis-leadership.js';
import { createRedisClients, describeTopology } from './redis-connection.js';

/**
 * Keys, under the prefix P (in Cluster mode P carries a hash tag, so every key below, and the
 * insight stream, lives on one slot and each script touches that slot only):
 *   P:current                  the generation being served
 *   P:gen                      generation counter
 *   P:seq                      change sequence: every applied write (switch or patch) advances it
 *   P:leader / P:fence         leader lease (value: fencing token `<pod>#<n>`) / token counter
 *   P:g:<gen>:items / :ts      hashes: "<kind>|<envId>|<id>" → item JSON / timestamp
 *   P:g:<gen>:envs / :secrets  JSON arrays (env order, secrets in order)
 *   P:g:<gen>:version          data version of the generation
 *   P:changes                  pub/sub channel of changes (sharded in Cluster mode); every message carries its seq
 */

/**
 * Switches to a fully written generation and announces it, atomically. Refuses (and deletes the
 * written generation) when the fencing token no longer holds the lease, when the generation is
 * not newer than the current one, in `empty` mode when Redis already has a generation, and in
 * `cas` mode when the sequence moved since the writer last saw Redis.
 * KEYS: current, seq, lease. ARGV: gen, prefix, channel, origin, pushAll, token, mode, expected seq,
 * publish command (`PUBLISH`, or `SPUBLISH` in Cluster mode: the channel carries the keys' hash tag).
 */
const SWITCH_GENERATION = `
local old = redis.call('GET', KEYS[1])
local function refuse(reason)
  if old ~= ARGV[1] then
    for _, suffix in ipairs({'items', 'ts', 'envs', 'secrets', 'version'}) do
      redis.call('DEL', ARGV[2] .. 'g:' .. ARGV[1] .. ':' .. suffix)
    end
  end
  return {reason, 0}
end
if ARGV[6] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[6] then return refuse('stale-token') end
if ARGV[7] == 'empty' and old then return refuse('not-empty') end
if ARGV[7] == 'cas' and (redis.call('GET', KEYS[2]) or '0') ~= ARGV[8] then return refuse('moved') end
if old and tonumber(old) >= tonumber(ARGV[1]) then return refuse('older') end
redis.call('SET', KEYS[1], ARGV[1])
local seq = redis.call('INCR', KEYS[2])
if old then
  for _, suffix in ipairs({'items', 'ts', 'envs', 'secrets', 'version'}) do
    redis.call('EXPIRE', ARGV[2] .. 'g:' .. old .. ':' .. suffix, 60)
  end
end
redis.call(ARGV[9], ARGV[3], cjson.encode({ origin = ARGV[4], type = 'full', gen = ARGV[1], pushAll = ARGV[5] == '1', seq = seq }))
return {'ok', seq}`;

/**
 * Version-guarded upserts into the current generation (store rule of protocol §6.11: replace when
 * the incoming timestamp is ≥ the stored one), then one change message with the new seq.
 * KEYS: current, seq, lease. ARGV: prefix, channel, origin, token, publish command, then field/timestamp/json triples.
 */
const UPSERT = `
if ARGV[4] ~= '' and redis.call('GET', KEYS[3]) ~= ARGV[4] then return {'stale-token', 0} end
local gen = redis.call('GET', KEYS[1])
if not gen then return {'empty', 0} end
local base = ARGV[1] .. 'g:' .. gen .. ':'
local applied = {}
local version = tonumber(redis.call('GET', base .. 'version') or '0')
for i = 6, #ARGV, 3 do
  local field, ts = ARGV[i], tonumber(ARGV[i + 1])
  local held = redis.call('HGET', base .. 'ts', field)
  if (not held) or ts >= tonumber(held) then
    redis.call('HSET', base .. 'ts', field, ARGV[i + 1])
    redis.call('HSET', base .. 'items', field, ARGV[i + 2])
    applied[#applied + 1] = field
    if ts > version then version = ts end
  end
end
if #applied == 0 then return {'ok', 0} end
redis.call('SET', base .. 'version', tostring(version))
local seq = redis.call('INCR', KEYS[2])
redis.call(ARGV[5], ARGV[2], cjson.encode({ origin = ARGV[3], type = 'patch', gen = gen, fields = applied, seq = seq }))
return {'ok', seq}`;

/** The current generation with the seq it stands for, read atomically. KEYS: current, seq. ARGV: prefix. */
const READ_STATE = `
local gen = redis.call('GET', KEYS[1])
local seq = redis.call('GET', KEYS[2]) or '0'
if not gen then return {'', seq} end
local base = ARGV[1] .. 'g:' .. gen .. ':'
local envs = redis.call('GET', base .. 'envs')
if not envs then return {gen, seq} end
return {gen, seq, redis.call('HGETALL', base .. 'items'), redis.call('HGETALL', base .. 'ts'), envs, redis.call('GET', base .. 'secrets') or '[]'}`;

type ChangeMessage =
  | { origin: string; type: 'full'; gen: string; seq?: number; pushAll: boolean }
  | { origin: string; type: 'patch'; gen: string; seq?: number; fields: string[] };

/** `write`: a normal full replace; `empty`: write-back into an empty Redis; `cas`: write-back if nobody wrote since. */
type WriteMode = 'write' | 'empty' | 'cas';
type WriteOutcome = 'ok' | 'stale-token' | 'not-empty' | 'moved' | 'older';

const DEFAULT_COMMAND_TIMEOUT_MS = 2000;
const DEFAULT_RECONCILE_INTERVAL_MS = 10_000;
/** Readiness must answer within a second whatever Redis does. */
const PING_BOUND_MS = 800;

function field(item: StoreItem): string {
  return `${item.kind}|${item.envId}|${item.id}`;
}

function parseField(text: string): { kind: ItemKind; envId: string; id: string } | null {
  const [kind, envId, ...rest] = text.split('|');
  if ((kind !== 'flag' && kind !== 'segment') || !envId || rest.length === 0) return null;
  return { kind, envId, id: rest.join('|') };
}

function pairs(flat: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

/**
 * Redis-backed store shared by many agent processes. Every process serves from its own memory
 * copy; Redis is the shared source of truth; every change is published with a sequence number
 * and applied by every process, so a change that reaches any pod reaches the SDKs of all pods.
 *
 * Convergence does not rest on pub/sub alone: a pod compares its (generation, seq) with Redis's
 * after every (re)connect and (re)subscribe, whenever a message skips a seq, and on a timer
 * (RECONCILE_INTERVAL_SECONDS), and reloads when they differ. While Redis is away or hung, pods
 * keep serving from memory; every command is bounded (REDIS_COMMAND_TIMEOUT_MS).
 *
 * Writes made by the leader carry its fencing token. Changes Redis missed are written back only
 * when that is safe: by the lease holder into an empty Redis, with a still-valid token, or when
 * nobody wrote since this pod last saw Redis; otherwise Redis's newer state is adopted.
 */
export class RedisFlagStore implements FlagStore {
  readonly data = new MemoryData();
  readonly leadership: RedisLeaseLeadership;
  private readonly logger = new Logger(RedisFlagStore.name);
  private readonly listeners = new ChangeListeners(this.logger);
  private readonly channel: string;
  private readonly currentKey: string;
  private readonly seqKey: string;
  private readonly leaseKey: string;
  private readonly commandTimeoutMs: number;
  private readonly reconcileIntervalMs: number;
  /** Writes, remote changes and reconciles run one at a time, in order. */
  private queue: Promise<void> = Promise.resolve();
  /** Memory holds changes Redis missed; `token`: the lease they were made under ('' = none). */
  private dirty: { token: string } | null = null;
  private currentGen: string | null = null;
  /** Seq of Redis's state this copy includes. */
  private appliedSeq = 0;
  private reconcileQueued = false;
  private subscribed = false;
  private lastReconciledAt: number | null = null;
  private failure: 'unreachable' | 'timing-out' | null = null;
  private timeouts = 0;
  private timer?: NodeJS.Timeout;
  private closed = false;

  private constructor(
    private readonly redis: Redis | Cluster,
    private readonly subscriber: Redis | Cluster,
    /** The key prefix as used (hash-tagged in Cluster mode). */
    readonly prefix: string,
    readonly podId: string,
    options: RedisStoreOptions,
    /** Cluster mode: sharded pub/sub (SPUBLISH/SSUBSCRIBE) on the slot of the prefix. */
    private readonly sharded: boolean,
  ) {
    this.channel = `${prefix}changes`;
    this.currentKey = `${prefix}current`;
    this.seqKey = `${prefix}seq`;
    this.leaseKey = `${prefix}leader`;
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.reconcileIntervalMs = options.reconcileIntervalMs ?? DEFAULT_RECONCILE_INTERVAL_MS;
    this.leadership = new RedisLeaseLeadership(redis, this.leaseKey, `${prefix}fence`, podId, options.leaseMs);
  }

  /** The command connection, shared with the insights stream. */
  get client(): Redis {
    // A Cluster answers the same single-key commands the insight queue uses.
    return this.redis as Redis;
  }

  static async connect(options: RedisStoreOptions): Promise<RedisFlagStore> {
    const { redis, subscriber, keyPrefix, sharded } = createRedisClients(options, options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS);
    const store = new RedisFlagStore(redis, subscriber, keyPrefix, options.podId, options, sharded);
    store.logger.log({ msg: 'redis store', topology: describeTopology(options), keyPrefix });
    await store.start();
    return store;
  }

  /** The last connection error ioredis reported, named when the connection is lost. */
  private lastError?: Error;

  private async start(): Promise<void> {
    this.redis.on('error', (error: Error) => {
      this.lastError = error;
      this.logger.debug({ msg: 'redis error', ...errorDetail(error) });
    });
    this.subscriber.on('error', (error: Error) => this.logger.debug({ msg: 'redis subscriber error', ...errorDetail(error) }));
    // ReconnectingRedis: ioredis had given up on a connection (see there); it is being made again.
    for (const [client, name] of [
      [this.redis, 'command'],
      [this.subscriber, 'subscriber'],
    ] as const) {
      client.on('revive', (attempt: number) =>
        this.logger.warn({ msg: 'redis client had stopped reconnecting; connecting again', connection: name, attempt, ...(this.lastError ? errorDetail(this.lastError) : {}) }),
      );
    }
    this.redis.on('ready', () => {
      this.logger.log({ msg: 'redis connected' });
      this.failure = null;
      this.enqueueReconcile();
    });
    this.redis.on('close', () => {
      if (this.closed) return;
      this.failure = 'unreachable';
      this.logger.warn({ msg: 'redis connection lost; serving from memory', ...(this.lastError ? errorDetail(this.lastError) : {}) });
    });
    this.subscriber.on(this.sharded ? 'smessage' : 'message', (_channel: string, text: string) => this.onMessage(text));
    this.subscriber.on('close', () => (this.subscribed = false));
    if (this.sharded) {
      // A shard's subscriber was replaced (failover, resharding): messages may have been missed.
      this.subscriber.on('+subscriber', () => this.enqueueReconcile());
      this.subscriber.on('subscribersReady', () => this.enqueueReconcile());
    }
    // After every (re)subscribe: compare with Redis, since messages sent meanwhile are lost.
    this.subscriber.on('ready', () => {
      const subscribing = this.sharded ? (this.subscriber as Cluster).ssubscribe(this.channel) : this.subscriber.subscribe(this.channel);
      subscribing.then(
        () => {
          this.subscribed = true;
          this.enqueueReconcile();
        },
        (error: unknown) => this.logger.warn({ msg: 'redis subscribe failed', ...errorDetail(error) }),
      );
    });
    this.leadership.onChange(() => this.enqueueReconcile());
    // Start-up does not wait for Redis beyond a moment: an agent without Redis still starts.
    await Promise.allSettled([withTimeout(this.redis.connect(), 3000), withTimeout(this.subscriber.connect(), 3000)]);
    await this.queue;
    this.leadership.start();
    this.timer = setInterval(() => this.enqueueReconcile(), this.reconcileIntervalMs);
    this.timer.unref();
  }

  // ---- writes ----

  replaceAll(data: DataSet, options: { pushAll: boolean; fenced?: boolean }): Promise<DataChange> {
    return this.serial(async () => {
      let token = this.leadership.token ?? '';
      try {
        let outcome = await this.writeGeneration(data, options.pushAll, 'write', token);
        if (outcome === 'stale-token') {
          this.leadership.lost(token);
          // An operator's data is not a deposed leader's stale copy: written again as a follower
          // writes. (It was dropped, and answered 200, when Redis came back empty after a failover
          // and this pod still held its old token; its write-back of the older data then won.)
          if (options.fenced !== false) return { envs: [] };
          token = '';
          outcome = await this.writeGeneration(data, options.pushAll, 'write', token);
        }
        if (outcome !== 'ok') {
          // A newer generation was switched in meanwhile: Redis's state wins.
          this.enqueueReconcile();
          return { envs: [] };
        }
      } catch (error) {
        this.markDirty(token, error);
      }
      const change = this.data.replaceAll(data, options.pushAll);
      this.listeners.emit(change);
      return change;
    });
  }

  applyPatch(items: StoreItem[]): Promise<DataChange> {
    return this.serial(async () => {
      if (items.length > 0) {
        const token = this.leadership.token ?? '';
        try {
          const args: string[] = [this.prefix, this.channel, this.podId, token, this.sharded ? 'SPUBLISH' : 'PUBLISH'];
          for (const item of items) args.push(field(item), String(item.timestamp), JSON.stringify(item.json));
          const [outcome, seq] = (await this.redis.eval(UPSERT, 3, this.currentKey, this.seqKey, this.leaseKey, ...args)) as [string, number];
          this.failure = null;
          if (outcome === 'stale-token') {
            this.leadership.lost(token);
            return { envs: [] };
          }
          if (outcome === 'empty') {
            // Redis has no generation yet (empty): the lease holder writes everything plus the patch.
            const change = this.data.applyPatch(items);
            this.listeners.emit(change);
            if (token === '' || (await this.writeGeneration(this.data.snapshot(), false, 'empty', token)) !== 'ok') this.enqueueReconcile();
            return change;
          }
          if (seq === this.appliedSeq + 1) this.appliedSeq = seq;
        } catch (error) {
          this.markDirty(token, error);
        }
      }
      const change = this.data.applyPatch(items);
      this.listeners.emit(change);
      return change;
    });
  }

  private markDirty(token: string, error: unknown): void {
    this.noteFailure(error);
    this.dirty = this.dirty === null || this.dirty.token === token ? { token } : { token: '' };
    this.logger.warn({ msg: 'redis write failed; change kept in memory and written back when redis answers', ...errorDetail(error) });
  }

  private async writeGeneration(data: DataSet, pushAll: boolean, mode: WriteMode, token: string): Promise<WriteOutcome> {
    const expected = String(this.appliedSeq);
    const gen = String(await this.redis.incr(`${this.prefix}gen`));
    const base = `${this.prefix}g:${gen}:`;
    let version = 0;
    const pipeline = this.redis.pipeline();
    pipeline.del(`${base}items`, `${base}ts`, `${base}envs`, `${base}secrets`, `${base}version`);
    const items: string[] = [];
    const stamps: string[] = [];
    for (const env of data.envs) {
      for (const item of [...env.flags, ...env.segments]) {
        items.push(field(item), JSON.stringify(item.json));
        stamps.push(field(item), String(item.timestamp));
        version = Math.max(version, item.timestamp);
      }
    }
    for (let i = 0; i < items.length; i += 1000) {
      pipeline.hset(`${base}items`, ...items.slice(i, i + 1000));
      pipeline.hset(`${base}ts`, ...stamps.slice(i, i + 1000));
    }
    pipeline.set(`${base}envs`, JSON.stringify(data.envs.map((e) => e.envId)));
    pipeline.set(`${base}secrets`, JSON.stringify(data.envs.flatMap((e) => e.secrets)));
    pipeline.set(`${base}version`, String(version));
    const results = await pipeline.exec();
    const failed = results?.find(([error]) => error);
    if (failed?.[0]) throw failed[0];
    const [outcome, seq] = (await this.redis.eval(
      SWITCH_GENERATION,
      3,
      this.currentKey,
      this.seqKey,
      this.leaseKey,
      gen,
      this.prefix,
      this.channel,
      this.podId,
      pushAll ? '1' : '0',
      token,
      mode,
      expected,
      this.sharded ? 'SPUBLISH' : 'PUBLISH',
    )) as [WriteOutcome, number];
    this.failure = null;
    if (outcome !== 'ok') {
      this.logger.warn({ msg: 'redis refused a generation switch', why: outcome, mode });
      return outcome;
    }
    this.currentGen = gen;
    this.appliedSeq = seq;
    this.dirty = null;
    this.lastReconciledAt = Date.now();
    return 'ok';
  }

  // ---- reads from Redis (other pods' changes, start-up, reconnects, the timer) ----

  /** Loads Redis's current state into memory; false when Redis has no (readable) generation. */
  private async load(pushAll: boolean): Promise<boolean> {
    const reply = (await this.redis.eval(READ_STATE, 2, this.currentKey, this.seqKey, this.prefix)) as unknown[];
    this.failure = null;
    const gen = String(reply[0]);
    const seq = Number(reply[1]);
    if (gen === '' || reply.length < 6) {
      if (gen !== '') this.logger.warn({ msg: 'redis generation is incomplete; keeping memory', generation: gen });
      this.currentGen = gen === '' ? null : gen;
      this.appliedSeq = seq;
      return false;
    }
    const data = this.toDataSet(pairs(reply[2]), pairs(reply[3]), String(reply[4]), String(reply[5]));
    const change = this.data.replaceAll(data, pushAll);
    this.currentGen = gen;
    this.appliedSeq = seq;
    this.lastReconciledAt = Date.now();
    this.listeners.emit(change);
    if (change.envs.length > 0) this.logger.log({ msg: 'data loaded from redis', generation: gen, seq, dataVersion: this.data.dataVersion });
    return true;
  }

  private toDataSet(items: Record<string, string>, stamps: Record<string, string>, envIds: string, secrets: string): DataSet {
    const envs = new Map<string, EnvData>();
    const env = (envId: string): EnvData => {
      let found = envs.get(envId);
      if (!found) envs.set(envId, (found = { envId, secrets: [], flags: [], segments: [] }));
      return found;
    };
    for (const envId of JSON.parse(envIds) as string[]) env(envId);
    for (const secret of JSON.parse(secrets) as Secret[]) env(secret.envId).secrets.push(secret);
    for (const [name, json] of Object.entries(items)) {
      const item = this.toItem(name, json, stamps[name]);
      if (item) (item.kind === 'flag' ? env(item.envId).flags : env(item.envId).segments).push(item);
    }
    return { envs: [...envs.values()] };
  }

  private toItem(name: string, json: string, stamp: string | undefined): StoreItem | null {
    const id = parseField(name);
    if (!id) return null;
    return { ...id, timestamp: Number(stamp ?? 0), json: JSON.parse(json) as Record<string, unknown> };
  }

  private onMessage(text: string): void {
    let message: ChangeMessage;
    try {
      message = JSON.parse(text) as ChangeMessage;
    } catch {
      return;
    }
    void this.serial(async () => {
      const seq = Number(message.seq ?? 0);
      // Already part of this copy (a reload or this pod's own write got there first).
      if (seq <= this.appliedSeq) return;
      if (message.type === 'patch' && message.gen === this.currentGen && seq === this.appliedSeq + 1) {
        if (message.origin !== this.podId) await this.applyRemotePatch(message.gen, Array.isArray(message.fields) ? message.fields : []);
        this.appliedSeq = seq;
        return;
      }
      // A generation switch, or a gap in the sequence: messages were missed. Reload.
      await this.load(message.type === 'full' ? message.pushAll === true : false);
    }).catch((error: unknown) => this.taskFailed(error));
  }

  private async applyRemotePatch(gen: string, fields: string[]): Promise<void> {
    if (fields.length === 0) return;
    const base = `${this.prefix}g:${gen}:`;
    const [jsons, stamps] = await Promise.all([this.redis.hmget(`${base}items`, ...fields), this.redis.hmget(`${base}ts`, ...fields)]);
    const items: StoreItem[] = [];
    fields.forEach((name, i) => {
      const json = jsons[i];
      const item = json ? this.toItem(name, json, stamps[i] ?? undefined) : null;
      if (item) items.push(item);
    });
    this.listeners.emit(this.data.applyPatch(items));
  }

  /**
   * Compares this copy with Redis and converges: writes back changes Redis missed when that is
   * safe, fills an empty Redis (the lease holder only), or reloads when Redis moved on.
   */
  private async reconcile(): Promise<void> {
    const [gen, seqText] = await this.redis.mget(this.currentKey, this.seqKey);
    this.failure = null;
    const seq = Number(seqText ?? 0);
    const token = this.leadership.token;
    if (this.dirty !== null || (gen === null && this.data.isPopulated && token !== null)) {
      const dirty = this.dirty;
      const fenced = dirty !== null && dirty.token !== '' && dirty.token === token;
      let outcome: WriteOutcome | 'skipped' = 'skipped';
      if (gen === null && token !== null) outcome = await this.writeGeneration(this.data.snapshot(), false, 'empty', token);
      else if (fenced) outcome = await this.writeGeneration(this.data.snapshot(), false, 'write', token);
      else if (dirty !== null) outcome = await this.writeGeneration(this.data.snapshot(), false, 'cas', '');
      if (outcome === 'ok') {
        this.logger.log({ msg: gen === null ? "redis was empty; this agent's data written back" : 'changes made while redis was away written back', dataVersion: this.data.dataVersion });
        return;
      }
      if (dirty !== null) {
        this.dirty = null;
        this.logger.warn({ msg: 'changes made while redis was away are not written back: redis moved on or this pod lost the lease; adopting redis', why: outcome });
      }
    }
    if (gen === null) {
      // Empty Redis: keep serving memory until the lease holder writes it back.
      this.currentGen = null;
      this.appliedSeq = seq;
      this.lastReconciledAt = Date.now();
      return;
    }
    if (gen === this.currentGen && seq === this.appliedSeq) {
      this.lastReconciledAt = Date.now();
      return;
    }
    await this.load(false);
  }

  private enqueueReconcile(): void {
    if (this.reconcileQueued || this.closed) return;
    this.reconcileQueued = true;
    void this.serial(() => {
      this.reconcileQueued = false;
      // Not connected: the 'ready' event reconciles once the connection is back.
      if (this.redis.status !== 'ready') return Promise.resolve();
      return this.reconcile();
    }).catch((error: unknown) => this.taskFailed(error));
  }

  private taskFailed(error: unknown): void {
    this.noteFailure(error);
    this.logger.warn({ msg: 'comparing with redis failed; serving from memory', ...errorDetail(error) });
  }

  private noteFailure(error: unknown): void {
    const text = String(error);
    if (/timed out/i.test(text)) {
      this.failure = 'timing-out';
      this.timeouts++;
    } else {
      this.failure = 'unreachable';
    }
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  onChange(listener: (change: DataChange) => void): () => void {
    return this.listeners.add(listener);
  }

  health(): StoreHealth {
    const age = this.lastReconciledAt === null ? null : Math.max(0, Date.now() - this.lastReconciledAt);
    const overdue = age === null || age > 2 * this.reconcileIntervalMs + this.commandTimeoutMs;
    return {
      state: this.failure ?? 'ok',
      stale: this.dirty !== null || !this.subscribed || overdue,
      lastReconcileAgeSeconds: age === null ? null : Math.round(age / 1000),
      timeouts: this.timeouts,
    };
  }

  async ping(): Promise<void> {
    try {
      await withTimeout(this.redis.ping(), Math.min(this.commandTimeoutMs, PING_BOUND_MS));
      if (this.failure === 'timing-out' || this.redis.status === 'ready') this.failure = null;
    } catch (error) {
      this.noteFailure(error);
      throw new StoreUnavailableError(/timed out/i.test(String(error)) ? 'Redis is not answering (timed out)' : 'Redis is not available', { cause: error });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.leadership.stop();
    await this.queue;
    this.subscriber.disconnect();
    this.redis.disconnect();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
