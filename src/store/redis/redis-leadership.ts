import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { Leadership } from '../leadership.js';

/** Extends the lease only while this process still holds it. */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/**
 * Leader election with a lease in Redis: the holder renews it every third of the lease; when it
 * dies, another process takes over within one lease period. While Redis is unreachable nobody
 * can take the lease, so the current leader keeps leading.
 */
export class RedisLeaseLeadership implements Leadership {
  private readonly logger = new Logger(RedisLeaseLeadership.name);
  private readonly listeners = new Set<(leader: boolean) => void>();
  private leader = false;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly id: string,
    private readonly leaseMs: number,
  ) {}

  get isLeader(): boolean {
    return this.leader;
  }

  onChange(listener: (leader: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.timer) return;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), Math.max(50, Math.floor(this.leaseMs / 3)));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.leader) {
      await this.redis.eval(RELEASE, 1, this.key, this.id).catch(() => undefined);
      this.set(false);
    }
  }

  private async tick(): Promise<void> {
    try {
      if (this.leader) {
        const renewed = await this.redis.eval(RENEW, 1, this.key, this.id, String(this.leaseMs));
        if (renewed !== 1) this.set(false);
      } else {
        const taken = await this.redis.set(this.key, this.id, 'PX', this.leaseMs, 'NX');
        if (taken === 'OK') this.set(true);
      }
    } catch (error) {
      this.logger.debug({ msg: 'leader lease check failed', err: String(error) });
    }
  }

  private set(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.logger.log({ msg: leader ? 'this agent leads the cluster: it syncs with FeatBit' : 'this agent follows the cluster leader', id: this.id });
    for (const listener of this.listeners) listener(leader);
  }
}
