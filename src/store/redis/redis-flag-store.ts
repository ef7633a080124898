import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import type { DataSet, EnvData, ItemKind, Secret, StoreItem } from '../data-set.js';
import type { FlagStore } from '../flag-store.js';
import { ChangeListeners } from '../change-listeners.js';
import { MemoryData, type DataChange } from '../memory-data.js';
import { StoreUnavailableError } from '../../common/agent.errors.js';
import { RedisLeaseLeadership } from './redis-leadership.js';

/**
 * Keys, under the prefix P:
 *   P:current                  the generation being served
 *   P:gen                      generation counter
 *   P:g:<gen>:items / :ts      hashes: "<kind>|<envId>|<id>" → item JSON / timestamp
 *   P:g:<gen>:envs / :secrets  JSON arrays (env order, secrets in order)
 *   P:g:<gen>:version          data version of the generation
 *   P:changes                  pub/sub channel of changes
 */

/** Switches to a fully written generation and announces it, atomically. */
const SWITCH_GENERATION = `
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
if old and old ~= ARGV[1] then
  for _, suffix in ipairs({'items', 'ts', 'envs', 'secrets', 'version'}) do
    redis.call('EXPIRE', ARGV[2] .. 'g:' .. old .. ':' .. suffix, 60)
  end
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return old`;

/**
 * Version-guarded upserts into the current generation (store rule of protocol §6.11: replace when
 * the incoming timestamp is ≥ the stored one), then one change message. Returns the fields stored.
 * ARGV: prefix, channel, origin, then field/timestamp/json triples.
 */
const UPSERT = `
local gen = redis.call('GET', KEYS[1])
if not gen then return false end
local base = ARGV[1] .. 'g:' .. gen .. ':'
local applied = {}
local version = tonumber(redis.call('GET', base .. 'version') or '0')
for i = 4, #ARGV, 3 do
  local field, ts = ARGV[i], tonumber(ARGV[i + 1])
  local held = redis.call('HGET', base .. 'ts', field)
  if (not held) or ts >= tonumber(held) then
    redis.call('HSET', base .. 'ts', field, ARGV[i + 1])
    redis.call('HSET', base .. 'items', field, ARGV[i + 2])
    applied[#applied + 1] = field
    if ts > version then version = ts end
  end
end
redis.call('SET', base .. 'version', tostring(version))
if #applied > 0 then
  redis.call('PUBLISH', ARGV[2], cjson.encode({ origin = ARGV[3], type = 'patch', gen = gen, fields = applied }))
end
return applied`;

type ChangeMessage = { origin: string; type: 'full'; gen: string; pushAll: boolean } | { origin: string; type: 'patch'; gen: string; fields: string[] };

function field(item: StoreItem): string {
  return `${item.kind}|${item.envId}|${item.id}`;
}

function parseField(text: string): { kind: ItemKind; envId: string; id: string } | null {
  const [kind, envId, ...rest] = text.split('|');
  if ((kind !== 'flag' && kind !== 'segment') || !envId || rest.length === 0) return null;
  return { kind, envId, id: rest.join('|') };
}

/**
 * Redis-backed store shared by many agent processes. Every process serves from its own memory
 * copy; Redis is the shared source of truth; every change is published and applied by every
 * process, so a change that reaches any pod reaches the SDKs of all pods. While Redis is away,
 * pods keep serving from memory; when it returns (empty after a restart without persistence),
 * the data is written back.
 */
export class RedisFlagStore implements FlagStore {
  readonly data = new MemoryData();
  readonly leadership: RedisLeaseLeadership;
  private readonly logger = new Logger(RedisFlagStore.name);
  private readonly listeners = new ChangeListeners(this.logger);
  private readonly channel: string;
  private readonly currentKey: string;
  /** Remote changes are applied one at a time, in order. */
  private inbound: Promise<void> = Promise.resolve();
  /** Memory holds changes Redis missed (written while it was away). */
  private dirty = false;
  private currentGen: string | null = null;
  private closed = false;

