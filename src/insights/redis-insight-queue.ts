import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { Cluster, type Redis } from 'ioredis';
import { hashTagged } from '../store/redis/redis-connection.js';
import { ThrottledLog, queueBounds, type InsightBatch, type InsightQueue, type QueueBounds, type QueuedInsight } from './insight-queue.js';
import { WriteBuffer } from './write-buffer.js';

/** A stream entry as XREADGROUP/XAUTOCLAIM give it; fields are null when the entry was deleted while pending. */
type StreamEntry = [string, string[] | null];

/**
 * Appends entries, then deletes the oldest while the stream is over either bound; the byte count
 * lives in the meta hash. Refuses (returns -1) when the meta hash does not carry the caller's
 * epoch: the stream was reset (FLUSHALL, eviction, failover to an empty replica) since the caller
 * last looked, and the caller must re-create the group first.
 * A deleted entry no pod had taken is dropped; one a pod had taken (pending) is out for delivery,
 * and the pod holding it counts it when it learns the outcome (ACK, or the retake finding it gone).
 * KEYS: stream, meta. ARGV: epoch, maxEntries, maxBytes, group, then (secret, body, size) per entry.
 * Returns { stream length, entries trimmed that no pod had taken, bytes held, pending entries trimmed }.
 */
const WRITE = `
if redis.call('HGET', KEYS[2], 'epoch') ~= ARGV[1] then return {-1, 0, 0} end
local added = 0
for i = 5, #ARGV, 3 do
  redis.call('XADD', KEYS[1], '*', 's', ARGV[i], 'b', ARGV[i + 1], 'n', ARGV[i + 2])
  added = added + tonumber(ARGV[i + 2])
end
local bytes = redis.call('HINCRBY', KEYS[2], 'bytes', added)
local len = redis.call('XLEN', KEYS[1])
local maxLen, maxBytes = tonumber(ARGV[2]), tonumber(ARGV[3])
local trimmed, trimmedPending = 0, 0
while len > 0 and (len > maxLen or bytes > maxBytes) do
  local rows = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 500)
  if #rows == 0 then break end
  for _, row in ipairs(rows) do
    if len <= maxLen and bytes <= maxBytes then break end
    local fields, size = row[2], 0
    for j = 1, #fields, 2 do
      if fields[j] == 'n' then size = tonumber(fields[j + 1]) or 0 end
    end
    if #redis.call('XPENDING', KEYS[1], ARGV[4], row[1], row[1], 1) > 0 then
      trimmedPending = trimmedPending + 1
    else
      trimmed = trimmed + 1
    end
    redis.call('XDEL', KEYS[1], row[1])
    bytes = bytes - size
    len = len - 1
  end
end
if bytes < 0 then bytes = 0 end
if trimmed + trimmedPending > 0 then redis.call('HSET', KEYS[2], 'bytes', bytes) end
return {len, trimmed, bytes, trimmedPending}
`;

/**
 * Acknowledges and deletes entries, and frees their bytes (an entry already trimmed frees nothing).
 * KEYS: stream, meta. ARGV: epoch, group, ids... Returns { stream length, ids already trimmed }
 * or { -1 } (reset, see WRITE).
 */
const ACK = `
if redis.call('HGET', KEYS[2], 'epoch') ~= ARGV[1] then return {-1} end
local freed, gone = 0, 0
for i = 3, #ARGV do
  local rows = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if #rows == 0 then
    gone = gone + 1
  else
    local fields = rows[1][2]
    for j = 1, #fields, 2 do
      if fields[j] == 'n' then freed = freed + (tonumber(fields[j + 1]) or 0) end
    end
    redis.call('XDEL', KEYS[1], ARGV[i])
  end
  redis.call('XACK', KEYS[1], ARGV[2], ARGV[i])
end
if freed > 0 and redis.call('HINCRBY', KEYS[2], 'bytes', -freed) < 0 then redis.call('HSET', KEYS[2], 'bytes', 0) end
return {redis.call('XLEN', KEYS[1]), gone}
`;

