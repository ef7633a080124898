/** One insight waiting to be forwarded, with the env secret it came with (the ELS needs it). */
export interface QueuedInsight {
  secret: string;
  insight: Record<string, unknown>;
}

/** A batch taken from the queue (secrets may be mixed); acknowledged once delivered or dropped for good. */
export interface InsightBatch {
  entries: QueuedInsight[];
  /** Opaque handle for ack. */
  token: unknown;
}

/**
 * The durable, bounded insight queue. `push` never blocks or fails the SDK request: when the
 * queue is full, the oldest entries are dropped and counted.
 */
export interface InsightQueue {
  push(entries: QueuedInsight[]): void;
  /** Up to `max` insights, oldest first; null when empty. One batch is out at a time. */
  take(max: number): Promise<InsightBatch | null>;
  /** Removes a delivered (or hopeless) batch. */
  ack(batch: InsightBatch): Promise<void>;
  /** Makes a taken batch available again (delivery failed, will retry). */
  release(batch: InsightBatch): Promise<void>;
  depth(): Promise<number>;
  readonly dropped: number;
  /** Writes anything buffered in memory to the backend (shutdown). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export const INSIGHT_QUEUE = Symbol('INSIGHT_QUEUE');