  private constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    readonly prefix: string,
    readonly podId: string,
    leaseMs: number,
  ) {
    this.channel = `${prefix}changes`;
    this.currentKey = `${prefix}current`;
    this.leadership = new RedisLeaseLeadership(redis, `${prefix}leader`, podId, leaseMs);
  }

  /** The command connection, shared with the insights stream. */
  get client(): Redis {
    return this.redis;
  }

  static async connect(options: { url: string; keyPrefix: string; podId: string; leaseMs: number }): Promise<RedisFlagStore> {
    const common = {
      // Fail fast while Redis is away instead of queueing: serving goes on from memory.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 6), 5000),
      lazyConnect: true,
    };
    const redis = new Redis(options.url, common);
    const subscriber = new Redis(options.url, { ...common, enableOfflineQueue: true });
    const store = new RedisFlagStore(redis, subscriber, options.keyPrefix, options.podId, options.leaseMs);
    await store.start();
    return store;
  }

  private async start(): Promise<void> {
    this.redis.on('error', (error: Error) => this.logger.debug({ msg: 'redis error', err: error.message }));
    this.subscriber.on('error', (error: Error) => this.logger.debug({ msg: 'redis subscriber error', err: error.message }));
    this.redis.on('ready', () => {
      this.logger.log({ msg: 'redis connected' });
      this.enqueue(() => this.reconcile());
    });
    this.redis.on('end', () => undefined);
    this.redis.on('close', () => {
      if (!this.closed) this.logger.warn({ msg: 'redis connection lost; serving from memory' });
    });
    this.subscriber.on('message', (_channel: string, text: string) => this.onMessage(text));
    this.subscriber.on('ready', () => void this.subscriber.subscribe(this.channel).catch(() => undefined));
    // Start-up does not wait for Redis beyond a moment: an agent without Redis still starts.
    await Promise.allSettled([withTimeout(this.redis.connect(), 3000), withTimeout(this.subscriber.connect(), 3000)]);
    await this.inbound;
    this.leadership.start();
  }

  // ---- writes ----

  async replaceAll(data: DataSet, options: { pushAll: boolean }): Promise<DataChange> {
    try {
      await this.writeGeneration(data, options.pushAll);
    } catch (error) {
      this.dirty = true;
      this.logger.warn({ msg: 'redis write failed; change kept in memory and written back when redis returns', err: String(error) });
    }
    const change = this.data.replaceAll(data, options.pushAll);
    this.listeners.emit(change);
    return change;
  }

  async applyPatch(items: StoreItem[]): Promise<DataChange> {
    if (items.length > 0) {
      try {
        const args: string[] = [this.prefix, this.channel, this.podId];
        for (const item of items) args.push(field(item), String(item.timestamp), JSON.stringify(item.json));
        const applied = (await this.redis.eval(UPSERT, 1, this.currentKey, ...args)) as string[] | null;
        if (applied === null) {
          // Redis has no generation yet (empty): write everything this agent holds plus the patch.
          this.data.applyPatch(items);
          await this.writeGeneration(this.data.snapshot(), false);
        }
      } catch (error) {
        this.dirty = true;
        this.logger.warn({ msg: 'redis upsert failed; change kept in memory', err: String(error) });
      }
    }
    const change = this.data.applyPatch(items);
    this.listeners.emit(change);
    return change;
  }

  private async writeGeneration(data: DataSet, pushAll: boolean): Promise<void> {
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
    const message: ChangeMessage = { origin: this.podId, type: 'full', gen, pushAll };
    await this.redis.eval(SWITCH_GENERATION, 1, this.currentKey, gen, this.prefix, this.channel, JSON.stringify(message));
    this.currentGen = gen;
    this.dirty = false;
  }

  // ---- reads from Redis (other pods' changes, start-up, reconnects) ----

  private async readGeneration(gen: string): Promise<DataSet | null> {
    const base = `${this.prefix}g:${gen}:`;
    const [items, stamps, envIds, secrets] = await Promise.all([
      this.redis.hgetall(`${base}items`),
      this.redis.hgetall(`${base}ts`),
      this.redis.get(`${base}envs`),
      this.redis.get(`${base}secrets`),
    ]);
    if (envIds === null) return null;
    const envs = new Map<string, EnvData>();
    const env = (envId: string): EnvData => {
      let found = envs.get(envId);
      if (!found) envs.set(envId, (found = { envId, secrets: [], flags: [], segments: [] }));
      return found;
    };
    for (const envId of JSON.parse(envIds) as string[]) env(envId);
    for (const secret of JSON.parse(secrets ?? '[]') as Secret[]) env(secret.envId).secrets.push(secret);
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
    if (message.origin === this.podId) return;
    this.enqueue(async () => {
      if (message.type === 'full') {
        const data = await this.readGeneration(message.gen);
        if (!data) return;
        this.currentGen = message.gen;
        this.listeners.emit(this.data.replaceAll(data, message.pushAll));
        return;
      }
      const fields = Array.isArray(message.fields) ? message.fields : [];
      if (fields.length === 0) return;
      const base = `${this.prefix}g:${message.gen}:`;
      const [jsons, stamps] = await Promise.all([this.redis.hmget(`${base}items`, ...fields), this.redis.hmget(`${base}ts`, ...fields)]);
      const items: StoreItem[] = [];
      fields.forEach((name, i) => {
        const json = jsons[i];
        const item = json ? this.toItem(name, json, stamps[i] ?? undefined) : null;
        if (item) items.push(item);
      });
      this.listeners.emit(this.data.applyPatch(items));
    });
  }

  /**
   * After (re)connecting: load what Redis holds, or write memory back when Redis came back empty
   * or missed changes made while it was away.
   */
  private async reconcile(): Promise<void> {
    const gen = await this.redis.get(this.currentKey);
    const redisVersion = gen === null ? -1 : Number((await this.redis.get(`${this.prefix}g:${gen}:version`)) ?? 0);
    if (this.data.isPopulated && (gen === null || (this.dirty && this.data.dataVersion >= redisVersion))) {
      this.logger.log({ msg: gen === null ? 'redis is empty; writing this agent\'s data back' : 'writing changes made while redis was away', dataVersion: this.data.dataVersion });
      await this.writeGeneration(this.data.snapshot(), false);
      return;
    }
    if (gen === null || gen === this.currentGen) return;
    const data = await this.readGeneration(gen);
    if (!data) return;
    this.currentGen = gen;
    this.listeners.emit(this.data.replaceAll(data, false));
    this.logger.log({ msg: 'data loaded from redis', generation: gen, dataVersion: this.data.dataVersion });
  }

  private enqueue(task: () => Promise<void>): void {
    this.inbound = this.inbound.then(task).catch((error: unknown) => {
      this.logger.warn({ msg: 'applying a redis change failed', err: String(error) });
    });
  }

  onChange(listener: (change: DataChange) => void): () => void {
    return this.listeners.add(listener);
  }

  async ping(): Promise<void> {
    try {
      await this.redis.ping();
    } catch (error) {
      throw new StoreUnavailableError('Redis is not available', { cause: error });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.leadership.stop();
    await this.inbound;
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