/**
 * Creates the consumer group (reading from the start of the stream) unless it exists, and the epoch
 * unless one is set. When the group existed but no epoch did (first start of this version, or the
 * meta hash was evicted), the byte count is rebuilt from the stream.
 * KEYS: stream, meta. ARGV: group, new epoch. Returns { epoch, 1 if the group existed else 0 }.
 */
const ENSURE = `
local created = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
local existed = 0
if type(created) == 'table' and created.err then
  if string.find(created.err, 'BUSYGROUP') == nil then return redis.error_reply(created.err) end
  existed = 1
end
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  epoch = ARGV[2]
  local bytes, from = 0, '-'
  while existed == 1 do
    local rows = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', 1000)
    if #rows == 0 then break end
    for _, row in ipairs(rows) do
      local fields = row[2]
      for j = 1, #fields, 2 do
        if fields[j] == 'n' then bytes = bytes + (tonumber(fields[j + 1]) or 0) end
      end
    end
    from = '(' .. rows[#rows][1]
  end
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'bytes', bytes)
end
return {epoch, existed}
`;

interface RedisToken {
  ids: string[];
  epoch: string;
}

export interface RedisQueueStats {
  /** Entries deleted by the bounds (oldest first) that no pod had taken: dropped. */
  trimmed: number;
  /** Entries deleted by the bounds while a pod had them out for delivery: that pod counts them below. */
  trimmedPending: number;
  /** This pod's pending entries found deleted when it took them again (its delivery had failed): dropped. */
  trimmedWhilePending: number;
  /** This pod's entries found deleted when it acknowledged their delivery: delivered, not dropped. */
  deliveredAfterTrim: number;
  /** Times the consumer group was re-created after the stream or group disappeared. */
  groupsRecreated: number;
  /** Entries lost with the stream when it disappeared (estimated from this pod's last view of its length). */
  lostInReset: number;
}

/**
 * A Redis stream shared by the pods (STORE=redis): any pod's forwarder delivers what any pod
 * accepted, and entries a dead pod had taken are claimed by the others after a minute. Bounded in
 * entries and bytes (oldest deleted, counted). Resumes by itself when the stream or its group
 * disappears (NOGROUP), and acknowledges pending entries that were trimmed away.
 *
 * Topologies: in a Cluster the stream and its meta hash carry one hash tag (one slot, so the scripts
 * and the consumer group work there). Across a Sentinel failover nothing written before the kill
 * and replicated is lost, and writes that fail meanwhile stay in memory and are retried; a write
 * the old master acknowledged but had not replicated (its last moments before a kill, or between
 * the promotion and its demotion) is discarded by Redis (asynchronous replication) without this
 * queue knowing. Writes do not WAIT for a replica (README, "Insights across a failover").
 */
export class RedisInsightQueue implements InsightQueue {
  private readonly logger = new Logger(RedisInsightQueue.name);
  private readonly overflow = new ThrottledLog(this.logger, 'insight stream full; oldest insights dropped');
  private readonly writeFailures = new ThrottledLog(this.logger, 'insights not yet written to redis; kept in memory and retried', 'error');
  private readonly group = 'forwarders';
  private readonly key: string;
  private readonly meta: string;
  private readonly buffer: WriteBuffer;
  private readonly bounds: QueueBounds;
  readonly durable = true;
  readonly stats: RedisQueueStats = { trimmed: 0, trimmedPending: 0, trimmedWhilePending: 0, deliveredAfterTrim: 0, groupsRecreated: 0, lostInReset: 0 };
  private epoch?: string;
  /** The epoch this pod worked in before it noticed a reset (to tell a reset from a first start). */
  private knewEpoch = false;
  /** Stream length after this pod's last write or ack. */
  private lastLength = 0;
  private out?: RedisToken;
  private ensuring?: Promise<string>;
  private lostOut = 0;

