import { Address6 } from 'ip-address';
import { isIPv6 } from 'node:net';
import type { Duplex } from 'node:stream';
import { OldestFirst } from './oldest-first.js';

/** Clients whose buckets are kept; past it the least recently seen is forgotten (a full bucket again). */
const MAX_CLIENTS = 20_000;

/**
 * Token buckets per client: a bucket holds up to `burst` tokens and refills at `perSecond`, so a
 * client may take `burst` at once and then `perSecond` on average, spread evenly (a fixed window
 * would let it spend a whole window's budget back to back, at full CPU, at every window start).
 * Used by the HTTP rate limit (RATE_LIMIT_PER_SECOND, RATE_LIMIT_BURST), the WebSocket upgrade
 * limit (WS_UPGRADES_PER_SECOND, WS_UPGRADE_BURST) and the refusal budget of {@link Tarpit}.
 * Plain code, time passed in.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly oldest = new OldestFirst(this.buckets);

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {}

  /**
   * Takes `cost` tokens (at most the burst) for `client` at `now` (ms): 0 when they were there,
   * else the milliseconds until they will be (nothing is taken then).
   */
  take(client: string, now: number, cost = 1): number {
    const need = Math.min(cost, this.burst);
    let bucket = this.buckets.get(client);
    if (bucket === undefined) {
      while (this.buckets.size >= MAX_CLIENTS) this.oldest.evict();
      bucket = { tokens: this.burst, at: now };
    } else {
      // Re-inserted: the map's order is least recently seen first, which is what eviction takes.
      this.buckets.delete(client);
      bucket.tokens = Math.min(this.burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * this.perSecond);
      bucket.at = now;
    }
    this.buckets.set(client, bucket);
    if (bucket.tokens >= need) {
      bucket.tokens -= need;
      return 0;
    }
    return Math.max(1, Math.ceil(((need - bucket.tokens) / this.perSecond) * 1000));
  }

  get clients(): number {
    return this.buckets.size;
  }
}

/**
 * The bucket key of a client address: IPv4 as is (an IPv4-mapped IPv6 address as its IPv4
 * address), IPv6 by its /64, the least any client owns, so one host cannot take fresh buckets by
 * cycling its own addresses.
 */
export function clientBucketOf(address: string): string {
  if (!isIPv6(address)) return address;
  try {
    const parsed = new Address6(address);
    if (parsed.isMapped4()) return parsed.to4().correctForm();
    return new Address6(`${address}/64`).startAddress().correctForm();
  } catch {
    return address;
  }
}

/**
 * How long a refusal waits before it is answered, per client address: a client refused within its
 * budget (REFUSALS_PER_SECOND, a burst of REFUSAL_BURST; 10 and 20 by default) is answered at once, a misconfigured SDK
 * learns its mistake without delay; past it each refusal is held about HOLD_MS with its connection
 * paused (nothing read), so a client looping on refused requests gets one answer per connection a
 * second instead of one per round trip. Every refusal of a flood otherwise costs a connection, a
 * parse and an answer: a few thousand a second, each a fraction of a millisecond, was most of a
 * core. The hold is jittered (half to one and a half HOLD_MS): refusals held together and
 * released together would bring their clients back together, and the tokens their buckets
 * gathered meanwhile would be spent in one block of work (40-50 ms blocks a second, measured,
 * delaying every other client's request that arrived during them).
 */
export class Tarpit {
  static readonly HOLD_MS = 1000;
  private readonly budget?: TokenBuckets;
  /** Refusals held (monotonic). */
  held = 0;

  /** `perSecond` 0: no hold, every refusal is answered at once. */
  constructor(perSecond = 10, burst = 20) {
    if (perSecond > 0) this.budget = new TokenBuckets(perSecond, burst);
  }

  /** 0 to answer now, else the milliseconds to hold the answer. */
  delayFor(address: string, now = Date.now()): number {
    if (this.budget === undefined || this.budget.take(clientBucketOf(address), now) === 0) return 0;
    this.held++;
    return Math.round(Tarpit.HOLD_MS * (0.5 + Math.random()));
  }

  /**
   * Runs `answer` for a refusal of `address` on `socket`: at once within the budget, else after
   * the hold with the socket paused (nothing read meanwhile; a socket closed meanwhile gets
   * nothing). `resume` reads on after a held answer: a kept-alive HTTP connection.
   */
  answer(address: string, socket: Duplex, answer: () => void, resume = false): void {
    const delay = this.delayFor(address);
    if (delay === 0) return answer();
    socket.pause();
    const forget = () => clearTimeout(timer);
    const timer = setTimeout(() => {
      socket.off('close', forget);
      if (socket.destroyed) return;
      answer();
      if (resume) socket.resume();
    }, delay);
    timer.unref();
    socket.once('close', forget);
  }
}
