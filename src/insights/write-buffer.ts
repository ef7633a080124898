import { entryBytes, type QueueBounds, type QueuedInsight, type ThrottledLog } from './insight-queue.js';
import { errorDetail } from '../common/error-detail.js';

/**
 * Intake side of the persistent queues: SDK requests append here and return at once; `write`
 * persists the buffered entries shortly after, in one go. Bounded in entries and bytes like the
 * queue it feeds (oldest dropped, counted); entries whose write failed come back here.
 */
export class WriteBuffer {
  private entries: QueuedInsight[] = [];
  private sizes: number[] = [];
  private held = 0;
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;
  dropped = 0;

  constructor(
    private readonly bounds: QueueBounds,
    private readonly write: (entries: QueuedInsight[], sizes: number[]) => Promise<void>,
    private readonly onFailure: (entries: QueuedInsight[], sizes: number[], error: unknown) => void,
    private readonly onDrop: (count: number) => void = () => undefined,
    private readonly delayMs = 20,
  ) {}

  /**
   * A buffer whose failed writes (the backend is away, the disk full) are logged, throttled, and go
   * back to its front to be written again a second later; drops past its bounds are logged too.
   */
  static retrying(
    bounds: QueueBounds,
    write: (entries: QueuedInsight[], sizes: number[]) => Promise<void>,
    failures: ThrottledLog,
    overflow: ThrottledLog,
  ): WriteBuffer {
    const buffer: WriteBuffer = new WriteBuffer(
      bounds,
      write,
      (entries, sizes, error) => {
        failures.add(entries.length, { ...errorDetail(error) });
        buffer.unshift(entries, sizes, 1000);
      },
      (count) => overflow.add(count),
    );
    return buffer;
  }

  get length(): number {
    return this.entries.length;
  }

  get bytes(): number {
    return this.held;
  }

  push(entries: QueuedInsight[]): void {
    for (const entry of entries) {
      const size = entryBytes(entry);
      this.entries.push(entry);
      this.sizes.push(size);
      this.held += size;
    }
    this.bound();
    this.schedule(this.delayMs);
  }

  /** Puts entries back at the front (a failed write that will be retried), within the bounds. */
  unshift(entries: QueuedInsight[], sizes: number[], retryMs: number): void {
    this.entries = [...entries, ...this.entries];
    this.sizes = [...sizes, ...this.sizes];
    for (const size of sizes) this.held += size;
    this.bound();
    if (!this.closed) this.schedule(retryMs);
  }

  flush(): Promise<void> {
    const entries = this.entries;
    const sizes = this.sizes;
    this.entries = [];
    this.sizes = [];
    this.held = 0;
    if (entries.length === 0) return this.writing;
    this.writing = this.writing.then(() => this.write(entries, sizes)).catch((error: unknown) => this.onFailure(entries, sizes, error));
    return this.writing;
  }

  /** Waits for writes in flight. */
  settled(): Promise<void> {
    return this.writing;
  }

  /** Flushes once more; what still cannot be written stays here (see `length`) and is not retried. */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private bound(): void {
    const length = this.entries.length;
    let over = 0;
    while (over < length && (length - over > this.bounds.maxEntries || this.held > this.bounds.maxBytes)) this.held -= this.sizes[over++] ?? 0;
    if (over > 0) {
      this.entries.splice(0, over);
      this.sizes.splice(0, over);
      this.dropped += over;
      this.onDrop(over);
    }
  }

  private schedule(ms: number): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, ms);
  }
}