  constructor(
    private readonly redis: Redis | Cluster,
    key: string,
    private readonly consumer: string,
    bounds: number | QueueBounds,
  ) {
    // In a Cluster the stream and its meta hash must share a slot (the scripts touch both, and the
    // consumer group lives with the stream): a key without a hash tag gets one.
    this.key = redis instanceof Cluster ? hashTagged(key) : key;
    this.meta = `${this.key}:meta`;
    this.bounds = queueBounds(bounds);
    // Redis is away: the entries stay in memory (bounded) and are written again.
    this.buffer = WriteBuffer.retrying(this.bounds, (entries, sizes) => this.write(entries, sizes), this.writeFailures, this.overflow);
  }

  get dropped(): number {
    return this.buffer.dropped + this.stats.trimmed + this.stats.trimmedWhilePending + this.stats.lostInReset + this.lostOut;
  }

  push(entries: QueuedInsight[]): void {
    this.buffer.push(entries);
  }

  flush(): Promise<void> {
    return this.buffer.flush();
  }

  private async write(entries: QueuedInsight[], sizes: number[]): Promise<void> {
    const args: (string | number)[] = [this.bounds.maxEntries, this.bounds.maxBytes, this.group];
    entries.forEach((e, i) => args.push(e.secret, e.body, sizes[i] ?? 0));
    let result = await this.script<[number, number, number, number]>(WRITE, [await this.ensureGroup(), ...args]);
    if (result[0] === -1) {
      this.epoch = undefined;
      result = await this.script<[number, number, number, number]>(WRITE, [await this.ensureGroup(), ...args]);
      if (result[0] === -1) throw new Error('insight stream reset while writing');
    }
    const [length, trimmed, , trimmedPending] = result;
    this.lastLength = length;
    this.stats.trimmed += trimmed;
    this.stats.trimmedPending += trimmedPending;
    this.overflow.add(trimmed + trimmedPending, { maxEntries: this.bounds.maxEntries, maxBytes: this.bounds.maxBytes });
  }

  private script<T>(source: string, args: (string | number)[]): Promise<T> {
    return this.redis.eval(source, 2, this.key, this.meta, ...args) as Promise<T>;
  }

  /** The epoch to write in; re-creates the group (and counts what was lost) when it is gone. */
  private ensureGroup(): Promise<string> {
    if (this.epoch) return Promise.resolve(this.epoch);
    // One at a time: a reset noticed by a write and by a read at once is counted once.
    this.ensuring ??= this.createGroup().finally(() => (this.ensuring = undefined));
    return this.ensuring;
  }

  private async createGroup(): Promise<string> {
    const [epoch, existed] = (await this.redis.eval(ENSURE, 2, this.key, this.meta, this.group, randomUUID())) as [string, number];
    if (this.knewEpoch && existed === 0) {
      // The group was gone: whatever this pod last saw in the stream went with it, except a batch
      // out for delivery (acknowledged or counted when it comes back).
      const lost = Math.max(0, this.lastLength - (this.out?.ids.length ?? 0));
      this.stats.lostInReset += lost;
      this.stats.groupsRecreated++;
      this.logger.warn({ msg: 'insight stream or its consumer group disappeared (flush, eviction or failover); group re-created', lost });
    }
    this.epoch = epoch;
    this.knewEpoch = true;
    this.lastLength = 0;
    return epoch;
  }

  async take(max: number): Promise<InsightBatch | null> {
    if (this.out) return null;
    let epoch = await this.ensureGroup();
    let rows: [string, string[]][];
    try {
      rows = await this.next(max);
    } catch (error) {
      if (!String(error).includes('NOGROUP')) throw error;
      this.epoch = undefined;
      epoch = await this.ensureGroup();
      rows = await this.next(max);
    }
    if (rows.length === 0) return null;
    this.out = { ids: rows.map(([id]) => id), epoch };
    return { entries: rows.map(([, fields]) => fieldsToEntry(fields)), token: this.out };
  }

