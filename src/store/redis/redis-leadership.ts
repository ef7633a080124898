import { errorDetail } from '../../common/error-detail.js';
import { Logger } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';
import type { Leadership } from '../leadership.js';

/**
 * Takes a free lease and gives it a fencing token: `<id>#<n>`, n from a counter that only grows.
 * KEYS: lease, counter. ARGV: id, lease ms.
 */
const ACQUIRE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = ARGV[1] .. '#' .. redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return token`;

/** Extends the lease only while this token still holds it. */
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
 * Leader election with a fenced lease in Redis. The holder renews it every third of the lease;
 * when it dies, another process takes over within one lease period. A holder that cannot renew
 * (Redis hung, unreachable or partitioned from this pod) steps down on its own before the lease
 * can expire (at 80 % of it, counted from when the last successful renewal was sent), so two
 * pods never both believe they lead. Every write a leader makes carries its token; the store's
 * scripts refuse a token that no longer holds the lease.
 */
export class RedisLeaseLeadership implements Leadership {
  private readonly logger = new Logger(RedisLeaseLeadership.name);
  private readonly listeners = new Set<(leader: boolean) => void>();
  private held: string | null = null;
  private timer?: NodeJS.Timeout;
  private deadline?: NodeJS.Timeout;
  private inFlight = false;
  private stopped = false;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly key: string,
    private readonly counterKey: string,
    private readonly id: string,
    private readonly leaseMs: number,
  ) {}

  get isLeader(): boolean {
    return this.held !== null;
  }

  /** The fencing token of the lease this process holds, or null while following. */
  get token(): string | null {
    return this.held;
  }

  onChange(listener: (leader: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.timer) return;
    this.stopped = false;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), Math.max(50, Math.floor(this.leaseMs / 3)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    const token = this.held;
    if (token !== null) {
      this.stepDown('stopping');
      await this.redis.eval(RELEASE, 1, this.key, token).catch(() => undefined);
    }
  }

  /** A store script refused this token: another pod holds the lease now. */
  lost(token: string): void {
    if (this.held === token) this.stepDown('a write was refused: another pod holds the lease');
  }

  private async tick(): Promise<void> {
    if (this.inFlight || this.stopped) return;
    this.inFlight = true;
    const sentAt = Date.now();
    try {
      const token = this.held;
      if (token !== null) {
        const renewed = await this.redis.eval(RENEW, 1, this.key, token, String(this.leaseMs));
        if (this.held !== token) return;
        if (renewed === 1) this.armDeadline(sentAt);
        else this.stepDown('the lease was lost');
      } else {
        const taken = (await this.redis.eval(ACQUIRE, 2, this.key, this.counterKey, this.id, String(this.leaseMs))) as string | null;
        if (typeof taken === 'string' && !this.stopped) {
          this.armDeadline(sentAt);
          this.set(taken);
        }
      }
    } catch (error) {
      this.logger.debug({ msg: 'leader lease check failed', ...errorDetail(error) });
    } finally {
      this.inFlight = false;
    }
  }

  /** Steps down at 80 % of the lease after `sentAt` unless a renewal succeeds first. */
  private armDeadline(sentAt: number): void {
    clearTimeout(this.deadline);
    const at = sentAt + Math.floor(this.leaseMs * 0.8);
    this.deadline = setTimeout(() => this.stepDown('the lease could not be renewed before it expires'), Math.max(0, at - Date.now()));
    this.deadline.unref();
  }

  private stepDown(why: string): void {
    clearTimeout(this.deadline);
    if (this.held === null) return;
    if (why !== 'stopping') this.logger.warn({ msg: 'stepping down as cluster leader', why, id: this.id });
    this.set(null);
  }

  private set(token: string | null): void {
    const was = this.held !== null;
    this.held = token;
    if (was === (token !== null)) return;
    this.logger.log({ msg: token !== null ? 'this agent leads the cluster: it syncs with FeatBit' : 'this agent follows the cluster leader', id: this.id });
    for (const listener of this.listeners) listener(token !== null);
  }
}
