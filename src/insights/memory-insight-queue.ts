import type { InsightBatch, InsightQueue, QueuedInsight } from './insight-queue.js';

/** In-process queue (STORE=memory): bounded, oldest dropped first; lost on restart. */
export class MemoryInsightQueue implements InsightQueue {
  private entries: QueuedInsight[] = [];
  /** Entries before this index are gone (delivered or dropped). */
  private head = 0;
  private out = false;
  dropped = 0;

  constructor(private readonly max: number) {}

  push(entries: QueuedInsight[]): void {
    for (const entry of entries) this.entries.push(entry);
    const over = this.entries.length - this.head - this.max;
    if (over > 0) {
      this.head += over;
      this.dropped += over;
    }
    this.compact();
  }

  take(max: number): Promise<InsightBatch | null> {
    if (this.out || this.head >= this.entries.length) return Promise.resolve(null);
    this.out = true;
    const entries = this.entries.slice(this.head, this.head + max);
    return Promise.resolve({ entries, token: entries });
  }

  ack(batch: InsightBatch): Promise<void> {
    // Drops while the batch was out may already have moved past part of it.
    const first = batch.entries[0];
    const at = first ? this.entries.indexOf(first, this.head) : -1;
    if (at === this.head) this.head += batch.entries.length;
    else if (at > this.head) this.head = at + batch.entries.length;
    this.out = false;
    this.compact();
    return Promise.resolve();
  }

  release(): Promise<void> {
    this.out = false;
    return Promise.resolve();
  }

  depth(): Promise<number> {
    return Promise.resolve(this.entries.length - this.head);
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private compact(): void {
    if (this.out || this.head < 4096 || this.head * 2 < this.entries.length) return;
    this.entries = this.entries.slice(this.head);
    this.head = 0;
  }
}
