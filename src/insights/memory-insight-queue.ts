import { Logger } from '@nestjs/common';
import { entryBytes, queueBounds, ThrottledLog, type InsightBatch, type InsightQueue, type QueueBounds, type QueuedInsight } from './insight-queue.js';

interface Slot {
  seq: number;
  entry: QueuedInsight;
  size: number;
}

/** In-process queue (STORE=memory): bounded in entries and bytes, oldest dropped first; lost on restart. */
export class MemoryInsightQueue implements InsightQueue {
  private readonly logger = new Logger(MemoryInsightQueue.name);
  private readonly overflow = new ThrottledLog(this.logger, 'insight queue full; oldest insights dropped');
  readonly durable = false;
  private slots: Slot[] = [];
  /** Slots before this index are gone (delivered or dropped). */
  private head = 0;
  private seq = 0;
  private held = 0;
  private out = false;
  dropped = 0;
  private readonly bounds: QueueBounds;

  constructor(bounds: number | QueueBounds) {
    this.bounds = queueBounds(bounds);
  }

  push(entries: QueuedInsight[]): void {
    for (const entry of entries) {
      const size = entryBytes(entry);
      this.slots.push({ seq: ++this.seq, entry, size });
      this.held += size;
    }
    let over = 0;
    while (this.head < this.slots.length && (this.slots.length - this.head > this.bounds.maxEntries || this.held > this.bounds.maxBytes)) {
      const slot = this.slots[this.head]!;
      this.slots[this.head++] = undefined as unknown as Slot;
      this.held -= slot.size;
      over++;
    }
    if (over > 0) {
      this.dropped += over;
      this.overflow.add(over, { maxEntries: this.bounds.maxEntries, maxBytes: this.bounds.maxBytes });
    }
    this.compact();
  }

  take(max: number): Promise<InsightBatch | null> {
    if (this.out || this.head >= this.slots.length) return Promise.resolve(null);
    this.out = true;
    const slots = this.slots.slice(this.head, this.head + max);
    return Promise.resolve({ entries: slots.map((s) => s.entry), token: slots.map((s) => s.seq) });
  }

  ack(batch: InsightBatch, keep?: ReadonlySet<number>): Promise<void> {
    // Drops while the batch was out may already have removed part of it: match by sequence number.
    const seqs = batch.token as number[];
    const kept = new Set<number>();
    for (const index of keep ?? []) if (seqs[index] !== undefined) kept.add(seqs[index]);
    const last = seqs[seqs.length - 1] ?? 0;
    const front: Slot[] = [];
    let i = this.head;
    for (; i < this.slots.length && this.slots[i]!.seq <= last; i++) {
      const slot = this.slots[i]!;
      if (kept.has(slot.seq)) front.push(slot);
      else this.held -= slot.size;
      this.slots[i] = undefined as unknown as Slot;
    }
    // Kept entries go back just before the first untouched one, in their order.
    this.head = i - front.length;
    for (let k = 0; k < front.length; k++) this.slots[this.head + k] = front[k]!;
    this.out = false;
    this.compact();
    return Promise.resolve();
  }

  release(): Promise<void> {
    this.out = false;
    return Promise.resolve();
  }

  depth(): Promise<number> {
    return Promise.resolve(this.slots.length - this.head);
  }

  bytes(): Promise<number> {
    return Promise.resolve(this.held);
  }

  /** Entries still queued; counted as dropped when the process ends with them (the queue is not durable). */
  abandon(): number {
    const left = this.slots.length - this.head;
    this.dropped += left;
    this.slots = [];
    this.head = 0;
    this.held = 0;
    return left;
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private compact(): void {
    if (this.out || this.head < 4096 || this.head * 2 < this.slots.length) return;
    this.slots = this.slots.slice(this.head);
    this.head = 0;
  }
}
