import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { InsightBatch, InsightQueue, QueuedInsight } from './insight-queue.js';
import { WriteBuffer } from './write-buffer.js';

type StreamEntries = [string, string[]][];

/**
 * A Redis stream shared by the pods (STORE=redis): any pod's forwarder delivers what any pod
 * accepted, and entries a dead pod had taken are claimed by the others after a minute.
 */
export class RedisInsightQueue implements InsightQueue {
  private readonly logger = new Logger(RedisInsightQueue.name);
  private readonly group = 'forwarders';
  private readonly buffer: WriteBuffer;
  private groupReady = false;
  private out = false;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly consumer: string,
    private readonly max: number,
  ) {
    this.buffer = new WriteBuffer(max, (entries) => this.write(entries), (entries, error) => {
      // Redis is away: keep the entries in memory (bounded) and try again.
      this.logger.debug({ msg: 'insights not yet written to redis; kept in memory', err: String(error) });
      this.buffer.unshift(entries, 1000);
    });
  }

  get dropped(): number {
    return this.buffer.dropped;
  }

  push(entries: QueuedInsight[]): void {
    this.buffer.push(entries);
  }

  flush(): Promise<void> {
    return this.buffer.flush();
  }

  private async write(entries: QueuedInsight[]): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const e of entries) pipeline.xadd(this.key, 'MAXLEN', '~', String(this.max), '*', 's', e.secret, 'b', JSON.stringify(e.insight));
    const results = await pipeline.exec();
    const failed = results?.find(([error]) => error);
    if (failed?.[0]) throw failed[0];
  }

  private async ensureGroup(): Promise<void> {
    if (this.groupReady) return;
    try {
      await this.redis.xgroup('CREATE', this.key, this.group, '0', 'MKSTREAM');
    } catch (error) {
      if (!String(error).includes('BUSYGROUP')) throw error;
    }
    this.groupReady = true;
  }

  async take(max: number): Promise<InsightBatch | null> {
    if (this.out) return null;
    await this.ensureGroup();
    // Own pending entries first (a failed delivery), then stale ones of dead pods, then new ones.
    let rows = await this.read(max, '0');
    if (rows.length === 0) {
      const claimed = (await this.redis.xautoclaim(this.key, this.group, this.consumer, 60_000, '0-0', 'COUNT', max)) as [string, StreamEntries];
      rows = claimed[1] ?? [];
    }
    if (rows.length === 0) rows = await this.read(max, '>');
    if (rows.length === 0) return null;
    this.out = true;
    return {
      entries: rows.map(([, fields]) => ({ secret: fields[1] ?? '', insight: JSON.parse(fields[3] ?? '{}') as Record<string, unknown> })),
      token: rows.map(([id]) => id),
    };
  }

  private async read(max: number, from: '0' | '>'): Promise<StreamEntries> {
    const result = (await this.redis.xreadgroup('GROUP', this.group, this.consumer, 'COUNT', max, 'STREAMS', this.key, from)) as [string, StreamEntries][] | null;
    return (result?.[0]?.[1] ?? []).filter(([, fields]) => fields.length >= 4);
  }

  async ack(batch: InsightBatch): Promise<void> {
    const ids = batch.token as string[];
    if (ids.length > 0) await this.redis.pipeline().xack(this.key, this.group, ...ids).xdel(this.key, ...ids).exec();
    this.out = false;
  }

  release(): Promise<void> {
    this.out = false;
    return Promise.resolve();
  }

  async depth(): Promise<number> {
    return (await this.redis.xlen(this.key).catch(() => 0)) + this.buffer.length;
  }

  close(): Promise<void> {
    return this.buffer.close();
  }
}