  /** Own pending entries first (a failed delivery), then stale ones of dead pods, then new ones. */
  private async next(max: number): Promise<[string, string[]][]> {
    let rows = await this.live(await this.read(max, '0'));
    if (rows.length > 0) return rows;
    const claimed = (await this.redis.xautoclaim(this.key, this.group, this.consumer, 60_000, '0-0', 'COUNT', max)) as [string, StreamEntry[], string[]?];
    // Redis 7 leaves entries deleted while pending out of the claimed ones and lists their ids third
    // (it has already removed them from the group); Redis 6.2 returns them as [id, nil].
    this.countTrimmedWhilePending(claimed[2]?.length ?? 0);
    rows = await this.live(claimed[1] ?? []);
    if (rows.length > 0) return rows;
    return this.live(await this.read(max, '>'));
  }

  private async read(max: number, from: '0' | '>'): Promise<StreamEntry[]> {
    const result = (await this.redis.xreadgroup('GROUP', this.group, this.consumer, 'COUNT', max, 'STREAMS', this.key, from)) as [string, StreamEntry[]][] | null;
    return result?.[0]?.[1] ?? [];
  }

  /** Entries with their fields; ones deleted while pending (`[id, nil]`) are acknowledged here. */
  private async live(rows: StreamEntry[]): Promise<[string, string[]][]> {
    const gone = rows.filter(([, fields]) => !Array.isArray(fields) || fields.length < 4).map(([id]) => id);
    if (gone.length > 0) {
      await this.redis.xack(this.key, this.group, ...gone);
      this.countTrimmedWhilePending(gone.length);
    }
    return rows.filter((row): row is [string, string[]] => Array.isArray(row[1]) && row[1].length >= 4);
  }

  /** Entries a failed delivery left pending that the bounds deleted meanwhile: dropped. */
  private countTrimmedWhilePending(count: number): void {
    if (count === 0) return;
    this.stats.trimmedWhilePending += count;
    this.logger.warn({ msg: 'pending insights had been trimmed from the stream; acknowledged and counted as dropped', count });
  }

  async ack(batch: InsightBatch, keep?: ReadonlySet<number>): Promise<void> {
    const token = batch.token as RedisToken;
    const ids = token.ids.filter((_, i) => !keep?.has(i));
    if (ids.length > 0 && token.epoch === this.epoch) {
      const [length, gone = 0] = await this.script<[number, number?]>(ACK, [token.epoch, this.group, ...ids]);
      // Trimmed while out for delivery, and delivered: the trim did not count them as dropped.
      this.stats.deliveredAfterTrim += gone;
      if (length === -1) {
        // The stream went away after this batch was taken: its entries are not among what was lost.
        this.epoch = undefined;
        this.lastLength = Math.max(0, this.lastLength - token.ids.length);
      } else this.lastLength = length;
    }
    // Kept entries of a stream that has since disappeared are gone with it.
    if (token.epoch !== this.epoch) this.lostOut += token.ids.length - ids.length;
    this.out = undefined;
  }

  release(batch: InsightBatch): Promise<void> {
    const token = batch.token as RedisToken;
    if (token.epoch !== this.epoch) this.lostOut += token.ids.length;
    this.out = undefined;
    return Promise.resolve();
  }

  async depth(): Promise<number> {
    return (await this.redis.xlen(this.key).catch(() => 0)) + this.buffer.length;
  }

  async bytes(): Promise<number> {
    const held = await this.redis.hget(this.meta, 'bytes').catch(() => null);
    return Number(held ?? 0) + this.buffer.bytes;
  }

  async close(): Promise<void> {
    await this.buffer.close();
    const left = this.buffer.length;
    if (left === 0) return;
    this.lostOut += left;
    this.logger.error({ msg: 'insights could not be written to redis before shutdown; dropped', count: left });
  }
}

function fieldsToEntry(fields: string[]): QueuedInsight {
  const entry: QueuedInsight = { secret: '', body: '{}' };
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 's') entry.secret = fields[i + 1]!;
    else if (fields[i] === 'b') entry.body = fields[i + 1]!;
  }
  return entry;
}
