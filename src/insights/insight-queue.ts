import { Logger } from '@nestjs/common';

/**
 * One insight waiting to be forwarded, with the env secret it came with (the ELS needs it). The
 * insight is kept serialised: its size is what the byte bounds count, and it is sent as it is.
 */
export interface QueuedInsight {
  secret: string;
  /** One insight object as JSON. */
  body: string;
}

/** A batch taken from the queue (secrets may be mixed); acknowledged once delivered or dropped for good. */
export interface InsightBatch {
  entries: QueuedInsight[];
  /** Opaque handle for ack. */
  token: unknown;
}

/** Both bounds of a queue; whichever is reached first drops the oldest entries. */
export interface QueueBounds {
  maxEntries: number;
  maxBytes: number;
}

/** A bound given as an entry count (bytes unbounded) or as both bounds. */
export function queueBounds(bounds: number | QueueBounds): QueueBounds {
  return typeof bounds === 'number' ? { maxEntries: bounds, maxBytes: Number.MAX_SAFE_INTEGER } : bounds;
}

/** Bytes an entry counts for in the byte bounds: UTF-8 bytes of its JSON and of its secret. */
export function entryBytes(entry: QueuedInsight): number {
  return Buffer.byteLength(entry.body) + Buffer.byteLength(entry.secret);
}

/**
 * The durable, bounded insight queue. `push` never blocks or fails the SDK request. Overflow
 * policy (every implementation): past `maxEntries` or `maxBytes` the OLDEST entries are dropped,
 * counted in `dropped`, and logged at most once a minute.
 */
export interface InsightQueue {
  /** True when the backlog survives a restart (SQLite, Redis); false for the in-process queue. */
  readonly durable: boolean;
  push(entries: QueuedInsight[]): void;
  /** Up to `max` insights, oldest first; null when empty. One batch is out at a time. */
  take(max: number): Promise<InsightBatch | null>;
  /**
   * Removes a delivered (or hopeless) batch. With `keep` (indices into `batch.entries`), those
   * entries stay queued, first in line; the others are removed.
   */
  ack(batch: InsightBatch, keep?: ReadonlySet<number>): Promise<void>;
  /** Makes a taken batch available again (delivery failed, will retry). */
  release(batch: InsightBatch): Promise<void>;
  depth(): Promise<number>;
  /** Bytes held (as counted by the bounds), in this process and, for Redis, in the stream. */
  bytes(): Promise<number>;
  /** Entries dropped: overflow (oldest first), trimmed, or lost. Monotonic. */
  readonly dropped: number;
  /** Writes anything buffered in memory to the backend (shutdown). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export const INSIGHT_QUEUE = Symbol('INSIGHT_QUEUE');

/** A log line for something that may happen per event, written at most once per interval with the count since the last one. */
export class ThrottledLog {
  private pending = 0;
  private last = 0;

  constructor(
    private readonly logger: Logger,
    private readonly msg: string,
    private readonly level: 'warn' | 'error' = 'warn',
    private readonly intervalMs = 60_000,
  ) {}

  add(count: number, detail: Record<string, unknown> = {}): void {
    if (count <= 0) return;
    this.pending += count;
    const now = Date.now();
    if (now - this.last < this.intervalMs) return;
    this.last = now;
    this.logger[this.level]({ msg: this.msg, count: this.pending, ...detail });
    this.pending = 0;
  }
}
