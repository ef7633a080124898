import { OldestFirst } from '../common/oldest-first.js';

/** Clients (addresses) whose buckets are kept; past it the oldest is forgotten (a full bucket again). */
const MAX_CLIENTS = 20_000;

/**
 * Token buckets of WebSocket upgrades per client address (WS_UPGRADES_PER_SECOND,
 * WS_UPGRADE_BURST): a bucket holds up to `burst` upgrades and refills at `perSecond`. Plain
 * code, time passed in.
 */
export class UpgradeLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly oldest = new OldestFirst(this.buckets);

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {}

  /** Takes one upgrade for `client` at `now` (ms): 0 when allowed, else whole seconds to wait. */
  take(client: string, now: number): number {
    let bucket = this.buckets.get(client);
    if (bucket === undefined) {
      while (this.buckets.size >= MAX_CLIENTS) this.oldest.evict();
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(client, bucket);
    } else {
      bucket.tokens = Math.min(this.burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * this.perSecond);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.perSecond));
  }

  get clients(): number {
    return this.buckets.size;
  }
}
